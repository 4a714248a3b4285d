#include "engine/store.h"

#include <rocksdb/cache.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>

#include <vector>

#include "common/logging.h"

namespace vista::engine {

namespace fs = std::filesystem;

namespace {
constexpr std::string_view kFamilyNames[kFamilyCount] = {"documents", "vectors", "ids", "changes",
                                                         "meta"};
}

std::string_view family_name(Family f) {
  return kFamilyNames[static_cast<int>(f)];
}

Status from_rocksdb(const rocksdb::Status& s, std::string_view context) {
  if (s.ok()) return Status::ok();
  std::string m = std::string(context) + ": " + s.ToString();
  if (s.IsNotFound()) return Status::not_found(m);
  if (s.IsCorruption()) return Status::corruption(m);
  if (s.IsInvalidArgument()) return Status::invalid_argument(m);
  if (s.IsNotSupported()) return Status::unsupported(m);
  if (is_lock_held(s)) {
    return Status::failed_precondition(m + " (is the collection open in another process?)",
                                       StatusSubCode::kLockHeld);
  }
  if (s.IsIOError()) return Status::io_error(m);
  return Status::internal(m);
}

bool is_lock_held(const rocksdb::Status& s) {
  // RocksDB 7.x: "IO error: While lock file: <dir>/LOCK: Resource temporarily unavailable", or
  // "IO error: lock hold by current process, acquire time ... lock file: <dir>/LOCK: No locks
  // available".
  return s.IsIOError() && s.ToString().find("lock") != std::string::npos;
}

Result<std::unique_ptr<Store>> Store::open(const fs::path& dir, const StoreOptions& options) {
  std::error_code ec;
  const bool exists = fs::exists(dir / "CURRENT", ec);
  if (!exists && !options.create_if_missing) {
    return Status::not_found("no database at " + dir.string());
  }
  rocksdb::Options db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = true;
  db_options.paranoid_checks = true;
  // Our WriteBatches are the unit of atomicity; the WAL must replay them whole or not at all.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  db_options.keep_log_file_num = 2;
  db_options.max_background_jobs = 2;

  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, cf_options);
  for (auto name : kFamilyNames) descriptors.emplace_back(std::string(name), cf_options);

  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, dir.string(), descriptors, &handles, &raw);
  if (!s.ok()) return from_rocksdb(s, "cannot open database " + dir.string());
  std::unique_ptr<Store> store(new Store());
  store->db_.reset(raw);
  store->sync_writes_ = options.sync_writes;
  // handles[0] is the default family, owned by the DB.
  for (int i = 0; i < kFamilyCount; ++i) store->handles_[i] = handles[i + 1];
  if (handles[0] != raw->DefaultColumnFamily()) raw->DestroyColumnFamilyHandle(handles[0]);
  return store;
}

Store::~Store() {
  Status st = close();
  if (!st.is_ok()) spdlog::error("closing database: {}", st.message());
}

Status Store::close() {
  if (!db_) return Status::ok();
  for (auto*& h : handles_) {
    if (h) db_->DestroyColumnFamilyHandle(h);
    h = nullptr;
  }
  rocksdb::Status s = db_->Close();
  db_.reset();
  return from_rocksdb(s, "closing database");
}

Status Store::get(Family family, std::string_view key, std::string* value) const {
  if (!db_) return Status::failed_precondition("database is closed");
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), handle(family),
                               rocksdb::Slice(key.data(), key.size()), value);
  if (s.IsNotFound()) return Status::not_found(std::string(family_name(family)) + " key not found");
  return from_rocksdb(s, "reading " + std::string(family_name(family)));
}

Status Store::write(rocksdb::WriteBatch* batch) {
  if (!db_) return Status::failed_precondition("database is closed");
  rocksdb::WriteOptions wo;
  wo.sync = sync_writes_;
  wo.disableWAL = false;
  return from_rocksdb(db_->Write(wo, batch), "writing batch");
}

std::unique_ptr<rocksdb::Iterator> Store::iterator(Family family) const {
  return std::unique_ptr<rocksdb::Iterator>(
      db_->NewIterator(rocksdb::ReadOptions(), handle(family)));
}

rocksdb::ColumnFamilyHandle* Store::handle(Family family) const {
  return handles_[static_cast<int>(family)];
}

std::string Store::encode_u64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return out;
}

bool Store::decode_u64(std::string_view bytes, uint64_t* v) {
  if (bytes.size() != 8) return false;
  uint64_t r = 0;
  for (unsigned char c : bytes) r = (r << 8) | c;
  *v = r;
  return true;
}

}  // namespace vista::engine
