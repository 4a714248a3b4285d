// Durable file writes shared by the engine's on-disk formats (collections, segments).
#pragma once

#include <filesystem>
#include <string>

#include "common/status.h"

namespace vista::engine {

// fsyncs a file or (directory = true) a directory entry list. IOError naming the path.
Status fsync_path(const std::filesystem::path& path, bool directory);

// Writes `content` to path + ".tmp", fsyncs it, renames it over `path` and fsyncs the folder:
// readers see the old file or the whole new one, also after a crash. IOError naming the file.
Status write_file_atomically(const std::filesystem::path& path, const std::string& content);

}  // namespace vista::engine
