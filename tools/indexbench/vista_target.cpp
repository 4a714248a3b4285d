// The engine path of the benchmark: an engine::Collection filled and searched like the server's.
#include <charconv>
#include <chrono>
#include <system_error>
#include <vector>

#include "common/logging.h"
#include "engine/collection.h"
#include "tools/indexbench/search_target.h"

namespace vista::indexbench {
namespace fs = std::filesystem;
namespace {

// Documents per upsert call, the size of a typical ingestion batch.
constexpr int64_t kUpsertBatch = 1000;

const engine::ModelIdentity& bench_model() {
  static const engine::ModelIdentity model{"vista-bench-index", "none"};
  return model;
}

class VistaTarget : public SearchTarget {
 public:
  VistaTarget(std::shared_ptr<engine::Collection> collection, fs::path dir, double build_seconds)
      : collection_(std::move(collection)), dir_(std::move(dir)), build_seconds_(build_seconds) {
    const engine::CollectionInfo info = collection_->info();
    bytes_per_vector_ =
        info.count > 0 ? static_cast<double>(info.index.memory_bytes) / info.count : 0;
  }

  ~VistaTarget() override {
    Status s = collection_->close();
    if (!s.is_ok()) spdlog::warn("closing benchmark collection: {}", s.to_string());
    collection_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  Status search(int64_t n, const float* queries, int k, const SearchKnob& knob, int value,
                int64_t* labels) override {
    engine::SearchOptions options;
    options.k = k;
    options.include_metadata = false;
    if (knob.name == "efSearch") options.params.ef_search = value;
    if (knob.name == "nprobe") options.params.nprobe = value;
    VISTA_ASSIGN_OR_RETURN(auto results, collection_->search(bench_model(), queries, n, options));
    for (int64_t q = 0; q < n; ++q) {
      int64_t* out = labels + q * k;
      const auto& hits = results[q];
      for (int j = 0; j < k; ++j) {
        out[j] = -1;
        if (j >= static_cast<int>(hits.size())) continue;
        const std::string& id = hits[j].document.id;
        int64_t row = -1;
        const auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), row);
        if (ec != std::errc() || end != id.data() + id.size()) {
          return Status::internal("benchmark collection returned unknown id '" + id + "'");
        }
        out[j] = row;
      }
    }
    return Status::ok();
  }
  double build_seconds() const override { return build_seconds_; }
  double bytes_per_vector() const override { return bytes_per_vector_; }

 private:
  std::shared_ptr<engine::Collection> collection_;
  fs::path dir_;
  double build_seconds_ = 0;
  double bytes_per_vector_ = 0;
};

}  // namespace

Result<std::unique_ptr<SearchTarget>> build_vista_target(const std::string& spec,
                                                         const FloatMatrix& base,
                                                         const fs::path& dir) {
  engine::CollectionConfig config;
  config.dimension = base.dim;
  config.index_spec = spec;
  config.model = bench_model();
  engine::CollectionOptions options;
  options.sync_writes = false;  // the benchmark measures the index, not the disk's fsync
  options.snapshot_on_close = false;

  const auto start = std::chrono::steady_clock::now();
  VISTA_ASSIGN_OR_RETURN(auto collection,
                         engine::Collection::create(dir, "bench", config, options));
  // From here on the target owns the folder, so an early return below removes it.
  auto discard = [&](Status s) {
    (void)collection->close();
    collection.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
    return s.with_context("building '" + spec + "' through engine::Collection");
  };

  std::vector<engine::Document> docs;
  for (int64_t first = 0; first < base.rows; first += kUpsertBatch) {
    const int64_t count = std::min(kUpsertBatch, base.rows - first);
    docs.resize(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) {
      docs[i].id = std::to_string(first + i);
      docs[i].vector.assign(base.row(first + i), base.row(first + i) + base.dim);
    }
    auto upserted = collection->upsert(bench_model(), docs);
    if (!upserted.is_ok()) return discard(upserted.status());
  }
  // A collection smaller than its type's training threshold still searches its exact side
  // buffer; train it so the benchmark measures the index type asked for.
  const engine::CollectionInfo info = collection->info();
  if (!info.index.trained || info.index.pending > 0) {
    Status s = collection->rebuild();
    if (!s.is_ok()) return discard(s);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return std::unique_ptr<SearchTarget>(new VistaTarget(std::move(collection), dir, seconds));
}

}  // namespace vista::indexbench
