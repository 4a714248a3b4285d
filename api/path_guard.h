// PathGuard: server-side image paths, confined to configured root folders.
//
// A client may name an image on the server (`image_path`) only inside security.image_roots.
// The check, in order:
//   1. the path is absolute, non-empty, without NUL bytes and without any ".." component
//      (refused outright, even when it would stay inside a root);
//   2. lexically it lies inside a root: nothing outside the roots is ever touched, so the answer
//      cannot be used to probe which files exist elsewhere;
//   3. its canonical form (every symlink resolved) still lies inside that root's canonical
//      form: a symlink inside a root that points outside is refused;
//   4. the file is opened component by component from the root with O_NOFOLLOW, so a symlink
//      swapped in after step 3 is not followed either (no check-then-use race).
// Failures: PermissionDenied for 1-4 (outside the roots, "..", escaping symlink), NotFound when
// the file does not exist, InvalidArgument when it is not a regular file, ResourceExhausted
// when larger than `max_bytes`.
//
// Thread-safety: immutable after construction; all methods may be called concurrently.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/status.h"

namespace vista::api {

struct ConfinedFile {
  std::filesystem::path canonical_path;  // what the document records as its source
  std::string bytes;
};

class PathGuard {
 public:
  // Roots must exist; they are canonicalised once here. InvalidArgument naming a bad root.
  static Result<PathGuard> create(const std::vector<std::filesystem::path>& roots);

  bool enabled() const { return !roots_.empty(); }

  // Steps 1-3: the canonical path of an existing file inside a root.
  Result<std::filesystem::path> resolve(const std::string& path) const;

  // Steps 1-4 and reading the whole file.
  Result<ConfinedFile> read(const std::string& path, uint64_t max_bytes) const;

 private:
  explicit PathGuard(std::vector<std::filesystem::path> roots) : roots_(std::move(roots)) {}
  std::vector<std::filesystem::path> roots_;  // canonical
};

}  // namespace vista::api
