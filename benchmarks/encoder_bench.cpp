// Encoder speed on the base-size network (random weights; the arithmetic is the same as with the
// real checkpoint): one image, one image + 16-token text, one 10-token text, in each compute mode.
// The eager mode is the plain libtorch baseline; the others are what Vista runs.
//
//   build/benchmarks/encoder_bench [--benchmark_filter=...]
//   VISTA_BENCH_THREADS=N sets libtorch's intra-op threads (default: all hardware threads).
//   VISTA_BENCH_PROFILE=PREFIX writes a Chrome trace of one extra run of each case to
//   PREFIX<case>.json (per-op times: where the time goes).
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>
#include <thread>

#include <torch/csrc/autograd/profiler_legacy.h>
#include "common/cpu_time.h"
#include "encoder/model/flop_count.h"
#include "encoder/model/random_model.h"
#include "encoder/model/visualized_bge.h"

namespace {

using vista::process_cpu_seconds;
using vista::encoder::ComputeMode;
using vista::encoder::ModelConfig;
using vista::encoder::VisualizedBge;

constexpr int64_t kShortText = 10;
constexpr int64_t kPromptText = 16;

// The base model (every config default is the base value), weights drawn once: N(0, 0.02) for
// every matrix, embedding and bias, 1 for LayerNorm scales. RoPE tables keep their real values.
VisualizedBge& base_model() {
  static VisualizedBge model = [] {
    VisualizedBge m{ModelConfig{}};
    vista::encoder::randomize_weights(*m, 0);
    return m;
  }();
  return model;
}

void use_mode(ComputeMode mode) {
  static bool configured = false;
  if (!configured) {
    const char* env = std::getenv("VISTA_BENCH_THREADS");
    int threads = env ? std::atoi(env) : static_cast<int>(std::thread::hardware_concurrency());
    at::set_num_threads(std::max(1, threads));
    configured = true;
  }
  auto& model = base_model();
  if (model->mode() != mode) model->prepare(mode);
}

// Times `run` after one untimed warm-up call (oneDNN builds its kernels on first use). Reports
// GFLOP/s of wall time and cpu_ms/item: CPU seconds of every thread of the process per item,
// which a busy shared machine inflates far less than wall time.
template <typename Run>
void timed(benchmark::State& state, double flops_per_item, int64_t batch, Run&& run) {
  benchmark::DoNotOptimize(run());
  const double cpu_start = process_cpu_seconds();
  for (auto _ : state) benchmark::DoNotOptimize(run());
  const double cpu = process_cpu_seconds() - cpu_start;
  const double items = static_cast<double>(state.iterations() * batch);
  state.SetItemsProcessed(static_cast<int64_t>(items));
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops_per_item * items / 1e9, benchmark::Counter::kIsRate);
  state.counters["cpu_ms/item"] = 1e3 * cpu / items;
}

// One more run under libtorch's profiler when VISTA_BENCH_PROFILE is set.
template <typename Run>
void maybe_profile(const benchmark::State& state, const char* name, Run&& run) {
  const char* prefix = std::getenv("VISTA_BENCH_PROFILE");
  if (!prefix || !*prefix) return;
  const auto mode = static_cast<ComputeMode>(state.range(0));
  torch::autograd::profiler::RecordProfile profile(
      std::string(prefix) + name + "_" + vista::encoder::compute_mode_name(mode) + ".json");
  run();
}

// Images with a text of `text_tokens` ids from `make_ids` (2, [CLS][SEP], for an image alone),
// in the state's mode and batch.
void image_case(benchmark::State& state, const char* name, uint64_t seed, int64_t text_tokens,
                torch::Tensor (*make_ids)(int64_t batch, int64_t tokens)) {
  const auto mode = static_cast<ComputeMode>(state.range(0));
  const int64_t batch = state.range(1);
  use_mode(mode);
  auto& model = base_model();
  c10::InferenceMode guard;
  torch::manual_seed(seed);
  auto pixels = torch::randn({batch, 3, 224, 224});
  auto ids = make_ids(batch, text_tokens);
  auto mask = torch::ones_like(ids);
  timed(state, vista::encoder::image_text_flops(model->config(), text_tokens), batch,
        [&] { return model->encode_mm(pixels, ids, mask); });
  maybe_profile(state, name, [&] { model->encode_mm(pixels, ids, mask); });
}

