// The bare FAISS path of the benchmark, and what the benchmark learns from FAISS about a spec.
#include <faiss/AutoTune.h>
#include <faiss/IVFlib.h>
#include <faiss/Index.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexPQ.h>
#include <faiss/IndexPreTransform.h>
#include <faiss/impl/io.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>

#include <algorithm>
#include <chrono>
#include <exception>

#include "index/vector_index.h"
#include "tools/indexbench/search_target.h"

namespace vista::indexbench {
namespace {

// Serialised size stands in for resident size: it is the vectors/codes, graph links and lists
// that dominate memory, without the allocator's slack.
struct CountingWriter : faiss::IOWriter {
  size_t bytes = 0;
  size_t operator()(const void*, size_t size, size_t nitems) override {
    bytes += size * nitems;
    return nitems;
  }
};

const faiss::Index* unwrap(const faiss::Index* index) {
  while (const auto* pt = dynamic_cast<const faiss::IndexPreTransform*>(index)) index = pt->index;
  return index;
}

// The factory's index with the graph settings collections use, so that both paths build the
// same structure and the comparison isolates the engine's own cost.
Result<std::unique_ptr<faiss::Index>> make_index(const std::string& spec, int dim) {
  try {
    std::unique_ptr<faiss::Index> index(
        faiss::index_factory(dim, spec.c_str(), faiss::METRIC_INNER_PRODUCT));
    index::apply_default_settings(index.get());
    return index;
  } catch (const std::exception& e) {
    return Status::invalid_argument("FAISS cannot build index '" + spec + "' for dimension " +
                                    std::to_string(dim) + ": " + e.what());
  }
}

class FaissTarget : public SearchTarget {
 public:
  FaissTarget(std::unique_ptr<faiss::Index> index, double build_seconds)
      : index_(std::move(index)), build_seconds_(build_seconds) {
    CountingWriter w;
    try {
      faiss::write_index(index_.get(), &w);
    } catch (const std::exception&) {
    }
    bytes_per_vector_ = index_->ntotal > 0 ? static_cast<double>(w.bytes) / index_->ntotal : 0;
  }

  Status search(int64_t n, const float* queries, int k, const SearchKnob& knob, int value,
                int64_t* labels) override {
    try {
      if (!knob.name.empty() && value != current_) {
        faiss::ParameterSpace().set_index_parameter(index_.get(), knob.name, value);
        current_ = value;
      }
      distances_.resize(static_cast<size_t>(n) * k);
      index_->search(n, queries, k, distances_.data(), labels);
    } catch (const std::exception& e) {
      return Status::internal("FAISS search failed: " + std::string(e.what()));
    }
    return Status::ok();
  }
  double build_seconds() const override { return build_seconds_; }
  double bytes_per_vector() const override { return bytes_per_vector_; }

 private:
  std::unique_ptr<faiss::Index> index_;
  double build_seconds_ = 0;
  double bytes_per_vector_ = 0;
  int current_ = -1;
  std::vector<float> distances_;
};

}  // namespace

Result<SearchKnob> search_knob_of(const std::string& spec, int dim) {
  VISTA_ASSIGN_OR_RETURN(auto index, make_index(spec, dim));
  SearchKnob knob;
  if (const faiss::IndexIVF* ivf = faiss::ivflib::try_extract_index_ivf(index.get())) {
    knob.name = "nprobe";
    knob.default_value = static_cast<int>(ivf->nprobe);
    knob.limit = static_cast<int64_t>(ivf->nlist);
  } else if (const auto* hnsw = dynamic_cast<const faiss::IndexHNSW*>(unwrap(index.get()))) {
    knob.name = "efSearch";
    knob.default_value = hnsw->hnsw.efSearch;
  }
  return knob;
}

Result<int64_t> default_train_size(const std::string& spec, int dim, int64_t n) {
  VISTA_ASSIGN_OR_RETURN(auto index, make_index(spec, dim));
  if (index->is_trained) return int64_t{0};
  int64_t size = 1000;
  const faiss::Index* core = unwrap(index.get());
  if (const faiss::IndexIVF* ivf = faiss::ivflib::try_extract_index_ivf(index.get())) {
    size = std::max<int64_t>(size, 39 * static_cast<int64_t>(ivf->nlist));
  }
  if (const auto* ivfpq = dynamic_cast<const faiss::IndexIVFPQ*>(core)) {
    size = std::max<int64_t>(size, 39 * static_cast<int64_t>(ivfpq->pq.ksub));
  }
  if (const auto* pq = dynamic_cast<const faiss::IndexPQ*>(core)) {
    size = std::max<int64_t>(size, 39 * static_cast<int64_t>(pq->pq.ksub));
  }
  return std::min(size, n);
}

Result<std::unique_ptr<SearchTarget>> build_faiss_target(const std::string& spec,
                                                         const FloatMatrix& base,
                                                         int64_t train_size) {
  VISTA_ASSIGN_OR_RETURN(auto index, make_index(spec, base.dim));
  const auto start = std::chrono::steady_clock::now();
  try {
    if (!index->is_trained) {
      const int64_t t = std::min(train_size > 0 ? train_size : base.rows, base.rows);
      index->train(t, base.values.data());
    }
    index->add(base.rows, base.values.data());
  } catch (const std::exception& e) {
    return Status::internal("FAISS could not build '" + spec + "' from " +
                            std::to_string(base.rows) + " vectors: " + e.what());
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return std::unique_ptr<SearchTarget>(new FaissTarget(std::move(index), seconds));
}

}  // namespace vista::indexbench
