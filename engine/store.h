// Store: a collection's RocksDB database and its column families.
//
//   documents  internal id (8-byte big-endian) -> document record (CBOR: external id,
//              metadata, text, source, content hash, timestamps)
//   vectors    internal id (8-byte big-endian) -> dimension float32 values, little-endian
//   ids        external id (UTF-8 bytes)       -> internal id (8-byte big-endian)
//   changes    commit sequence (8-byte BE)     -> change-log entry: internal ids removed and
//              added by that batch (see engine/collection.h for how replay uses it)
//   meta       "config" -> collection config JSON; "sequence", "next_id" -> uint64 BE;
//              "import/<segment id>" -> JSON record of an imported segment (engine/segment.h)
//
// Big-endian keys make RocksDB's bytewise order the numeric order, so iterating `changes` from
// seq+1 yields the batches after a snapshot in commit order.
//
// The WAL is always on. sync decides whether each write is fsynced (see CollectionOptions).
// Thread-safety: RocksDB's own guarantees apply; every method may be called concurrently.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "common/status.h"

namespace vista::engine {

enum class Family { kDocuments = 0, kVectors, kIds, kChanges, kMeta };
inline constexpr int kFamilyCount = 5;
std::string_view family_name(Family f);

struct StoreOptions {
  bool create_if_missing = false;
  bool sync_writes = true;
  size_t block_cache_bytes = 64u << 20;
};

class Store {
 public:
  // Opens (or creates) the database at `dir` with all column families. NotFound when it does
  // not exist and create_if_missing is false; Corruption / IOError with RocksDB's message.
  static Result<std::unique_ptr<Store>> open(const std::filesystem::path& dir,
                                             const StoreOptions& options);
  ~Store();

  // OK with the value, NotFound when the key is absent, IOError/Corruption otherwise.
  Status get(Family family, std::string_view key, std::string* value) const;
  // Commits the batch atomically (WAL, fsync per options).
  Status write(rocksdb::WriteBatch* batch);
  // An iterator over one family (caller owns it; it must die before the Store).
  std::unique_ptr<rocksdb::Iterator> iterator(Family family) const;

  rocksdb::ColumnFamilyHandle* handle(Family family) const;
  rocksdb::DB* db() const { return db_.get(); }
  // Flushes memtables and closes; later calls fail. Idempotent.
  Status close();

  // Key encodings shared by the collection and tests.
  static std::string encode_u64(uint64_t v);
  static bool decode_u64(std::string_view bytes, uint64_t* v);

 private:
  Store() = default;
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::ColumnFamilyHandle* handles_[kFamilyCount] = {};
  bool sync_writes_ = true;
};

// Turns a RocksDB status into ours, prefixed with what was being done.
Status from_rocksdb(const rocksdb::Status& s, std::string_view context);

}  // namespace vista::engine
