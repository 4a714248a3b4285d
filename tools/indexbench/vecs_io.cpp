#include "tools/indexbench/vecs_io.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <system_error>
#include <type_traits>

namespace vista::indexbench {
namespace fs = std::filesystem;

namespace {

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f) std::fclose(f);
  }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

std::string quoted(const fs::path& p) {
  return "'" + p.string() + "'";
}

Status open_error(const fs::path& path, int err) {
  const std::string reason = std::strerror(err);
  if (err == ENOENT) return Status::not_found("cannot open " + quoted(path) + ": " + reason);
  return Status::io_error("cannot open " + quoted(path) + ": " + reason);
}

// Reads records whose values are stored as `Stored` into a matrix of `Out`.
template <typename Stored, typename Out>
Result<Matrix<Out>> read_records(const fs::path& path, int64_t max_rows, const char* kind) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    return Status::invalid_argument(quoted(path) + " is a directory, expected a " + kind + " file");
  }
  FilePtr file(std::fopen(path.c_str(), "rb"));
  if (!file) return open_error(path, errno);
  const auto file_size = static_cast<int64_t>(fs::file_size(path, ec));
  if (ec) return Status::io_error("cannot stat " + quoted(path) + ": " + ec.message());
  if (file_size == 0)
    return Status::corruption(quoted(path) + " is empty: no " + kind + " records");

  auto corrupt = [&](int64_t record, int64_t offset, const std::string& what) {
    return Status::corruption(quoted(path) + ": record " + std::to_string(record) +
                              " at byte offset " + std::to_string(offset) + " " + what +
                              " (not a well-formed " + kind + " file)");
  };

  int32_t dim = 0;
  if (file_size < static_cast<int64_t>(sizeof dim)) {
    return corrupt(
        0, 0,
        "is truncated: " + std::to_string(file_size) + " bytes, fewer than the 4-byte dimension");
  }
  if (std::fread(&dim, sizeof dim, 1, file.get()) != 1) {
    return Status::io_error("cannot read " + quoted(path));
  }
  if (dim < 1 || dim > kMaxVecsDimension) {
    return corrupt(0, 0,
                   "declares dimension " + std::to_string(dim) + ", expected 1.." +
                       std::to_string(kMaxVecsDimension));
  }
  const int64_t record_bytes = 4 + static_cast<int64_t>(dim) * static_cast<int64_t>(sizeof(Stored));
  int64_t rows = file_size / record_bytes;
  if (file_size % record_bytes != 0) ++rows;  // the short one is reported when reached
  if (max_rows >= 0 && rows > max_rows) rows = max_rows;

  Matrix<Out> out(rows, dim);
  std::vector<Stored> buffer(static_cast<size_t>(dim));
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t offset = r * record_bytes;
    if (r > 0) {
      int32_t d = 0;
      if (std::fread(&d, sizeof d, 1, file.get()) != 1) {
        return corrupt(r, offset, "is truncated inside its 4-byte dimension");
      }
      if (d != dim) {
        return corrupt(r, offset,
                       "declares dimension " + std::to_string(d) + ", record 0 declared " +
                           std::to_string(dim));
      }
    }
    const size_t got = std::fread(buffer.data(), sizeof(Stored), buffer.size(), file.get());
    if (got != buffer.size()) {
      if (std::ferror(file.get())) return Status::io_error("cannot read " + quoted(path));
      return corrupt(r, offset,
                     "is truncated: " + std::to_string(dim) + " values expected, " +
                         std::to_string(got) + " present");
    }
    Out* dst = out.row(r);
    for (int j = 0; j < dim; ++j) {
      if constexpr (std::is_floating_point_v<Stored>) {
        if (!std::isfinite(buffer[j])) {
          return corrupt(r, offset,
                         "has a " + std::string(std::isnan(buffer[j]) ? "NaN" : "infinite") +
                             " value at component " + std::to_string(j));
        }
      }
      dst[j] = static_cast<Out>(buffer[j]);
    }
  }
  return out;
}

template <typename T>
Status write_records(const fs::path& path, const Matrix<T>& m) {
  if (m.dim < 1 || m.dim > kMaxVecsDimension) {
    return Status::invalid_argument("cannot write " + quoted(path) + ": dimension " +
                                    std::to_string(m.dim) + " outside 1.." +
                                    std::to_string(kMaxVecsDimension));
  }
  if (m.rows < 0 || m.values.size() != static_cast<size_t>(m.rows) * m.dim) {
    return Status::invalid_argument("cannot write " + quoted(path) + ": " +
                                    std::to_string(m.values.size()) + " values for " +
                                    std::to_string(m.rows) + " rows of " + std::to_string(m.dim));
  }
  fs::path tmp = path;
  tmp += ".tmp";
  {
    FilePtr file(std::fopen(tmp.c_str(), "wb"));
    if (!file) {
      return Status::io_error("cannot create " + quoted(tmp) + ": " + std::strerror(errno));
    }
    const int32_t dim = m.dim;
    for (int64_t r = 0; r < m.rows; ++r) {
      if (std::fwrite(&dim, sizeof dim, 1, file.get()) != 1 ||
          std::fwrite(m.row(r), sizeof(T), m.dim, file.get()) != static_cast<size_t>(m.dim)) {
        const std::string reason = std::strerror(errno);
        file.reset();
        std::error_code ec;
        fs::remove(tmp, ec);
        return Status::io_error("cannot write " + quoted(tmp) + ": " + reason);
      }
    }
    if (std::fflush(file.get()) != 0 || std::fclose(file.release()) != 0) {
      std::error_code ec;
      fs::remove(tmp, ec);
      return Status::io_error("cannot write " + quoted(tmp) + ": " + std::strerror(errno));
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return Status::io_error("cannot rename " + quoted(tmp) + " to " + quoted(path) + ": " +
                            ec.message());
  }
  return Status::ok();
}

}  // namespace

Result<FloatMatrix> read_fvecs(const fs::path& path, int64_t max_rows) {
  return read_records<float, float>(path, max_rows, ".fvecs");
}

Result<IdMatrix> read_ivecs(const fs::path& path, int64_t max_rows) {
  return read_records<int32_t, int32_t>(path, max_rows, ".ivecs");
}

Result<FloatMatrix> read_bvecs(const fs::path& path, int64_t max_rows) {
  return read_records<uint8_t, float>(path, max_rows, ".bvecs");
}

Result<FloatMatrix> read_vectors(const fs::path& path, int64_t max_rows) {
  const std::string ext = path.extension().string();
  if (ext == ".fvecs") return read_fvecs(path, max_rows);
  if (ext == ".bvecs") return read_bvecs(path, max_rows);
  return Status::invalid_argument("cannot read vectors from " + quoted(path) +
                                  ": expected a .fvecs or .bvecs file");
}

Status write_fvecs(const fs::path& path, const FloatMatrix& m) {
  return write_records(path, m);
}
Status write_ivecs(const fs::path& path, const IdMatrix& m) {
  return write_records(path, m);
}

}  // namespace vista::indexbench
