#include "tools/indexbench/ground_truth.h"

#include <faiss/utils/distances.h>

#include <algorithm>
#include <exception>
#include <string>

namespace vista::indexbench {
namespace {

double dot(const float* a, const float* b, int dim) {
  double s = 0;
  for (int i = 0; i < dim; ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

}  // namespace

Result<IdMatrix> exact_neighbors(const FloatMatrix& base, const FloatMatrix& queries, int k) {
  if (base.dim != queries.dim) {
    return Status::invalid_argument("queries have dimension " + std::to_string(queries.dim) +
                                    ", the base vectors " + std::to_string(base.dim));
  }
  if (k < 1 || k > base.rows) {
    return Status::invalid_argument("k must be 1.." + std::to_string(base.rows) +
                                    " (the number of base vectors), got " + std::to_string(k));
  }
  std::vector<float> distances(static_cast<size_t>(queries.rows) * k);
  std::vector<int64_t> labels(static_cast<size_t>(queries.rows) * k);
  try {
    faiss::knn_inner_product(queries.values.data(), base.values.data(), base.dim, queries.rows,
                             base.rows, k, distances.data(), labels.data());
  } catch (const std::exception& e) {
    return Status::internal(std::string("exact search failed: ") + e.what());
  }
  IdMatrix truth(queries.rows, k);
  for (size_t i = 0; i < labels.size(); ++i) truth.values[i] = static_cast<int32_t>(labels[i]);
  return truth;
}

Status check_ground_truth(const IdMatrix& truth, int64_t queries, int64_t base_rows, int k) {
  if (truth.rows < queries) {
    return Status::invalid_argument("ground truth has " + std::to_string(truth.rows) +
                                    " rows, fewer than the " + std::to_string(queries) +
                                    " queries");
  }
  if (truth.dim < k) {
    return Status::invalid_argument("ground truth lists " + std::to_string(truth.dim) +
                                    " neighbours per query, fewer than k = " + std::to_string(k));
  }
  for (int64_t q = 0; q < queries; ++q) {
    for (int j = 0; j < k; ++j) {
      const int32_t id = truth.row(q)[j];
      if (id < 0 || id >= base_rows) {
        return Status::invalid_argument("ground truth row " + std::to_string(q) + " column " +
                                        std::to_string(j) + " names vector " + std::to_string(id) +
                                        ", outside the " + std::to_string(base_rows) +
                                        " base vectors");
      }
    }
  }
  return Status::ok();
}

double recall_at(const FloatMatrix& base, const FloatMatrix& queries, const IdMatrix& truth,
                 const std::vector<int64_t>& labels, int stride, int r) {
  if (queries.rows == 0 || r < 1) return 0.0;
  int64_t hits = 0;
  for (int64_t q = 0; q < queries.rows; ++q) {
    const int32_t* exact = truth.row(q);
    const float* query = queries.row(q);
    const double threshold = dot(query, base.row(exact[r - 1]), base.dim) - kRecallTieTolerance;
    const int64_t* got = labels.data() + q * stride;
    for (int j = 0; j < r; ++j) {
      const int64_t id = got[j];
      if (id < 0 || id >= base.rows) continue;
      if (std::find(exact, exact + r, id) != exact + r ||
          dot(query, base.row(id), base.dim) >= threshold) {
        ++hits;
      }
    }
  }
  return static_cast<double>(hits) / (static_cast<double>(queries.rows) * r);
}

}  // namespace vista::indexbench
