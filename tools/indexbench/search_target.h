// Internal to vista_indexbench: an index built one way or another, searched uniformly.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "common/status.h"
#include "tools/indexbench/vecs_io.h"

namespace vista::indexbench {

// What the benchmark sweeps for an index type.
struct SearchKnob {
  std::string name;  // "efSearch", "nprobe" or "" (none)
  int default_value = 0;
  int64_t limit = 0;  // largest meaningful value (nlist for nprobe); 0: unbounded
};

// Inspects an empty index made from the spec. InvalidArgument when FAISS rejects the spec.
Result<SearchKnob> search_knob_of(const std::string& spec, int dim);

// The bare FAISS training sample size the engine's rule gives for this spec and n vectors:
// max(1000, 39 * nlist, 39 * ksub) capped at n; 0 when the type needs no training.
Result<int64_t> default_train_size(const std::string& spec, int dim, int64_t n);

class SearchTarget {
 public:
  virtual ~SearchTarget() = default;
  // k results for each of n queries into labels (n * k, row numbers of the base; -1 padding),
  // with the knob set to `value` (ignored when the index has no knob).
  virtual Status search(int64_t n, const float* queries, int k, const SearchKnob& knob, int value,
                        int64_t* labels) = 0;
  virtual double build_seconds() const = 0;
  virtual double bytes_per_vector() const = 0;
};

// engine::Collection in `dir` (created; removed again when the target dies).
Result<std::unique_ptr<SearchTarget>> build_vista_target(const std::string& spec,
                                                         const FloatMatrix& base,
                                                         const std::filesystem::path& dir);

// Bare FAISS index trained on the first train_size rows (no training when the type needs none).
Result<std::unique_ptr<SearchTarget>> build_faiss_target(const std::string& spec,
                                                         const FloatMatrix& base,
                                                         int64_t train_size);

}  // namespace vista::indexbench
