// `vista bench encoder`: how fast the encoder turns images, image+text pairs and short texts into
// vectors on this machine, against what the hardware allows and against plain libtorch.
//
// In one run: the GEMM peak of the chosen dtype (oneDNN, the path the encoder uses) and of plain
// libtorch; the encoder in the chosen mode; the same network in eager mode (the reference's op
// sequence through libtorch's default kernels) as the baseline; the cosine between the two
// modes' vectors. Random base-size weights (`--random base`) give the real model's arithmetic
// without the published checkpoint.
#include <ATen/Parallel.h>
#include <sys/resource.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/bench_commands.h"
#include "cli/command.h"
#include "cli/engine_args.h"
#include "cli/device_option.h"
#include "common/cpu_time.h"
#include "common/logging.h"
#include "encoder/model/compute_info.h"
#include "encoder/model/encoder.h"
#include "encoder/model/flop_count.h"
#include "encoder/model/layers.h"
#include "encoder/model/model_config.h"
#include "encoder/model/onednn.h"
#include "encoder/model/random_model.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using vista::Result;
using vista::Status;
using vista::process_cpu_seconds;
using vista::encoder::ComputeMode;
using vista::encoder::EncodeInput;
using vista::encoder::Encoder;
using vista::encoder::EncoderOptions;
using Clock = std::chrono::steady_clock;

// Whole English words in BERT's vocabulary (and in the stand-in vocabulary of random models), so
// the piece counts below hold for both.
constexpr const char* kPromptText = "a photo of a red dragon flying over the mountains at sunset near the sea";
constexpr int64_t kPromptTokens = 16;  // 14 words + [CLS] + [SEP]
constexpr const char* kShortText = "a red dragon flying over the old city";
constexpr int64_t kShortTokens = 10;  // 8 words + [CLS] + [SEP]

