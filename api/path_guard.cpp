#include "api/path_guard.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vista::api {

namespace fs = std::filesystem;

namespace {

// True when `path` is `root` or below it (both normalised, absolute, without trailing slash
// issues: compared component by component).
bool is_within(const fs::path& path, const fs::path& root) {
  auto p = path.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++p) {
    if (r->empty()) continue;  // a trailing "/" in root yields an empty last component
    if (p == path.end() || *p != *r) return false;
  }
  return true;
}

Status outside(const std::string& path) {
  return Status::permission_denied("image_path '" + path +
                                   "' is outside the folders this server may read "
                                   "(security.image_roots)");
}

// Closes a descriptor when it goes out of scope.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

}  // namespace

Result<PathGuard> PathGuard::create(const std::vector<fs::path>& roots) {
  std::vector<fs::path> canonical;
  for (const auto& root : roots) {
    std::error_code ec;
    fs::path c = fs::canonical(root, ec);
    if (ec || !fs::is_directory(c, ec))
      return Status::invalid_argument("image root '" + root.string() +
                                      "' is not an existing folder");
    canonical.push_back(c);
  }
  return PathGuard(std::move(canonical));
}

Result<fs::path> PathGuard::resolve(const std::string& path) const {
  if (roots_.empty())
    return Status::permission_denied(
        "image_path is disabled on this server (no security.image_roots configured)");
  if (path.empty()) return Status::invalid_argument("image_path is empty");
  if (path.find('\0') != std::string::npos) return outside(path);
  const fs::path p(path);
  if (!p.is_absolute())
    return Status::invalid_argument("image_path '" + path + "' must be an absolute path");
  for (const auto& part : p)
    if (part == "..") return outside(path);
  const fs::path lexical = p.lexically_normal();
  const fs::path* root = nullptr;
  for (const auto& r : roots_)
    if (is_within(lexical, r)) root = &r;
  if (!root) return outside(path);

  std::error_code ec;
  fs::path canonical = fs::canonical(lexical, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory)
      return Status::not_found("image_path '" + path + "' does not exist");
    return Status::invalid_argument("image_path '" + path +
                                    "' cannot be resolved: " + ec.message());
  }
  if (!is_within(canonical, *root)) return outside(path);
  if (!fs::is_regular_file(canonical, ec))
    return Status::invalid_argument("image_path '" + path + "' is not a regular file");
  return canonical;
}

Result<ConfinedFile> PathGuard::read(const std::string& path, uint64_t max_bytes) const {
  VISTA_ASSIGN_OR_RETURN(fs::path canonical, resolve(path));
  const fs::path* root = nullptr;
  for (const auto& r : roots_)
    if (is_within(canonical, r)) {
      root = &r;
      break;
    }
  if (!root) return outside(path);

  // Walk from the root, never following a symlink, so what is read is what was checked.
  Fd dir(::open(root->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.fd < 0) return Status::io_error("cannot open image root " + root->string());
  const fs::path rel = canonical.lexically_relative(*root);
  std::vector<std::string> parts;
  for (const auto& part : rel) parts.push_back(part.string());
  if (parts.empty()) return Status::invalid_argument("image_path '" + path + "' is a folder");
  int current = dir.fd;
  std::vector<std::unique_ptr<Fd>> held;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    int next = ::openat(current, parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) return outside(path);
    held.push_back(std::make_unique<Fd>(next));
    current = next;
  }
  Fd file(::openat(current, parts.back().c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (file.fd < 0) {
    if (errno == ELOOP) return outside(path);
    if (errno == ENOENT) return Status::not_found("image_path '" + path + "' does not exist");
    return Status::io_error("cannot open " + canonical.string() + ": " + std::strerror(errno));
  }
  struct stat st;
  if (::fstat(file.fd, &st) != 0 || !S_ISREG(st.st_mode))
    return Status::invalid_argument("image_path '" + path + "' is not a regular file");
  if (static_cast<uint64_t>(st.st_size) > max_bytes)
    return Status::resource_exhausted("image_path '" + path + "' is " + std::to_string(st.st_size) +
                                      " bytes; the limit is " + std::to_string(max_bytes));
  ConfinedFile out;
  out.canonical_path = canonical;
  out.bytes.resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < out.bytes.size()) {
    ssize_t n = ::read(file.fd, out.bytes.data() + done, out.bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return Status::io_error("cannot read " + canonical.string() + ": " + std::strerror(errno));
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  out.bytes.resize(done);
  return out;
}

}  // namespace vista::api
