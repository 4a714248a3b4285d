#include "api/image_store.h"

#include <fcntl.h>
#include <openssl/evp.h>
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

namespace vista::api {

namespace fs = std::filesystem;

namespace {

Status fsync_path(const fs::path& p, bool directory) {
  int fd = ::open(p.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return Status::io_error("cannot open " + p.string() + ": " + std::strerror(errno));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Status::io_error("cannot fsync " + p.string() + ": " + std::strerror(errno));
  return Status::ok();
}

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
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  const std::string tag = "vista-image-v1";
  auto field = [&](std::string_view f) {
    const uint64_t n = f.size();
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (56 - 8 * i));
    EVP_DigestUpdate(ctx, len, 8);
    EVP_DigestUpdate(ctx, f.data(), f.size());
  };
  field(tag);
  field(id);
  field(bytes);
  EVP_DigestFinal_ex(ctx, digest, &size);
  EVP_MD_CTX_free(ctx);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
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

void ImageStore::sweep(const std::vector<Bucket>& live) {
  std::error_code ec;
  for (auto it = fs::directory_iterator(root_, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const std::string n = it->path().filename().string();
    const bool keep = std::any_of(live.begin(), live.end(), [&](const Bucket& b) {
      return n == b.collection + "@" + std::to_string(b.created_at_ms);
    });
    std::error_code e2;
    if (!keep) {
      spdlog::info("removing images of a collection that no longer exists: {}",
                   it->path().string());
      fs::remove_all(it->path(), e2);
      continue;
    }
    // Temp files of writes interrupted by a crash.
    std::vector<fs::path> leftovers;
    for (auto f = fs::recursive_directory_iterator(it->path(), e2);
         !e2 && f != fs::recursive_directory_iterator(); f.increment(e2)) {
      if (f->path().filename().string().rfind(".tmp-", 0) == 0) leftovers.push_back(f->path());
    }
    for (const auto& f : leftovers) fs::remove(f, e2);
  }
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

}  // namespace vista::api
