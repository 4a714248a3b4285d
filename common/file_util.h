// Durable file operations shared by every module that writes files it must find again after a
// crash (collections, the catalog, the image store).
#pragma once

#include <filesystem>
#include <string_view>

#include "common/status.h"

namespace vista {

// fsyncs a file, or a directory (which makes renames and unlinks inside it durable). IOError
// naming the path when it cannot be opened or synced.
Status fsync_path(const std::filesystem::path& path, bool directory);

// Replaces `path` with `content` so that a crash leaves either the old or the new file, never a
// mix: writes <path>.tmp, fsyncs it, renames it over `path`, fsyncs the folder. IOError naming
// the file on failure (the old file is kept).
Status write_file_atomically(const std::filesystem::path& path, std::string_view content);

}  // namespace vista