struct Options {
  std::string model;
  std::string random;
  std::string random_model_dir;
  std::string dtype = "auto";
  std::string device = "cpu";
  int threads = 0;
  int batch = 1;
  double min_seconds = 2.0;
  bool no_baseline = false;
  bool json_output = false;
  std::string work_dir;
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

// One product of the encoder's typical shape (512 tokens by 768 -> 3072, a BERT feed-forward
// layer), repeated for about `seconds`; returns GFLOP/s. `path` is "onednn" (the encoder's
// kernels, `bf16` selecting AMX/AVX512-BF16) or "libtorch" (torch::linear, what eager runs; on a
// CUDA device, cuBLAS in `dtype`, the encoder's device path). A GPU product is 256 times larger
// (131072 rows) so that it measures the card rather than launch latency.
double gemm_gflops(const std::string& path, torch::ScalarType dtype, const torch::Device& device,
                   double seconds) {
  c10::InferenceMode guard;
  torch::manual_seed(7);
  const int64_t m = device.is_cuda() ? 512 * 256 : 512, k = 768, n = 3072;
  // oneDNN takes fp32 operands and converts them itself.
  const auto on =
      torch::TensorOptions().device(device).dtype(path == "onednn" ? torch::kFloat32 : dtype);
  auto x = torch::randn({m, k}).to(on);
  auto w = (torch::randn({n, k}) * 0.02).to(on);
  auto b = torch::zeros({n}, on);
  std::function<void()> run;
  std::unique_ptr<vista::encoder::onednn::PackedLinear> packed;
  torch::Tensor y;
  if (path == "onednn") {
    packed = std::make_unique<vista::encoder::onednn::PackedLinear>(w, b, dtype == torch::kBFloat16);
    run = [&] { packed->forward(x); };
  } else {
    run = [&] { y = torch::linear(x, w, b); };
  }
  // Waits for the device (reading one element back); a no-op wait on the CPU.
  auto finish = [&] {
    if (y.defined()) y.select(0, 0).select(0, 0).item<float>();
  };
  run();  // kernel creation and first-touch
  finish();
  int64_t calls = 0;
  const auto start = Clock::now();
  do {
    run();
    ++calls;
    if (calls % 8 == 0) finish();
  } while (seconds_since(start) < seconds);
  finish();
  return 2.0 * m * k * n * static_cast<double>(calls) / seconds_since(start) / 1e9;
}

struct Case {
  std::string name;
  double flops_per_item = 0;
  std::vector<EncodeInput> inputs;  // one call's batch
};

struct Timing {
  double ms_per_item = 0;
  double items_per_second = 0;
  double gflops = 0;
  double cpu_ms_per_item = 0;
  int64_t calls = 0;
  std::vector<std::vector<float>> vectors;  // of the last call
};

// One untimed warm-up call (oneDNN builds its kernels on first use), then calls until at least
// `min_seconds` have passed.
Result<Timing> time_case(const Encoder& encoder, const Case& c, double min_seconds) {
  VISTA_RETURN_IF_ERROR(encoder.encode(c.inputs).status());
  Timing t;
  const double cpu_start = process_cpu_seconds();
  const auto start = Clock::now();
  std::vector<vista::encoder::EncodeOutput> last;
  do {
    VISTA_ASSIGN_OR_RETURN(last, encoder.encode(c.inputs));
    ++t.calls;
  } while (seconds_since(start) < min_seconds);
  const double wall = seconds_since(start);
  const double items = static_cast<double>(t.calls) * static_cast<double>(c.inputs.size());
  t.ms_per_item = 1e3 * wall / items;
  t.items_per_second = items / wall;
  t.gflops = c.flops_per_item * items / wall / 1e9;
  t.cpu_ms_per_item = 1e3 * (process_cpu_seconds() - cpu_start) / items;
  for (auto& out : last) t.vectors.push_back(std::move(out.vector));
  return t;
}

double worst_cosine(const std::vector<std::vector<float>>& a,
                    const std::vector<std::vector<float>>& b) {
  double worst = 1.0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    double dot = 0, na = 0, nb = 0;
    for (size_t j = 0; j < a[i].size(); ++j) {
      dot += static_cast<double>(a[i][j]) * b[i][j];
      na += static_cast<double>(a[i][j]) * a[i][j];
      nb += static_cast<double>(b[i][j]) * b[i][j];
    }
    worst = std::min(worst, dot / std::sqrt(na * nb));
  }
  return worst;
}

// A deterministic noise picture: the encoder's cost does not depend on what the pixels show.
vista::encoder::RgbImage noise_image(int size, uint32_t seed) {
  vista::encoder::RgbImage image;
  image.width = image.height = size;
  image.pixels.resize(static_cast<size_t>(size) * size * 3);
  std::mt19937 rng(seed);
  for (auto& p : image.pixels) p = static_cast<uint8_t>(rng() & 0xFF);
  return image;
}

std::vector<Case> make_cases(const Encoder& encoder, int batch) {
  const auto& config = encoder.config();
  std::vector<Case> cases(3);
  cases[0].name = "image";
  cases[0].flops_per_item = vista::encoder::image_text_flops(config, 2);
  cases[1].name = "image+text";
  cases[1].flops_per_item = vista::encoder::image_text_flops(config, kPromptTokens);
  cases[2].name = "short text";
  cases[2].flops_per_item = vista::encoder::text_flops(config, kShortTokens);
  for (int i = 0; i < batch; ++i) {
    auto image = noise_image(encoder.image_size(), 1000 + i);
    cases[0].inputs.push_back({std::nullopt, image});
    cases[1].inputs.push_back({std::string(kPromptText), image});
    cases[2].inputs.push_back({std::string(kShortText), std::nullopt});
  }
  return cases;
}

std::string fixed(double v, int digits) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << v;
  return out.str();
}

