#include "encoder/checkpoint/file_probe.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <system_error>

namespace vista::encoder::detail {

Result<FileProbe> probe_file(const std::filesystem::path& file) {
  std::error_code ec;
  auto status = std::filesystem::status(file, ec);
  if (ec || !std::filesystem::exists(status)) {
    if (ec && ec != std::errc::no_such_file_or_directory) {
      return Status::io_error(file.string() + ": " + ec.message());
    }
    return Status::not_found(file.string() + ": no such weights file");
  }
  if (!std::filesystem::is_regular_file(status)) {
    return Status::io_error(file.string() + ": not a regular file");
  }
  FileProbe probe;
  probe.size = std::filesystem::file_size(file, ec);
  if (ec) return Status::io_error(file.string() + ": " + ec.message());
  if (probe.size == 0) return Status::corruption(file.string() + ": weights file is empty");

  std::ifstream in(file, std::ios::binary);
  if (!in) return Status::io_error(file.string() + ": cannot open: " + std::strerror(errno));
  char buf[16];
  in.read(buf, sizeof(buf));
  if (in.bad()) return Status::io_error(file.string() + ": read failed");
  probe.head.assign(buf, static_cast<size_t>(in.gcount()));
  return probe;
}

}  // namespace vista::encoder::detail
