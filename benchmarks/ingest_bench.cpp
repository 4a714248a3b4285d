// Ingestion throughput against the encoder's own batched rate, on the base-size network.
//
// The model directory is made up front in the temp folder: the base config (BERT-base text side,
// EVA02-CLIP-B-16 vision tower), the real vocabulary (golden/tiny-model/vocab.txt) and a
// model.safetensors of random weights (0.8 GB, removed afterwards). The arithmetic per input is
// the real model's.
//
// The same images, the same batch size and the same encoder threads in all three:
//   BM_EncoderOnly       Encoder::encode on crops decoded beforehand (the encoder's own rate)
//   BM_DecodeThenEncode  load_crop + Encoder::encode, one after the other, in one thread
//   BM_Ingest            vista's ingestion pipeline: walk, read, hash, decode, encode, commit
//                        (fsynced RocksDB batches) into a fresh collection each iteration
// Each reports images/s; the acceptance ratio is BM_Ingest / BM_EncoderOnly.
//
//   build/benchmarks/ingest_bench
//   VISTA_BENCH_IMAGES=DIR  images to use (default: the 14 photos of golden/images)
//   VISTA_BENCH_COPIES=N    each image is ingested N times under different names (default 2)
//   VISTA_BENCH_BATCH=N     inputs per encoder call (default 16)
//   VISTA_BENCH_DTYPE=fp32|bf16 (default fp32); VISTA_BENCH_THREADS=N encoder threads (default:
//   all hardware threads)
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "encoder/model/random_model.h"
#include "encoder/image/preprocess.h"
#include "encoder/model/encoder.h"
#include "encoder/model/visualized_bge.h"
#include "engine/engine.h"
#include "engine/ingest_source.h"
#include "engine/ingestor.h"

