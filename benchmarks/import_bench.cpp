// Segment import rate (engine/segment.h) against the collection's own upsert rate for the same
// documents, and the rate of writing a segment out of a shard's staging collection.
//
//   VISTA_BENCH_DOCS=100000 ./build/benchmarks/import_bench
//
// Documents are like ingested images: random unit vectors of 768 dimensions, metadata
// {"n", "bucket"}, a text, a source path and a content hash. Each iteration starts from a fresh
// collection. Results are recorded in BENCHMARKS.md ("## Segment import").
//   BM_UpsertBatches  Collection::upsert in batches of 1,000 (the baseline: what ingestion's
//                     writer does, without the encoder)
//   BM_WriteSegment   write_segment from a collection holding the documents
//   BM_ImportSegment  import_segment of that segment into an empty collection (read, verify
//                     the checksums, compare with what is stored, one atomic commit)
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "common/cpu_time.h"
#include "common/logging.h"
#include "engine/catalog.h"
#include "engine/segment.h"

namespace {

namespace fs = std::filesystem;
using namespace vista;
using namespace vista::engine;

constexpr int kDim = 768;
constexpr size_t kBatch = 1000;
const ModelIdentity kModel{"bench-model", "sha256:bench"};

int64_t bench_docs() {
  const char* env = std::getenv("VISTA_BENCH_DOCS");
  return env ? std::atoll(env) : 100000;
}

std::vector<Document> make_documents(int64_t n) {
  std::mt19937_64 rng(7);
  std::normal_distribution<float> g;
  std::vector<Document> docs(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    Document& d = docs[static_cast<size_t>(i)];
    d.id = "photos/" + std::to_string(i) + ".jpg";
    d.vector.resize(kDim);
    float norm = 0;
    for (auto& x : d.vector) {
      x = g(rng);
      norm += x * x;
    }
    for (auto& x : d.vector) x /= std::sqrt(norm);
    d.metadata = {{"n", i}, {"bucket", i % 10}};
    d.text = "a caption for picture " + std::to_string(i);
    d.source = "/shared/photos/" + d.id;
    d.content_hash = std::to_string(i * 7919);
  }
  return docs;
}

// A temp folder removed at the end of the scope.
struct Scratch {
  fs::path path;
  Scratch() {
    path = fs::temp_directory_path() / ("vista-import-bench-" + std::to_string(std::random_device{}()));
    fs::create_directories(path);
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::shared_ptr<Collection> fresh_collection(Catalog& catalog, const std::string& name) {
  CollectionConfig config;
  config.dimension = kDim;
  config.model = kModel;
  auto coll = catalog.create(name, config);
  if (!coll.is_ok()) throw std::runtime_error(coll.status().to_string());
  return *coll;
}

void load(Collection& coll, const std::vector<Document>& docs) {
  for (size_t i = 0; i < docs.size(); i += kBatch) {
    std::vector<Document> batch(docs.begin() + i, docs.begin() + std::min(docs.size(), i + kBatch));
    auto r = coll.upsert(kModel, batch);
    if (!r.is_ok()) throw std::runtime_error(r.status().to_string());
  }
}

void report(benchmark::State& state, int64_t docs, double cpu_seconds) {
  state.counters["docs"] = static_cast<double>(docs);
  state.counters["docs_per_s"] =
      benchmark::Counter(static_cast<double>(docs), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["cpu_us_per_doc"] = cpu_seconds * 1e6 / (static_cast<double>(docs) * state.iterations());
}

// Runs `measured(round)` once per iteration after `prepare(round)` (untimed CPU-wise), and
// reports the rates for `docs` documents per round.
template <typename Prepare, typename Measured>
void run_rounds(benchmark::State& state, int64_t docs, Prepare prepare, Measured measured) {
  double cpu = 0;
  int round = 0;
  for (auto _ : state) {
    prepare(round);
    const double c0 = process_cpu_seconds();
    Status st = measured(round++);
    cpu += process_cpu_seconds() - c0;
    if (!st.is_ok()) state.SkipWithError(st.to_string().c_str());
  }
  report(state, docs, cpu);
}

void BM_UpsertBatches(benchmark::State& state) {
  const auto docs = make_documents(bench_docs());
  Scratch scratch;
  auto catalog = Catalog::open(scratch.path);
  std::shared_ptr<Collection> coll;
  run_rounds(
      state, static_cast<int64_t>(docs.size()),
      [&](int round) { coll = fresh_collection(**catalog, "c" + std::to_string(round)); },
      [&](int) {
        load(*coll, docs);
        return Status::ok();
      });
}

// A shard's staging collection holding `docs`, in its own catalog under `dir`.
struct Staging {
  std::unique_ptr<Catalog> catalog;
  std::shared_ptr<Collection> collection;
  Staging(const fs::path& dir, const std::vector<Document>& docs) {
    auto opened = Catalog::open(dir);
    if (!opened.is_ok()) throw std::runtime_error(opened.status().to_string());
    catalog = std::move(opened).value();
    collection = fresh_collection(*catalog, "staging");
    load(*collection, docs);
  }
};

void BM_WriteSegment(benchmark::State& state) {
  const auto docs = make_documents(bench_docs());
  Scratch scratch;
  Staging staging(scratch.path / "data", docs);
  auto coll = staging.collection;
  run_rounds(
      state, static_cast<int64_t>(docs.size()), [](int) {},
      [&](int) { return write_segment(*coll, std::nullopt, {}, scratch.path / "segment").status(); });
}

void BM_ImportSegment(benchmark::State& state) {
  const auto docs = make_documents(bench_docs());
  Scratch scratch;
  {
    Staging staging(scratch.path / "staging", docs);
    auto m = write_segment(*staging.collection, std::nullopt, {}, scratch.path / "segment");
    if (!m.is_ok()) throw std::runtime_error(m.status().to_string());
  }
  auto segment = Segment::open(scratch.path / "segment");
  auto catalog = Catalog::open(scratch.path / "data");
  run_rounds(state, static_cast<int64_t>(docs.size()), [](int) {}, [&](int round) {
    return import_segment(**catalog, "c" + std::to_string(round), *segment).status();
  });
}

BENCHMARK(BM_UpsertBatches)->Unit(benchmark::kSecond)->Iterations(2)->UseRealTime();
BENCHMARK(BM_WriteSegment)->Unit(benchmark::kSecond)->Iterations(2)->UseRealTime();
BENCHMARK(BM_ImportSegment)->Unit(benchmark::kSecond)->Iterations(2)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  vista::set_log_level("warn");
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