// Removes the random model's folder however the run ends.
struct ScratchDir {
  fs::path path;
  ~ScratchDir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

// "cpu" or "cuda:0 (NVIDIA H200)".
std::string device_label(const vista::encoder::DeviceSpec& device) {
  if (!device.cuda) return device.name();
  for (const auto& d : vista::encoder::cuda_devices()) {
    if (d.index == device.index) return device.name() + " (" + d.name + ")";
  }
  return device.name();
}

// Writes the base-size model with random weights (0.8 GB) to `dir`, saying how long it took.
Status write_random_model(const fs::path& dir, const char* kept_or_scratch) {
  const auto start = Clock::now();
  spdlog::info("writing a base-size model with random weights to {} (about 0.8 GB, {})",
               dir.string(), kept_or_scratch);
  VISTA_RETURN_IF_ERROR(vista::encoder::write_random_base_model(dir));
  spdlog::info("wrote it in {:.1f} s", seconds_since(start));
  return Status::ok();
}

// The model `--random base` times: the one kept in --random-model-dir (written there by the
// first run, reused by later ones), else one written to a scratch folder removed at the end.
Result<fs::path> random_model(const Options& o, ScratchDir& scratch) {
  if (!o.random_model_dir.empty()) {
    const fs::path dir = o.random_model_dir;
    std::error_code ec;
    if (!fs::exists(dir / "config.json", ec)) {
      VISTA_RETURN_IF_ERROR(write_random_model(dir, "kept there"));
      return dir;
    }
    // A real model there is refused rather than timed under the wrong name.
    VISTA_ASSIGN_OR_RETURN(const auto kept, vista::encoder::load_model_config(dir));
    if (!kept.text.random_weights) {
      return Status::invalid_argument(
          "--random-model-dir " + dir.string() +
          " holds a model that was not written with random weights; name a new folder");
    }
    return dir;
  }
  std::error_code ec;
  const fs::path base = o.work_dir.empty() ? fs::temp_directory_path(ec) : fs::path(o.work_dir);
  scratch.path = base / ("vista-bench-encoder-" + std::to_string(::getpid()));
  const fs::path dir = scratch.path / "bge-visualized-base-random-weights";
  VISTA_RETURN_IF_ERROR(write_random_model(dir, "removed at the end"));
  return dir;
}

Status run(const Options& o) {
  if (o.model.empty() == o.random.empty()) {
    return Status::invalid_argument("give exactly one of --model DIR or --random base");
  }
  if (!o.random.empty() && o.random != "base") {
    return Status::invalid_argument("--random accepts only 'base' (the base-size network), not '" +
                                    o.random + "'");
  }
  if (o.batch < 1 || o.batch > 256) {
    return Status::invalid_argument("--batch must be between 1 and 256");
  }
  VISTA_ASSIGN_OR_RETURN(const ComputeMode mode, vista::encoder::parse_compute_mode(o.dtype));
  VISTA_ASSIGN_OR_RETURN(const auto device, vista::encoder::parse_device(o.device));
  VISTA_RETURN_IF_ERROR(vista::encoder::check_device(device));
  const bool bf16 = mode == ComputeMode::kBf16;
  // The CPU's products go through oneDNN where this build has it; a GPU's through cuBLAS.
  const bool onednn = !device.cuda && vista::encoder::onednn_built();
  if (bf16 && onednn && !vista::encoder::onednn::bf16_supported()) {
    return Status::unsupported("--dtype bf16 needs a CPU with AVX512-BF16 or AMX; this one has neither");
  }

  ScratchDir scratch;
  fs::path model_dir = o.model;
  std::string model_label = o.model;
  if (!o.random.empty()) {
    VISTA_ASSIGN_OR_RETURN(model_dir, random_model(o, scratch));
    model_label = "base size, random weights";
  }

  EncoderOptions options;
  options.mode = mode;
  options.device = device;
  options.threads = o.threads;
  options.max_batch = static_cast<size_t>(o.batch);
  spdlog::info("loading {} ({})", model_dir.string(), o.dtype);
  VISTA_ASSIGN_OR_RETURN(auto encoder, Encoder::load(model_dir, options));
  std::shared_ptr<const Encoder> baseline;
  if (!o.no_baseline && mode != ComputeMode::kEager) {
    EncoderOptions eager = options;
    eager.mode = ComputeMode::kEager;
    spdlog::info("loading the eager baseline");
    VISTA_ASSIGN_OR_RETURN(baseline, Encoder::load(model_dir, eager));
  }
  const auto info = vista::encoder::detect_compute_info();

  // The hardware's peak for each dtype is what oneDNN reaches (fp32 FMA, AMX for bf16); eager
  // rows are fp32 and compare with the fp32 peak. libtorch's own linear is reported alongside.
  spdlog::info("measuring the GEMM peak");
  const torch::Device torch_device =
      device.cuda ? torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(device.index))
                  : torch::Device(torch::kCPU);
  const std::string peak_path = onednn ? "onednn" : "libtorch";
  const double fp32_peak = gemm_gflops(peak_path, torch::kFloat32, torch_device, 1.0);
  const torch::ScalarType reduced = mode == ComputeMode::kFp16 ? torch::kFloat16 : torch::kBFloat16;
  const double peak = mode == ComputeMode::kBf16 || mode == ComputeMode::kFp16
                          ? gemm_gflops(peak_path, reduced, torch_device, 1.0)
                          : fp32_peak;
  const double libtorch_linear = gemm_gflops("libtorch", torch::kFloat32, torch_device, 1.0);

