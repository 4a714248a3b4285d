// Collection: documents with vectors and metadata, stored in RocksDB and searched with FAISS.
//
// On disk (DATA/<collection>/):
//   meta.json           dimension, metric, index spec, model identity, format version (readable
//                       copy; the authoritative copy lives in RocksDB's meta column family)
//   rocksdb/            column families documents, vectors, ids, changes, meta
//   index/<seq>.faiss   index snapshot reflecting every change up to commit sequence <seq>
// docs/storage.md describes the layout, the key encodings and recovery in full.
//
// Durability model.
// - RocksDB is the source of truth. Every upsert/remove batch is ONE rocksdb::WriteBatch holding
//   the documents, vectors, id mappings, a change-log entry and the new counters; it is written
//   with the WAL on and, by default, sync=true (fsync before returning). A call that returned OK
//   is acknowledged: it survives a process crash (SIGKILL) and, with sync on, a power loss. A
//   call that failed changed nothing.
// - Each batch takes the next commit sequence (a counter kept in the meta family, written in the
//   same batch). We use this counter rather than RocksDB's internal sequence number because the
//   batch must contain its own sequence (as the change-log key), and the internal number is only
//   known after the write.
// - The FAISS index is a cache. snapshot() writes index/<seq>.faiss (atomic rename + fsync) for
//   the current sequence, then drops change-log entries <= seq and older snapshot files.
//   Graceful close() snapshots, and so does the write that reaches auto_snapshot_changes
//   changed vectors since the last snapshot. open() loads the newest snapshot and replays the
//   change log from seq+1: each entry lists the internal ids removed and added by one batch; added
//   vectors are read from the vectors family (a vector already gone was removed by a later entry).
//   Internal ids are never reused, so replay is idempotent and order-safe.
// - A snapshot that is corrupt (checksum/FAISS parse failure), built with another spec (a
//   rebuild that crashed before its snapshot) or newer than the store (should not happen) is
//   discarded with a warning. Without a usable snapshot the index is rebuilt from the vectors
//   family; nothing is lost either way.
// - An update of an existing external id gets a fresh internal id (old one removed). That keeps
//   tombstones (HNSW cannot remove) unambiguous.
//
// Thread-safety. All methods are safe to call from any thread. Reads (get, count, search, info)
// run concurrently with each other. Writers (upsert, remove, rebuild, snapshot) are serialised
// among themselves; a writer validates and prepares its batch without blocking anyone, then
// holds the collection's lock exclusively only while it commits the WriteBatch and applies it
// to the FAISS index and the in-memory id/metadata table. A search therefore sees all of a
// batch or none of it, and the documents it returns are the ones its index view found. Searches
// wait for that short section (one fsync with sync_writes); rebuild() and snapshot() build or
// write under a shared lock, so searches continue while they run. A writer waiting for the lock
// holds back searches that arrive after it, so a steady search load cannot starve writes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/limits.h"
#include "common/status.h"
#include "engine/filter.h"
#include "index/vector_index.h"

