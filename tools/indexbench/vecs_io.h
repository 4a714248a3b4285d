// Dense matrices and the .fvecs / .ivecs / .bvecs files of the public ANN datasets.
//
// Format (SIFT1M, GIST1M, Deep1B, ...): a sequence of records, each a little-endian int32
// dimension d followed by d values: float32 (.fvecs), int32 (.ivecs, e.g. ground-truth neighbour
// ids) or uint8 (.bvecs, SIFT1B). Every record of a file has the same d. There is no header, so a
// damaged file is recognised only by an inconsistent dimension or a short last record; readers
// check both and name the record and byte offset at fault.
//
// Thread-safety: free functions with no shared state.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "common/limits.h"
#include "common/status.h"

namespace vista::indexbench {

// Largest dimension a reader accepts; beyond it a "dimension" is taken as a sign of garbage.
inline constexpr int kMaxVecsDimension = kMaxDimension;

// Row-major rows x dim matrix.
template <typename T>
struct Matrix {
  int64_t rows = 0;
  int dim = 0;
  std::vector<T> values;  // rows * dim

  Matrix() = default;
  Matrix(int64_t r, int d) : rows(r), dim(d), values(static_cast<size_t>(r) * d) {}
  T* row(int64_t i) { return values.data() + i * dim; }
  const T* row(int64_t i) const { return values.data() + i * dim; }
};

using FloatMatrix = Matrix<float>;
using IdMatrix = Matrix<int32_t>;

// Reads up to max_rows records (all when max_rows < 0).
// NotFound / IOError when the file cannot be opened or read. Corruption, naming the file, the
// record and its byte offset, when: the file is empty, a dimension is outside 1..65536, a record
// declares a different dimension than the first one, the last record is truncated, or (fvecs) a
// value is NaN or infinite.
Result<FloatMatrix> read_fvecs(const std::filesystem::path& path, int64_t max_rows = -1);
Result<IdMatrix> read_ivecs(const std::filesystem::path& path, int64_t max_rows = -1);
// uint8 components widened to float.
Result<FloatMatrix> read_bvecs(const std::filesystem::path& path, int64_t max_rows = -1);

// Reads .fvecs or .bvecs by extension; InvalidArgument for any other extension.
Result<FloatMatrix> read_vectors(const std::filesystem::path& path, int64_t max_rows = -1);

// Writes every row. The file is written beside `path` and renamed over it, so a failed write
// leaves any previous file intact. InvalidArgument for a matrix with dim < 1 or values.size() !=
// rows * dim; IOError when the file cannot be written.
Status write_fvecs(const std::filesystem::path& path, const FloatMatrix& m);
Status write_ivecs(const std::filesystem::path& path, const IdMatrix& m);

}  // namespace vista::indexbench