torch::Tensor empty_prompt(int64_t batch, int64_t) {
  return torch::tensor({101, 102}, torch::kLong).unsqueeze(0).repeat({batch, 1});
}

torch::Tensor random_prompt(int64_t batch, int64_t tokens) {
  return torch::randint(1000, 30000, {batch, tokens}, torch::kLong);
}

void BM_Image(benchmark::State& state) { image_case(state, "image", 1, 2, &empty_prompt); }

void BM_ImageText(benchmark::State& state) {
  image_case(state, "image_text", 2, kPromptText, &random_prompt);
}

void BM_ShortText(benchmark::State& state) {
  const auto mode = static_cast<ComputeMode>(state.range(0));
  const int64_t batch = state.range(1);
  use_mode(mode);
  auto& model = base_model();
  c10::InferenceMode guard;
  torch::manual_seed(3);
  auto ids = random_prompt(batch, kShortText);
  auto mask = torch::ones_like(ids);
  timed(state, vista::encoder::text_flops(model->config(), kShortText), batch,
        [&] { return model->encode_text(ids, mask); });
  maybe_profile(state, "short_text", [&] { model->encode_text(ids, mask); });
}

// Not a timing: the worst cosine between bf16 and fp32 vectors of the base-size network over
// random images, images with text and short texts, plus what preparing each mode and hashing the
// weights (Encoder::model_id) cost at load.
void BM_Bf16Accuracy(benchmark::State& state) {
  use_mode(ComputeMode::kFp32);
  auto& model = base_model();
  c10::InferenceMode guard;
  torch::manual_seed(4);
  constexpr int64_t kItems = 4;
  auto pixels = torch::randn({kItems, 3, 224, 224});
  auto prompt = random_prompt(kItems, kPromptText);
  auto empty = empty_prompt(kItems, 2);
  auto texts = random_prompt(2 * kItems, kShortText);
  auto run = [&] {
    return std::vector<torch::Tensor>{model->encode_mm(pixels, empty, torch::ones_like(empty)),
                                      model->encode_mm(pixels, prompt, torch::ones_like(prompt)),
                                      model->encode_text(texts, torch::ones_like(texts))};
  };
  double prepare_fp32 = 0, prepare_bf16 = 0, fingerprint = 0, worst = 1.0;
  for (auto _ : state) {
    auto seconds = [](auto&& f) {
      auto start = std::chrono::steady_clock::now();
      f();
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    prepare_fp32 = seconds([&] { model->prepare(ComputeMode::kFp32); });
    auto reference = run();
    prepare_bf16 = seconds([&] { model->prepare(ComputeMode::kBf16); });
    auto fast = run();
    for (size_t i = 0; i < reference.size(); ++i) {
      auto cos =
          (reference[i] * fast[i]).sum(-1) / (reference[i].norm(2, -1) * fast[i].norm(2, -1));
      worst = std::min(worst, cos.min().item<double>());
    }
    fingerprint = seconds([&] { vista::encoder::tensors_fingerprint(model->declared_tensors()); });
  }
  state.counters["worst_cos_bf16_vs_fp32"] = worst;
  state.counters["prepare_fp32_s"] = prepare_fp32;
  state.counters["prepare_bf16_s"] = prepare_bf16;
  state.counters["fingerprint_s"] = fingerprint;
}
BENCHMARK(BM_Bf16Accuracy)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

void modes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"mode", "batch"});
  for (auto mode : {ComputeMode::kEager, ComputeMode::kFp32, ComputeMode::kBf16}) {
    b->Args({static_cast<int64_t>(mode), 1});
  }
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_Image)->Apply(modes);
BENCHMARK(BM_ImageText)->Apply(modes);
BENCHMARK(BM_ShortText)->Apply(modes);

}  // namespace

BENCHMARK_MAIN();