namespace {

namespace fs = std::filesystem;
using vista::encoder::Encoder;

fs::path golden_dir() {
  if (const char* env = std::getenv("VISTA_GOLDEN_DIR"); env && *env) return env;
  return VISTA_DEFAULT_GOLDEN_DIR;
}

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

std::string env_str(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

// A scratch folder under the temp dir, removed at exit.
struct Scratch {
  fs::path root;
  Scratch() {
    std::random_device rd;
    root = fs::temp_directory_path() / ("vista-ingest-bench-" + std::to_string(rd()));
    fs::create_directories(root);
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
};

// Made on first use, destroyed by main() before static destruction (RocksDB's own statics must
// still be alive when the collections close).
std::unique_ptr<Scratch> g_scratch;
Scratch& scratch() {
  if (!g_scratch) g_scratch = std::make_unique<Scratch>();
  return *g_scratch;
}

// The base model directory with random weights (encoder/model/random_model.h).
fs::path random_base_model_dir() {
  const fs::path dir = scratch().root / "bge-visualized-base-random";
  const vista::Status written =
      vista::encoder::write_random_base_model(dir, golden_dir() / "tiny-model" / "vocab.txt");
  if (!written.is_ok()) throw std::runtime_error(written.to_string());
  return dir;
}

struct Setup {
  fs::path model_dir;
  fs::path images;  // the folder BM_Ingest walks: every image COPIES times
  std::vector<fs::path> files;
  int batch = 16;
  // Owns the encoder the three benchmarks share; BM_Ingest's collections live in its data dir.
  std::unique_ptr<vista::engine::Engine> engine;
};

std::unique_ptr<Setup> g_setup;

Setup& setup() {
  if (g_setup) return *g_setup;
  g_setup = std::make_unique<Setup>();
  {
    Setup& s = *g_setup;
    s.batch = std::max(1, env_int("VISTA_BENCH_BATCH", 16));
    s.model_dir = random_base_model_dir();
    fs::path source = env_str("VISTA_BENCH_IMAGES", (golden_dir() / "images").string());
    s.images = scratch().root / "images";
    fs::create_directories(s.images);
    const int copies = std::max(1, env_int("VISTA_BENCH_COPIES", 2));
    std::vector<fs::path> originals;
    for (const auto& e : fs::directory_iterator(source))
      if (e.is_regular_file()) originals.push_back(e.path());
    std::sort(originals.begin(), originals.end());
    for (int c = 0; c < copies; ++c) {
      for (const auto& f : originals) {
        auto dest = s.images / ("copy" + std::to_string(c) + "_" + f.filename().string());
        fs::copy_file(f, dest);
        s.files.push_back(dest);
      }
    }
    vista::engine::EngineOptions options;
    options.data_dir = scratch().root / "data";
    options.model_dir = s.model_dir;
    options.encoder_threads = env_int("VISTA_BENCH_THREADS", 0);
    options.encoder_dtype = env_str("VISTA_BENCH_DTYPE", "fp32");
    options.encode_queue.max_batch = s.batch;
    auto engine = vista::engine::Engine::open(options);
    if (!engine.is_ok()) throw std::runtime_error(engine.status().to_string());
    s.engine = std::move(engine).value();
  }
  return *g_setup;
}

std::vector<vista::engine::EncodeItem> decode(const std::vector<fs::path>& files, size_t begin,
                                              size_t end, int size) {
  std::vector<vista::engine::EncodeItem> items;
  for (size_t i = begin; i < end; ++i) {
    auto crop = vista::encoder::load_crop(files[i], size);
    if (!crop.is_ok()) throw std::runtime_error(crop.status().to_string());
    items.push_back({std::nullopt, std::move(crop).value()});
  }
  return items;
}

// CPU seconds of the whole process (every thread), for the cost per image on a shared machine.
double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

void finish(benchmark::State& state, size_t images, double cpu_start) {
  const double n = static_cast<double>(state.iterations() * images);
  state.SetItemsProcessed(static_cast<int64_t>(n));
  state.counters["images/s"] = benchmark::Counter(n, benchmark::Counter::kIsRate);
  state.counters["cpu_s/image"] = (process_cpu_seconds() - cpu_start) / n;
}

void BM_EncoderOnly(benchmark::State& state) {
  auto& s = setup();
  const Encoder& enc = *s.engine->encoder();
  auto items = decode(s.files, 0, s.files.size(), enc.image_size());
  const double cpu_start = process_cpu_seconds();
  for (auto _ : state) {
    for (size_t off = 0; off < items.size(); off += s.batch) {
      std::vector<vista::engine::EncodeItem> batch(
          items.begin() + off, items.begin() + std::min(items.size(), off + s.batch));
      auto out = vista::engine::encode_items(enc, batch);
      if (!out.is_ok()) state.SkipWithError(out.status().to_string().c_str());
    }
  }
  finish(state, items.size(), cpu_start);
}

void BM_DecodeThenEncode(benchmark::State& state) {
  auto& s = setup();
  const Encoder& enc = *s.engine->encoder();
  const double cpu_start = process_cpu_seconds();
  for (auto _ : state) {
    for (size_t off = 0; off < s.files.size(); off += s.batch) {
      auto batch = decode(s.files, off, std::min(s.files.size(), off + s.batch), enc.image_size());
      auto out = vista::engine::encode_items(enc, batch);
      if (!out.is_ok()) state.SkipWithError(out.status().to_string().c_str());
    }
  }
  finish(state, s.files.size(), cpu_start);
}

void BM_Ingest(benchmark::State& state) {
  auto& s = setup();
  int round = 0;
  const double cpu_start = process_cpu_seconds();
  for (auto _ : state) {
    // A fresh collection each iteration (in the engine's data directory), so every image is new.
    ++round;
    vista::engine::IngestOptions ingest;
    ingest.collection = "bench" + std::to_string(round);
    ingest.sources = {s.images};
    ingest.batch_size = s.batch;
    vista::engine::Ingestor ingestor(*s.engine);
    auto summary = ingestor.run(ingest);
    if (!summary.is_ok()) {
      state.SkipWithError(summary.status().to_string().c_str());
      break;
    }
    if (summary->inserted != static_cast<int64_t>(s.files.size()))
      state.SkipWithError("not every image was ingested");
  }
  finish(state, s.files.size(), cpu_start);
}

BENCHMARK(BM_EncoderOnly)->Unit(benchmark::kSecond)->Iterations(2)->UseRealTime();
BENCHMARK(BM_DecodeThenEncode)->Unit(benchmark::kSecond)->Iterations(2)->UseRealTime();
BENCHMARK(BM_Ingest)->Unit(benchmark::kSecond)->Iterations(2)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (g_setup && g_setup->engine) {
    vista::Status closed = g_setup->engine->close();
    if (!closed.is_ok()) std::fprintf(stderr, "close: %s\n", closed.to_string().c_str());
  }
  g_setup.reset();
  g_scratch.reset();
  return 0;
}