  json cases = json::array();
  struct Row {
    std::string name, mode;
    Timing t;
    double peak_ratio;
    std::optional<double> speedup, cosine;
  };
  std::vector<Row> rows;
  for (const auto& c : make_cases(*encoder, o.batch)) {
    spdlog::info("timing {} ({})", c.name, o.dtype);
    VISTA_ASSIGN_OR_RETURN(Timing fast, time_case(*encoder, c, o.min_seconds));
    Row row{c.name, o.dtype, fast, fast.gflops / peak, std::nullopt, std::nullopt};
    json entry = {{"case", c.name},
                  {"mode", o.dtype},
                  {"ms_per_item", fast.ms_per_item},
                  {"items_per_second", fast.items_per_second},
                  {"gflops", fast.gflops},
                  {"peak_ratio", row.peak_ratio},
                  {"cpu_ms_per_item", fast.cpu_ms_per_item},
                  {"calls", fast.calls}};
    if (baseline) {
      spdlog::info("timing {} (eager baseline)", c.name);
      VISTA_ASSIGN_OR_RETURN(Timing slow, time_case(*baseline, c, o.min_seconds));
      row.speedup = slow.ms_per_item / fast.ms_per_item;
      row.cosine = worst_cosine(fast.vectors, slow.vectors);
      entry["speedup_vs_eager"] = *row.speedup;
      entry["worst_cosine_vs_eager"] = *row.cosine;
      entry["eager"] = {{"ms_per_item", slow.ms_per_item},
                        {"items_per_second", slow.items_per_second},
                        {"gflops", slow.gflops},
                        {"peak_ratio", slow.gflops / fp32_peak},
                        {"cpu_ms_per_item", slow.cpu_ms_per_item},
                        {"calls", slow.calls}};
      rows.push_back(row);
      rows.push_back({c.name, "eager", slow, slow.gflops / fp32_peak, std::nullopt, std::nullopt});
    } else {
      rows.push_back(row);
    }
    cases.push_back(entry);
  }

  const json report = {
      {"model", model_label},
      {"model_id", encoder->model_id()},
      {"dtype", o.dtype},
      {"device", device.name()},
      {"device_name", device_label(device)},
      {"tf32", device.cuda && at::globalContext().allowTF32CuBLAS()},
      {"threads", info.intra_op_threads},
      {"batch", o.batch},
      {"load_seconds", encoder->load_seconds()},
      {"baseline_load_seconds", baseline ? json(baseline->load_seconds()) : json(nullptr)},
      {"gemm_peak_gflops", peak},
      {"fp32_gemm_peak_gflops", fp32_peak},
      {"libtorch_linear_gflops", libtorch_linear},
      {"cases", cases},
      {"peak_rss_mib", peak_rss_mib()}};
  if (o.json_output) {
    std::cout << report.dump() << "\n";
    return Status::ok();
  }

