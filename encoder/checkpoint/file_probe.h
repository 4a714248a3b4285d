// Internal to the checkpoint module: the checks every reader does before parsing a file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "common/status.h"

namespace vista::encoder::detail {

// The first bytes of a weights file and its size. NotFound when it does not exist, IOError when
// it is not a regular file or cannot be read, Corruption when it is empty.
struct FileProbe {
  uint64_t size = 0;
  std::string head;  // up to the first 16 bytes
};
Result<FileProbe> probe_file(const std::filesystem::path& file);

}  // namespace vista::encoder::detail