namespace vista::engine {

inline constexpr int kCollectionFormatVersion = 1;

// Which model produced a collection's vectors. Opaque to the engine: it is only compared, and
// only by same_model().
struct ModelIdentity {
  std::string name;             // e.g. "bge-visualized-base-en-v1.5"
  std::string checkpoint_hash;  // e.g. sha256 of the weights file
  // The one definition of "the same model", used by the collection and the engine alike: the
  // weights' fingerprint decides, so the same weights in a renamed model folder still serve a
  // collection; identities without a fingerprint compare by name.
  bool same_model(const ModelIdentity& o) const {
    if (checkpoint_hash.empty() && o.checkpoint_hash.empty()) return name == o.name;
    return checkpoint_hash == o.checkpoint_hash;
  }
  bool operator==(const ModelIdentity& o) const {
    return name == o.name && checkpoint_hash == o.checkpoint_hash;
  }
  bool operator!=(const ModelIdentity& o) const { return !(*this == o); }
  std::string to_string() const;  // "name (checkpoint <hash>)"
};

// The one id rule, for every new document and every caller that names one: 1..kMaxDocumentIdBytes
// bytes of valid UTF-8 with no control characters (C0, DEL, C1), and not "." or "..", so that
// every stored id can be addressed in a URL. InvalidArgument saying what is wrong.
Status validate_document_id(const std::string& id);
// The part of that rule that ids stored by older versions met too (length, UTF-8): reads and
// removals check only this, so that such documents can still be read and removed.
Status validate_stored_document_id(const std::string& id);

struct CollectionConfig {
  int dimension = 0;                // 1..kMaxDimension
  std::string index_spec = "Flat";  // FAISS factory string; metric is always inner product
  ModelIdentity model;
};

struct CollectionOptions {
  // fsync the WAL on every batch. Off: a process crash still loses nothing (the WAL is in the OS
  // page cache), but a power loss may drop the last batches.
  bool sync_writes = true;
  // Write an index snapshot on close() / destruction.
  bool snapshot_on_close = true;
  // When > 0, the upsert/remove that brings the number of vectors added or removed since the last
  // snapshot to this many writes a snapshot before returning, bounding the replay work after a
  // crash (replaying costs about what adding those vectors cost). The snapshot runs under the
  // writer lock (searches continue) and takes as long as writing the whole index (about 15 s
  // for 1M x 768 Flat on the reference machine). 0 leaves snapshots to snapshot() and close().
  int64_t auto_snapshot_changes = 100000;
  // RocksDB block cache for documents and vectors.
  size_t block_cache_bytes = 64u << 20;
};

// A stored document. On upsert, created_at_ms / updated_at_ms are ignored and set by the engine
// (created is kept across updates of the same id). Timestamps are milliseconds since the epoch.
struct Document {
  std::string id;             // external id: UTF-8, 1..256 bytes
  std::vector<float> vector;  // dimension floats, finite (unit length expected, not enforced)
  nlohmann::json metadata = nlohmann::json::object();  // a JSON object (null is taken as {})
  std::optional<std::string> text;
  std::optional<std::string> source;        // path or URI the document came from
  std::optional<std::string> content_hash;  // of the source bytes, for change detection
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

struct UpsertResult {
  int64_t inserted = 0;
  int64_t updated = 0;
  uint64_t sequence = 0;  // commit sequence of the batch
};

// A record committed in the same atomic batch as an upsert's documents, kept in the meta family
// under "import/" + key. engine/segment.h records every imported segment this way: the segment
// and the proof that it was imported are written together or not at all.
struct ImportMark {
  std::string key;    // 1..256 bytes
  std::string value;  // opaque to the collection
};

struct RemoveResult {
  int64_t removed = 0;
  std::vector<std::string> missing;  // ids that did not exist (not an error), in call order
  uint64_t sequence = 0;  // 0 when nothing was removed (no batch written)
};

struct SearchOptions {
  int64_t k = 10;                // 1..kMaxSearchK
  int64_t offset = 0;            // paging: leave out this many best hits; offset + k <= kMaxSearchK
  std::optional<Filter> filter;  // applied inside the FAISS search
  index::SearchParams params;    // efSearch / nprobe; zero = index default
  bool include_metadata = true;  // fill metadata/text/source/hash of each hit
  bool include_vectors = false;
};

// InvalidArgument unless k and offset are in range (the rule Collection::search applies; the
// engine checks it before encoding a query).
Status validate_search_options(const SearchOptions& options);

struct SearchHit {
  float score = 0;    // inner product (cosine for unit vectors); higher is better
  Document document;  // id always set; the rest as SearchOptions asks
};

inline constexpr int64_t kMaxListLimit = 1000;
// The most ids one list() call looks at: a sparse filter yields short pages, not long locks.
inline constexpr int64_t kMaxListScan = 10000;

// A page of documents in external-id order (bytewise), starting after `after`.
struct ListOptions {
  int64_t limit = 100;               // 1..kMaxListLimit
  std::optional<std::string> after;  // the previous page's next_after; empty: from the start
  std::optional<Filter> filter;      // only documents whose metadata match
  bool include_vectors = false;
};

struct ListPage {
  std::vector<Document> documents;
  // Where the next page starts (pass as ListOptions::after); empty at the end. A page may hold
  // fewer than `limit` documents (a sparse filter) and still have a next page.
  std::optional<std::string> next_after;
};

struct CollectionInfo {
  std::string name;
  int dimension = 0;
  std::string metric = "inner_product";
  std::string index_spec;
  ModelIdentity model;
  int format_version = kCollectionFormatVersion;
  int64_t count = 0;
  uint64_t sequence = 0;           // last committed batch
  uint64_t snapshot_sequence = 0;  // sequence of the newest index snapshot on disk (0: none)
  int64_t created_at_ms = 0;
  index::IndexStats index;
};

class Collection {
 public:
  // Creates DATA/<name> at `dir` (must not exist) and opens it. InvalidArgument for a bad
  // dimension or index spec; AlreadyExists when `dir` exists.
  static Result<std::shared_ptr<Collection>> create(const std::filesystem::path& dir,
                                                    const std::string& name,
                                                    const CollectionConfig& config,
                                                    const CollectionOptions& options = {});
  // Opens an existing collection and brings its index up to date (see recovery above).
  // NotFound when `dir` holds no collection; Corruption/Unsupported for a damaged store or a
  // newer format version.
  static Result<std::shared_ptr<Collection>> open(const std::filesystem::path& dir,
                                                  const std::string& name,
                                                  const CollectionOptions& options = {});
  ~Collection();  // close(), logging a failure instead of reporting it