  std::cout << "model       " << model_label << " (" << encoder->model_id() << ")\n"
            << "dtype       " << o.dtype << " on " << device_label(device) << ", "
            << info.intra_op_threads << " threads, batch " << o.batch << "\n"
            << "model load  " << fixed(encoder->load_seconds(), 2) << " s";
  if (baseline) std::cout << " (eager baseline: " << fixed(baseline->load_seconds(), 2) << " s)";
  std::cout << "\nGEMM peak   " << fixed(peak, 0) << " GFLOP/s (" << (onednn ? "oneDNN " : "libtorch ")
            << o.dtype << (device.cuda ? ", 131072x768" : ", 512x768") << " by 768x3072, this run)";
  if (peak != fp32_peak) std::cout << "; fp32: " << fixed(fp32_peak, 0) << " GFLOP/s";
  std::cout << "; libtorch's linear: " << fixed(libtorch_linear, 0) << " GFLOP/s";
  std::cout << "\n\n"
            << std::left << std::setw(12) << "case" << std::setw(7) << "mode" << std::right
            << std::setw(11) << "ms/item" << std::setw(10) << "items/s" << std::setw(10)
            << "GFLOP/s" << std::setw(9) << "of peak" << std::setw(13) << "cpu ms/item"
            << std::setw(10) << "speed-up" << std::setw(12) << "cos(eager)" << "\n";
  for (const auto& r : rows) {
    std::cout << std::left << std::setw(12) << r.name << std::setw(7) << r.mode << std::right
              << std::setw(11) << fixed(r.t.ms_per_item, 1) << std::setw(10)
              << fixed(r.t.items_per_second, 2) << std::setw(10) << fixed(r.t.gflops, 1)
              << std::setw(8) << fixed(100 * r.peak_ratio, 0) << "%" << std::setw(13)
              << fixed(r.t.cpu_ms_per_item, 1) << std::setw(10)
              << (r.speedup ? fixed(*r.speedup, 2) + "x" : "") << std::setw(12)
              << (r.cosine ? fixed(*r.cosine, 6) : "") << "\n";
  }
  std::cout << "\npeak RSS    " << fixed(peak_rss_mib(), 0) << " MiB\n";
  return Status::ok();
}

}  // namespace

namespace vista::cli {

CommandRunner add_bench_encoder(CLI::App& bench) {
  CLI::App* sub = bench.add_subcommand(
      "encoder", "Time image, image+text and short-text encoding against the hardware's peak");
  auto o = std::make_shared<Options>();
  CLI::Option* model = add_model_option(*sub, o->model);
  sub->add_option("--random", o->random,
                  "'base': time the base-size network with random weights instead of a model")
      ->excludes(model)
      ->check(CLI::IsMember({"base"}));
  add_dtype_option(*sub, o->dtype);
  add_device_option(*sub, o->device);
  sub->add_option("--threads", o->threads, "intra-op threads (0: every hardware thread)")
      ->capture_default_str();
  sub->add_option("--batch", o->batch, "inputs per encode call")->capture_default_str();
  sub->add_option("--min-seconds", o->min_seconds,
                  "time each case for at least this long (after one warm-up call)")
      ->capture_default_str();
  sub->add_flag("--no-baseline", o->no_baseline, "skip the plain libtorch (eager) baseline");
  sub->add_flag("--json", o->json_output, "print one JSON object instead of the table");
  sub->add_option("--work-dir", o->work_dir,
                  "where --random writes its temporary model (default: system temp)");
  sub->add_option("--random-model-dir", o->random_model_dir,
                  "with --random: keep the model in DIR, or reuse the one an earlier run kept "
                  "there (e.g. to time `vista ingest --model DIR`; its vectors mean nothing)")
      ->needs("--random");
  return [o]() {
    if (o->model.empty() && o->random.empty()) o->model = model_or_default(o->model);
    o->dtype = concrete_dtype(o->dtype);
    Status s = run(*o);
    if (!s.is_ok()) return report_failure(s);
    return 0;
  };
}

}  // namespace vista::cli
