// Collections at scale: upsert throughput, memory, snapshot and open time, and search latency
// through the engine compared with raw FAISS searching a copy of the same index.
//
//   VISTA_BENCH_SIZES=100000 VISTA_BENCH_SPECS=Flat,HNSW32 ./build/benchmarks/collection_bench
//
// Vectors are random unit vectors of 768 dimensions (the encoder's width); every document has
// metadata {"n", "bucket"}, a source path and a content hash, like an ingested image. Results
// are recorded in BENCHMARKS.md ("## Collections").
#include <benchmark/benchmark.h>
#include <faiss/Index.h>
#include <omp.h>
#include <stdlib.h>

#include <time.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/cpu_time.h"
#include "common/logging.h"
#include "engine/collection.h"
#include "index/vector_index.h"

namespace {

namespace fs = std::filesystem;
using namespace vista;
using namespace vista::engine;
using Clock = std::chrono::steady_clock;

constexpr int kDim = 768;
constexpr int kQueries = 200;
constexpr int kBatch = 1000;
const ModelIdentity kModel{"bench-model", "sha256:bench"};

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

double rss_mib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

double dir_mib(const fs::path& p) {
  uintmax_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(p, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  }
  return total / (1024.0 * 1024.0);
}

void fill_unit(std::mt19937_64& rng, float* v) {
  std::normal_distribution<float> g;
  float n = 0;
  for (int j = 0; j < kDim; ++j) {
    v[j] = g(rng);
    n += v[j] * v[j];
  }
  n = std::sqrt(n);
  for (int j = 0; j < kDim; ++j) v[j] /= n;
}

struct Setup {
  fs::path dir;
  std::shared_ptr<Collection> collection;
  std::unique_ptr<index::VectorIndex> raw;  // the snapshot loaded on its own
  std::vector<float> queries;
  int64_t n = 0;
};
std::map<std::string, Setup> g_setups;

std::string key(const std::string& spec, int64_t n) {
  return spec + "/" + std::to_string(n);
}

void fail(benchmark::State& state, const Status& st) {
  state.SkipWithError(st.to_string().c_str());
}

void BM_Upsert(benchmark::State& state, std::string spec, int64_t n) {
  for (auto _ : state) {
    Setup s;
    s.n = n;
    char tmpl[] = "/tmp/vista-collection-bench-XXXXXX";
    s.dir = mkdtemp(tmpl);
    CollectionConfig config;
    config.dimension = kDim;
    config.index_spec = spec;
    config.model = kModel;
    CollectionOptions options;
    options.auto_snapshot_changes = 0;  // snapshots are measured on their own below
    auto created = Collection::create(s.dir / "c", "c", config, options);
    if (!created.is_ok()) return fail(state, created.status());
    s.collection = *created;
    const double rss0 = rss_mib();
    std::mt19937_64 rng(1234);
    double busy = 0;
    std::vector<Document> batch(kBatch);
    for (int64_t i = 0; i < n; i += kBatch) {
      const int64_t m = std::min<int64_t>(kBatch, n - i);
      batch.resize(m);
      for (int64_t j = 0; j < m; ++j) {
        Document& d = batch[j];
        d.id = "img-" + std::to_string(i + j);
        d.vector.resize(kDim);
        fill_unit(rng, d.vector.data());
        d.metadata = {{"n", i + j}, {"bucket", (i + j) % 10}};
        d.source = "/photos/2026/img-" + std::to_string(i + j) + ".jpg";
        d.content_hash = "sha256:" + std::to_string(rng());
      }
      const auto t = Clock::now();
      auto r = s.collection->upsert(kModel, batch);
      busy += seconds_since(t);
      if (!r.is_ok()) return fail(state, r.status());
    }
    state.SetIterationTime(busy);
    auto info = s.collection->info();
    state.counters["docs_per_s"] = n / busy;
    state.counters["index_MiB"] = info.index.memory_bytes / (1024.0 * 1024.0);
    state.counters["rss_growth_MiB"] = rss_mib() - rss0;
    state.counters["store_MiB"] = dir_mib(s.dir / "c" / "rocksdb");
    s.queries.resize(static_cast<size_t>(kQueries) * kDim);
    std::mt19937_64 qrng(99);
    for (int q = 0; q < kQueries; ++q) fill_unit(qrng, s.queries.data() + q * kDim);
    g_setups[key(spec, n)] = std::move(s);
  }
}

void BM_Snapshot(benchmark::State& state, std::string spec, int64_t n) {
  auto& s = g_setups[key(spec, n)];
  if (!s.collection) return state.SkipWithError("no collection");
  for (auto _ : state) {
    const auto t = Clock::now();
    Status st = s.collection->snapshot();
    state.SetIterationTime(seconds_since(t));
    if (!st.is_ok()) return fail(state, st);
  }
  state.counters["file_MiB"] = dir_mib(s.dir / "c" / "index");
}

void BM_Reopen(benchmark::State& state, std::string spec, int64_t n) {
  auto& s = g_setups[key(spec, n)];
  if (!s.collection) return state.SkipWithError("no collection");
  for (auto _ : state) {
    Status st = s.collection->close();  // snapshot is current: close only closes
    if (!st.is_ok()) return fail(state, st);
    s.collection.reset();
    const auto t = Clock::now();
    auto r = Collection::open(s.dir / "c", "c");
    state.SetIterationTime(seconds_since(t));
    if (!r.is_ok()) return fail(state, r.status());
    s.collection = *r;
  }
  // The raw FAISS copy for the latency comparison: the same snapshot, loaded on its own.
  auto snap = s.collection->info().snapshot_sequence;
  auto raw = index::VectorIndex::load(s.dir / "c" / "index" / (std::to_string(snap) + ".faiss"));
  if (!raw.is_ok()) return fail(state, raw.status());
  s.raw = std::move(raw).value();
  state.counters["rss_MiB"] = rss_mib();
}

void BM_OpenWithoutSnapshot(benchmark::State& state, std::string spec, int64_t n) {
  auto& s = g_setups[key(spec, n)];
  if (!s.collection) return state.SkipWithError("no collection");
  for (auto _ : state) {
    CollectionOptions o;
    o.snapshot_on_close = false;
    Status st = s.collection->close();
    s.collection.reset();
    for (auto& e : fs::directory_iterator(s.dir / "c" / "index")) fs::remove(e.path());
    const auto t = Clock::now();
    auto r = Collection::open(s.dir / "c", "c");
    state.SetIterationTime(seconds_since(t));
    if (!r.is_ok()) return fail(state, r.status());
    s.collection = *r;
    st = s.collection->snapshot();
    if (!st.is_ok()) return fail(state, st);
  }
}

// One query at a time, alternating raw FAISS and the engine on the same query, so both see the
// same machine state. The reported time is the engine's; raw_us and overhead_pct compare.
enum class Mode { kDocuments, kFiltered, kIdsOnly };

void BM_Search(benchmark::State& state, std::string spec, int64_t n, Mode mode) {
  const bool filtered = mode == Mode::kFiltered;
  auto& s = g_setups[key(spec, n)];
  if (!s.collection || !s.raw) return state.SkipWithError("no collection");
  const int64_t k = 10;
  SearchOptions o;
  o.k = k;
  if (filtered) o.filter = *Filter::parse(R"({"bucket": 3})");
  o.include_metadata = mode != Mode::kIdsOnly;
  const faiss::Index* raw = s.raw->faiss_index();
  std::vector<float> dist(k);
  std::vector<faiss::Index::idx_t> labels(k);
  double raw_total = 0, engine_total = 0, raw_cpu = 0, engine_cpu = 0;
  int64_t i = 0;
  auto run_raw = [&](const float* q) {
    // Same OpenMP setting the engine uses for a single query (see index/vector_index.h).
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    const double c0 = thread_cpu_seconds();
    const auto t0 = Clock::now();
    raw->search(1, q, k, dist.data(), labels.data());
    raw_total += seconds_since(t0);
    raw_cpu += thread_cpu_seconds() - c0;
    omp_set_num_threads(threads);
  };
  for (auto _ : state) {
    const float* q = s.queries.data() + (i % kQueries) * kDim;
    // Alternate which side runs first, so neither always finds the caches warm.
    const bool raw_first = i++ % 2 == 0;
    if (!filtered && raw_first) run_raw(q);
    const double c1 = thread_cpu_seconds();
    const auto t1 = Clock::now();
    auto r = s.collection->search(kModel, q, 1, o);
    const double e = seconds_since(t1);
    engine_cpu += thread_cpu_seconds() - c1;
    engine_total += e;
    state.SetIterationTime(e);
    if (!r.is_ok()) return fail(state, r.status());
    benchmark::DoNotOptimize(r);
    if ((*r)[0].size() != static_cast<size_t>(k)) return state.SkipWithError("fewer than k hits");
    if (!filtered && !raw_first) run_raw(q);
  }
  const double iters = static_cast<double>(state.iterations());
  state.counters["engine_us"] = engine_total / iters * 1e6;
  state.counters["engine_cpu_us"] = engine_cpu / iters * 1e6;
  if (!filtered) {
    state.counters["raw_us"] = raw_total / iters * 1e6;
    state.counters["raw_cpu_us"] = raw_cpu / iters * 1e6;
    state.counters["overhead_pct"] = (engine_total / raw_total - 1.0) * 100.0;
    state.counters["overhead_cpu_pct"] = (engine_cpu / raw_cpu - 1.0) * 100.0;
  }
}

void BM_Cleanup(benchmark::State& state, std::string spec, int64_t n) {
  for (auto _ : state) {
    auto it = g_setups.find(key(spec, n));
    if (it == g_setups.end()) continue;
    const auto t = Clock::now();
    if (it->second.collection) (void)it->second.collection->close();
    state.SetIterationTime(seconds_since(t) + 1e-9);
    std::error_code ec;
    fs::remove_all(it->second.dir, ec);
    g_setups.erase(it);
  }
}

std::vector<std::string> split(const char* env, const std::string& fallback) {
  std::string text = env && *env ? env : fallback;
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  for (const auto& size : split(std::getenv("VISTA_BENCH_SIZES"), "100000")) {
    const int64_t n = std::stoll(size);
    for (const auto& spec : split(std::getenv("VISTA_BENCH_SPECS"), "Flat,HNSW32")) {
      const std::string tag = spec + "/" + size;
      auto once = [](benchmark::internal::Benchmark* b) {
        b->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
      };
      once(benchmark::RegisterBenchmark(("Upsert/" + tag).c_str(), BM_Upsert, spec, n));
      once(benchmark::RegisterBenchmark(("Snapshot/" + tag).c_str(), BM_Snapshot, spec, n));
      once(benchmark::RegisterBenchmark(("Open/" + tag).c_str(), BM_Reopen, spec, n));
      for (auto [mode, name] :
           {std::pair{Mode::kDocuments, "Search/"}, std::pair{Mode::kIdsOnly, "SearchIdsOnly/"},
            std::pair{Mode::kFiltered, "SearchFiltered10pct/"}}) {
        benchmark::RegisterBenchmark((name + tag + "/k:10").c_str(), BM_Search, spec, n, mode)
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond)
            ->MinTime(n >= 1000000 ? 5.0 : 2.0);
      }
      if (spec == "Flat") {
        once(benchmark::RegisterBenchmark(("OpenWithoutSnapshot/" + tag).c_str(),
                                          BM_OpenWithoutSnapshot, spec, n));
      }
      once(benchmark::RegisterBenchmark(("Close/" + tag).c_str(), BM_Cleanup, spec, n));
    }
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
