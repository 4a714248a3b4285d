// Load time of weights files. Baseline: reading the same file's bytes into memory with one
// ifstream read, which is the floor for any reader that copies (the .pth reader must; the
// safetensors reader maps instead).
//
// Files: the golden tiny model in both formats; $VISTA_BENCH_CHECKPOINT (any .pth or
// .safetensors, e.g. the 0.8 GB base model) when set; with VISTA_BENCH_SYNTHETIC_BASE=1, a .pth
// and a .safetensors with the base model's 488 names and shapes (golden/base_keys.json) filled
// with random fp32, written to the temp directory first (0.8 GB each; removed afterwards).
#include <benchmark/benchmark.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "encoder/checkpoint/checkpoint.h"

namespace {

std::filesystem::path golden_dir() {
  if (const char* env = std::getenv("VISTA_GOLDEN_DIR"); env && *env) return env;
  return VISTA_DEFAULT_GOLDEN_DIR;
}

void BM_RawRead(benchmark::State& state, std::filesystem::path file) {
  const auto size = std::filesystem::file_size(file);
  for (auto _ : state) {
    std::unique_ptr<char[]> bytes(new char[size]);  // uninitialised, as the readers' buffers
    std::ifstream in(file, std::ios::binary);
    in.read(bytes.get(), static_cast<std::streamsize>(size));
    benchmark::DoNotOptimize(bytes.get());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
}

void BM_ReadCheckpoint(benchmark::State& state, std::filesystem::path file) {
  const auto size = std::filesystem::file_size(file);
  for (auto _ : state) {
    auto checkpoint = vista::encoder::read_checkpoint(file);
    if (!checkpoint.is_ok()) {
      state.SkipWithError(checkpoint.status().to_string().c_str());
      break;
    }
    benchmark::DoNotOptimize(checkpoint->parameter_count());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
}

std::string le(uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  return s;
}

// Writes base-shaped files the way torch.save and safetensors lay them out: one storage per
// tensor, except the per-block rope buffers, which share the top-level rope storages as in the
// published checkpoint.
void write_synthetic_base(const std::filesystem::path& pth, const std::filesystem::path& st) {
  std::ifstream in(golden_dir() / "base_keys.json");
  auto keys = nlohmann::ordered_json::parse(in);
  auto pickle_str = [](const std::string& v) { return "X" + le(v.size(), 4) + v; };
  auto pickle_int = [](int64_t v) { return "\x8a\x08" + le(static_cast<uint64_t>(v), 8); };
  const std::string ordered_dict = "ccollections\nOrderedDict\n)R";
  std::string pickle = "\x80\x02" + ordered_dict + "(";
  std::vector<std::pair<std::string, torch::Tensor>> storages;  // key -> data
  std::map<std::string, std::string> rope_keys;
  std::map<std::string, torch::Tensor> by_name;
  torch::manual_seed(0);
  for (const auto& [name, spec] : keys.items()) {
    const auto shape = spec[0].get<std::vector<int64_t>>();
    torch::Tensor t = torch::randn(shape);
    std::string key;
    const std::string leaf = name.substr(name.rfind('.') + 1);
    if (name.find(".attn.rope.") != std::string::npos && rope_keys.count(leaf)) {
      key = rope_keys[leaf];
      t = storages[std::stoul(key)].second;
    } else {
      key = std::to_string(storages.size());
      storages.emplace_back(key, t);
      if (name.rfind("model_visual.visual.rope.", 0) == 0) rope_keys[leaf] = key;
    }
    by_name[name] = t;
    pickle += pickle_str(name) + "ctorch._utils\n_rebuild_tensor_v2\n((" + pickle_str("storage") +
              "ctorch\nFloatStorage\n" + pickle_str(key) + pickle_str("cpu") +
              pickle_int(t.numel()) + "tQ" + pickle_int(0) + "(";
    for (auto d : t.sizes()) pickle += pickle_int(d);
    pickle += "t(";
    for (auto d : t.strides()) pickle += pickle_int(d);
    pickle += "t\x89" + ordered_dict + "tR";
  }
  pickle += "u.";
  {
    caffe2::serialize::PyTorchStreamWriter writer(pth.string());
    writer.writeRecord("data.pkl", pickle.data(), pickle.size());
    for (const auto& [key, t] : storages) {
      writer.writeRecord("data/" + key, t.data_ptr(), t.numel() * sizeof(float));
    }
    writer.writeEndOfFile();
  }
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  uint64_t offset = 0;
  for (const auto& [name, t] : by_name) {
    const uint64_t n = t.numel() * sizeof(float);
    header[name] = {
        {"dtype", "F32"}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');
  std::ofstream out(st, std::ios::binary);
  out << le(h.size(), 8) << h;
  for (const auto& [name, t] : by_name) {
    out.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.numel() * 4));
  }
}

void register_file(const std::string& label, const std::filesystem::path& file) {
  if (!std::filesystem::exists(file)) return;
  benchmark::RegisterBenchmark(("BM_RawRead/" + label).c_str(), BM_RawRead, file)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark(("BM_ReadCheckpoint/" + label).c_str(), BM_ReadCheckpoint, file)
      ->Unit(benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) {
  register_file("tiny_pth", golden_dir() / "tiny-model" / "Visualized_tiny.pth");
  register_file("tiny_safetensors", golden_dir() / "tiny-model" / "model.safetensors");
  if (const char* extra = std::getenv("VISTA_BENCH_CHECKPOINT"); extra && *extra) {
    register_file(std::filesystem::path(extra).filename().string(), extra);
  }
  std::filesystem::path synthetic_dir;
  if (const char* synth = std::getenv("VISTA_BENCH_SYNTHETIC_BASE"); synth && *synth == '1') {
    synthetic_dir = std::filesystem::temp_directory_path() / "vista-checkpoint-bench";
    std::filesystem::create_directories(synthetic_dir);
    write_synthetic_base(synthetic_dir / "base.pth", synthetic_dir / "base.safetensors");
    // Both readers must agree before their speed means anything.
    auto pth = vista::encoder::read_checkpoint(synthetic_dir / "base.pth");
    auto st = vista::encoder::read_checkpoint(synthetic_dir / "base.safetensors");
    if (!pth.is_ok() || !st.is_ok() || pth->size() != st->size()) {
      std::fprintf(stderr, "synthetic base files do not read back\n");
      return 1;
    }
    for (const auto& [name, t] : pth->tensors()) {
      const torch::Tensor* other = st->find(name);
      if (!other || !torch::equal(t, *other)) {
        std::fprintf(stderr, "synthetic base files differ at %s\n", name.c_str());
        return 1;
      }
    }
    std::fprintf(stderr,
                 "synthetic base: %zu tensors, %lld parameters, identical in both formats\n",
                 pth->size(), static_cast<long long>(pth->parameter_count()));
    register_file("synthetic_base_pth", synthetic_dir / "base.pth");
    register_file("synthetic_base_safetensors", synthetic_dir / "base.safetensors");
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (!synthetic_dir.empty()) std::filesystem::remove_all(synthetic_dir);
  return 0;
}
