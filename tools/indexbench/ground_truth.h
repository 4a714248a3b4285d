// Exact neighbours and recall: the reference every approximate index is measured against.
//
// Similarity is the inner product, as in every Vista collection (cosine for unit vectors).
// Thread-safety: free functions with no shared state; exact_neighbors uses FAISS's OpenMP threads.
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "tools/indexbench/vecs_io.h"

namespace vista::indexbench {

// A returned vector whose exact similarity is within this of the r-th true neighbour's counts as
// a true neighbour: float rounding in different search kernels may order near-ties differently,
// and such a vector is as good an answer as the one it displaced.
inline constexpr double kRecallTieTolerance = 1e-5;

// The k highest inner products of each query among the base rows (row numbers, best first).
// InvalidArgument when the dimensions differ, k < 1 or k > base.rows; Internal if FAISS fails.
Result<IdMatrix> exact_neighbors(const FloatMatrix& base, const FloatMatrix& queries, int k);

// Checks a ground-truth matrix read from a file against the data it is meant for: at least
// `queries` rows, at least k columns, every id in [0, base_rows). InvalidArgument names the row
// and column at fault.
Status check_ground_truth(const IdMatrix& truth, int64_t queries, int64_t base_rows, int k);

// recall@r averaged over the queries: the share of the first r returned labels of each query
// that are among its r true neighbours (or tie with the r-th, see kRecallTieTolerance).
// `labels` holds queries.rows rows of `stride` labels each (stride >= r; -1 marks a missing
// hit, which counts as a miss). Requires truth.dim >= r.
double recall_at(const FloatMatrix& base, const FloatMatrix& queries, const IdMatrix& truth,
                 const std::vector<int64_t>& labels, int stride, int r);

}  // namespace vista::indexbench
