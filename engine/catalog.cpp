#include "engine/catalog.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "common/logging.h"
#include "engine/durable_file.h"

namespace vista::engine {

namespace fs = std::filesystem;

namespace {
constexpr size_t kMaxNameLength = 64;

}  // namespace

Catalog::Catalog(fs::path data_dir, CatalogOptions options)
    : data_dir_(std::move(data_dir)), options_(std::move(options)) {}

Catalog::~Catalog() {
  Status st = close();
  if (!st.is_ok()) spdlog::error("closing catalog {}: {}", data_dir_.string(), st.message());
}

Status Catalog::validate_name(std::string_view name) {
  const std::string rule =
      "collection names are 1-64 characters from A-Z a-z 0-9 _ -, starting with a letter or digit";
  if (name.empty() || name.size() > kMaxNameLength) {
    return Status::invalid_argument("invalid collection name (" + std::to_string(name.size()) +
                                    " characters): " + rule);
  }
  for (char ch : name) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
    if (!ok)
      return Status::invalid_argument("invalid collection name '" + std::string(name) +
                                      "': " + rule);
  }
  if (name[0] == '-' || name[0] == '_') {
    return Status::invalid_argument("invalid collection name '" + std::string(name) + "': " + rule);
  }
  return Status::ok();
}

Result<std::unique_ptr<Catalog>> Catalog::open(const fs::path& data_dir,
                                               const CatalogOptions& options) {
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec)
    return Status::io_error("cannot create data directory " + data_dir.string() + ": " +
                            ec.message());
  if (!fs::is_directory(data_dir, ec)) {
    return Status::io_error("data directory " + data_dir.string() + " is not a directory");
  }
  // Leftovers of an interrupted create or drop are never collections.
  for (auto it = fs::directory_iterator(data_dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const std::string n = it->path().filename().string();
    if (n.rfind(".creating-", 0) == 0 || n.rfind(".dropped-", 0) == 0) {
      spdlog::warn("removing leftover {} from an interrupted create/drop", it->path().string());
      std::error_code e2;
      fs::remove_all(it->path(), e2);
    }
  }
  return std::unique_ptr<Catalog>(new Catalog(data_dir, options));
}

Result<std::shared_ptr<Collection>> Catalog::create(const std::string& name,
                                                    const CollectionConfig& config) {
  VISTA_RETURN_IF_ERROR(validate_name(name));
  std::lock_guard lock(mutex_);
  if (closed_) return Status::failed_precondition("catalog is closed");
  if (open_.count(name) || fs::exists(data_dir_ / name)) {
    return Status::already_exists("collection '" + name + "' already exists");
  }
  VISTA_ASSIGN_OR_RETURN(auto collection,
                         Collection::create(data_dir_ / name, name, config, options_.collection));
  open_[name] = collection;
  spdlog::info("created collection '{}' (dimension {}, index '{}', model {})", name,
               config.dimension, config.index_spec, config.model.to_string());
  return collection;
}

Status Catalog::check_exists(const fs::path& data_dir, const std::string& name) {
  VISTA_RETURN_IF_ERROR(validate_name(name));
  std::error_code ec;
  if (!fs::is_directory(data_dir / name / "rocksdb", ec))
    return Status::not_found("collection '" + name + "' does not exist");
  return Status::ok();
}

Result<std::shared_ptr<Collection>> Catalog::get(const std::string& name) {
  VISTA_RETURN_IF_ERROR(validate_name(name));
  std::lock_guard lock(mutex_);
  if (closed_) return Status::failed_precondition("catalog is closed");
  auto it = open_.find(name);
  if (it != open_.end()) return it->second;
  if (auto failed = failed_.find(name); failed != failed_.end()) return failed->second;
  VISTA_RETURN_IF_ERROR(check_exists(data_dir_, name));
  auto opened = Collection::open(data_dir_ / name, name, options_.collection);
  if (!opened.is_ok()) {
    // Remembered, so that a collection whose files crash or fail is not opened again on every
    // request, and reported with the reason until it is dropped.
    Status failed =
        opened.status().with_context("collection '" + name + "' failed to open and is not served");
    spdlog::error("{}", failed.to_string());
    failed_[name] = failed;
    return failed;
  }
  open_[name] = *opened;
  return std::move(opened).value();
}

Result<std::vector<std::string>> Catalog::list() const {
  std::vector<std::string> names;
  std::error_code ec;
  for (auto it = fs::directory_iterator(data_dir_, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const std::string n = it->path().filename().string();
    if (check_exists(data_dir_, n).is_ok()) names.push_back(n);
  }
  if (ec) return Status::io_error("cannot list " + data_dir_.string() + ": " + ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::vector<CollectionInfo>> Catalog::list_info() {
  std::vector<CollectionInfo> out;
  VISTA_ASSIGN_OR_RETURN(auto entries, list_entries());
  for (auto& e : entries)
    if (e.info) out.push_back(std::move(*e.info));
  return out;
}

Result<std::vector<CatalogEntry>> Catalog::list_entries() {
  VISTA_ASSIGN_OR_RETURN(auto names, list());
  std::vector<CatalogEntry> out;
  for (const auto& n : names) {
    auto c = get(n);
    if (c.is_ok()) {
      out.push_back({n, (*c)->info(), Status::ok()});
    } else if (c.status().code() != StatusCode::kNotFound) {  // NotFound: dropped meanwhile
      out.push_back({n, std::nullopt, c.status()});
    }
  }
  return out;
}

Status Catalog::drop(const std::string& name) {
  VISTA_RETURN_IF_ERROR(validate_name(name));
  std::lock_guard lock(mutex_);
  if (closed_) return Status::failed_precondition("catalog is closed");
  const fs::path dir = data_dir_ / name;
  VISTA_RETURN_IF_ERROR(check_exists(data_dir_, name));
  failed_.erase(name);
  auto it = open_.find(name);
  if (it != open_.end()) {
    Status st = it->second->close();
    if (!st.is_ok())
      spdlog::warn("dropping collection '{}': close reported {}", name, st.message());
    open_.erase(it);
  }
  const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
  const fs::path hidden = data_dir_ / (".dropped-" + name + "-" + std::to_string(stamp));
  std::error_code ec;
  fs::rename(dir, hidden, ec);
  if (ec) return Status::io_error("cannot drop collection '" + name + "': " + ec.message());
  VISTA_RETURN_IF_ERROR(fsync_path(data_dir_, /*directory=*/true));
  fs::remove_all(hidden, ec);
  if (ec)
    spdlog::warn("collection '{}' dropped, but removing {} failed: {}", name, hidden.string(),
                 ec.message());
  spdlog::info("dropped collection '{}'", name);
  return Status::ok();
}

Status Catalog::close() {
  std::lock_guard lock(mutex_);
  if (closed_) return Status::ok();
  closed_ = true;
  Status first;
  for (auto& [name, c] : open_) {
    Status st = c->close();
    if (!st.is_ok() && first.is_ok()) first = st.with_context("collection '" + name + "'");
  }
  open_.clear();
  return first;
}

}  // namespace vista::engine