  // Inserts or replaces documents, atomically: all of them or none. `model` must equal the
  // collection's model (FailedPrecondition names both otherwise). InvalidArgument, naming the
  // document index and id, for: empty or > 256-byte or non-UTF-8 id, id repeated in the batch,
  // wrong vector length, NaN/Inf component, metadata that is not an object. Empty batch: OK.
  // With `mark`, the mark is written in the same batch (also when `documents` is empty).
  Result<UpsertResult> upsert(const ModelIdentity& model, const std::vector<Document>& documents,
                              const ImportMark* mark = nullptr);

  // The value of an import mark written by upsert(), std::nullopt when there is none.
  // IOError/Corruption from the store.
  Result<std::optional<std::string>> import_mark(const std::string& key) const;

  // Looks documents up by external id; missing ids give std::nullopt in their slot.
  Result<std::vector<std::optional<Document>>> get(const std::vector<std::string>& ids,
                                                   bool include_vectors = false) const;

  // Removes documents by external id, atomically. Ids that do not exist are counted in
  // `missing`. InvalidArgument for an invalid or repeated id.
  Result<RemoveResult> remove(const std::vector<std::string>& ids);

  // External ids of every stored document, sorted bytewise.
  std::vector<std::string> document_ids() const;

  // Number of stored documents (exact; equals the RocksDB state).
  int64_t count() const;
  // Number of documents whose metadata match `filter`.
  Result<int64_t> count(const Filter& filter) const;

  // Pages through the documents in id order. Paging is stable while writes happen: ids are
  // ordered and the cursor is the last id returned, so a document present for the whole walk is
  // returned exactly once; one added or removed meanwhile appears at most once. InvalidArgument
  // for a limit out of range.
  Result<ListPage> list(const ListOptions& options) const;

  // The ids of the documents whose metadata match `filter`, sorted.
  Result<std::vector<std::string>> ids_matching(const Filter& filter) const;

  // The sources of the stored documents that start with `prefix` (from memory; no store read).
  std::vector<std::string> sources_with_prefix(std::string_view prefix) const;

  // Searches a batch of n query vectors (n * dimension floats, row-major). Returns one list per
  // query, best first, at most k hits, each hit passing the filter. `model` must equal the
  // collection's model. InvalidArgument for k out of range, non-finite components, bad params.
  Result<std::vector<std::vector<SearchHit>>> search(const ModelIdentity& model,
                                                     const float* queries, int64_t n,
                                                     const SearchOptions& options) const;

  // Builds a new index with `spec` (empty: the current spec, i.e. compaction of tombstones) from
  // every stored vector, trains it if needed, swaps it in and records the spec. Searches keep
  // using the old index meanwhile. On failure the old index and spec stay.
  Status rebuild(std::string_view spec = {});

  // Writes index/<seq>.faiss for the current sequence and trims the change log. No-op when the
  // newest snapshot is already current.
  Status snapshot();

  // Snapshots (if configured) and closes the store. Later calls on this object fail with
  // FailedPrecondition. Idempotent.
  Status close();

  CollectionInfo info() const;
  const std::string& name() const;
  const std::filesystem::path& path() const;

 private:
  struct Impl;
  explicit Collection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vista::engine
