#include "engine/image_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>

#include "common/logging.h"
#include "engine/durable_file.h"
#include "engine/sha256.h"

namespace vista::engine {

namespace fs = std::filesystem;

namespace {

bool is_hex_name(const std::string& name) {
  if (name.size() != 64) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

Result<std::unique_ptr<ImageStore>> ImageStore::open(const fs::path& data_dir, bool sync_writes) {
  fs::path root = data_dir / "_images";
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return Status::io_error("cannot create " + root.string() + ": " + ec.message());
  return std::unique_ptr<ImageStore>(new ImageStore(root, sync_writes));
}

std::string ImageStore::blob_name(std::string_view id, std::string_view bytes) {
  // Big-endian length prefixes: the encoding blob names on disk were made with.
  Sha256 h;
  auto field = [&](std::string_view f) {
    const uint64_t n = f.size();
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (56 - 8 * i));
    h.update(len, sizeof len);
    h.update(f);
  };
  field("vista-image-v1");
  field(id);
  field(bytes);
  return h.hex_digest();
}

std::optional<std::string> ImageStore::blob_of(const std::optional<std::string>& source) {
  if (!source || source->rfind("blob:", 0) != 0) return std::nullopt;
  std::string name = source->substr(5);
  if (!is_hex_name(name)) return std::nullopt;
  return name;
}

fs::path ImageStore::folder(const Bucket& bucket) const {
  return root_ / (bucket.collection + "@" + std::to_string(bucket.created_at_ms));
}

fs::path ImageStore::path(const Bucket& bucket, const std::string& name) const {
  return folder(bucket) / name.substr(0, 2) / name;
}

bool ImageStore::exists(const Bucket& bucket, const std::string& name) const {
  std::error_code ec;
  return is_hex_name(name) && fs::is_regular_file(path(bucket, name), ec);
}

Status ImageStore::put(const Bucket& bucket, const std::string& name, std::string_view bytes) {
  if (!is_hex_name(name)) return Status::internal("bad blob name " + name);
  const fs::path target = path(bucket, name);
  std::error_code ec;
  if (fs::is_regular_file(target, ec)) return Status::ok();
  const fs::path dir = target.parent_path();
  fs::create_directories(dir, ec);
  if (ec) return Status::io_error("cannot create " + dir.string() + ": " + ec.message());
  static std::atomic<uint64_t> counter{0};
  const fs::path tmp = dir / (".tmp-" + std::to_string(::getpid()) + "-" +
                              std::to_string(counter.fetch_add(1)) + "-" + name);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    return Status::io_error("cannot create " + tmp.string() + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = Status::io_error("cannot write " + tmp.string() + ": " + std::strerror(errno));
      ::close(fd);
      fs::remove(tmp, ec);
      return s;
    }
    done += static_cast<size_t>(n);
  }
  if (sync_ && ::fsync(fd) != 0) {
    Status s = Status::io_error("cannot fsync " + tmp.string() + ": " + std::strerror(errno));
    ::close(fd);
    fs::remove(tmp, ec);
    return s;
  }
  ::close(fd);
  fs::rename(tmp, target, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return Status::io_error("cannot rename into " + target.string());
  }
  if (sync_) return fsync_path(dir, /*directory=*/true);
  return Status::ok();
}

Result<std::string> ImageStore::get(const Bucket& bucket, const std::string& name) const {
  if (!is_hex_name(name)) return Status::not_found("no stored image");
  std::ifstream in(path(bucket, name), std::ios::binary);
  if (!in) return Status::not_found("the stored image is missing");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status ImageStore::remove(const Bucket& bucket, const std::string& name) {
  if (!is_hex_name(name)) return Status::ok();
  std::error_code ec;
  fs::remove(path(bucket, name), ec);
  if (ec) return Status::io_error("cannot remove image blob " + name + ": " + ec.message());
  return Status::ok();
}

Status ImageStore::drop(const Bucket& bucket) {
  std::error_code ec;
  fs::remove_all(folder(bucket), ec);
  if (ec) return Status::io_error("cannot remove " + folder(bucket).string() + ": " + ec.message());
  return Status::ok();
}

std::vector<ImageStore::Bucket> ImageStore::buckets() const {
  std::vector<Bucket> out;
  std::error_code ec;
  for (auto it = fs::directory_iterator(root_, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const std::string n = it->path().filename().string();
    const size_t at = n.rfind('@');
    if (at == std::string::npos || at == 0 || at + 1 == n.size() ||
        n.find_first_not_of("0123456789", at + 1) != std::string::npos || n.size() - at > 19)
      continue;
    out.push_back({n.substr(0, at), std::stoll(n.substr(at + 1))});
  }
  return out;
}

int64_t ImageStore::sweep_unreferenced(const Bucket& bucket,
                                       const std::unordered_set<std::string>& referenced) {
  std::vector<fs::path> unreferenced;
  std::error_code ec;
  for (auto f = fs::recursive_directory_iterator(folder(bucket), ec);
       !ec && f != fs::recursive_directory_iterator(); f.increment(ec)) {
    if (!f->is_regular_file(ec)) continue;
    const std::string n = f->path().filename().string();
    // Temp files of interrupted writes, and blobs no document names (a crash between writing a
    // blob and committing its document, or between a commit and unlinking the replaced blob).
    if (n.rfind(".tmp-", 0) == 0 || (is_hex_name(n) && !referenced.count(n)))
      unreferenced.push_back(f->path());
  }
  int64_t removed = 0;
  for (const auto& f : unreferenced) {
    std::error_code e2;
    if (fs::remove(f, e2)) ++removed;
  }
  if (removed > 0)
    spdlog::info("collection '{}': removed {} stored image file(s) no document names",
                 bucket.collection, removed);
  return removed;
}

IdLocks::Guard IdLocks::lock(const std::string& collection, const std::vector<std::string>& ids) {
  std::vector<size_t> stripes;
  std::hash<std::string> h;
  for (const auto& id : ids) stripes.push_back(h(collection + '\0' + id) % kStripes);
  std::sort(stripes.begin(), stripes.end());
  stripes.erase(std::unique(stripes.begin(), stripes.end()), stripes.end());
  Guard guard;
  for (size_t s : stripes) guard.locks_.emplace_back(stripes_[s]);
  return guard;
}

}  // namespace vista::engine
