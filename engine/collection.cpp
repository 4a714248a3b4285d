#include "engine/collection.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>

#include "common/logging.h"
#include "common/utf8.h"
#include "engine/durable_file.h"
#include "engine/store.h"
#include "index/index_spec.h"

namespace vista::engine {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int64_t kRebuildChunk = 4096;
const std::string kConfigKey = "config";
const std::string kSequenceKey = "sequence";
const std::string kNextIdKey = "next_id";
const std::string kImportMarkPrefix = "import/";

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string show_id(const std::string& id) {
  const bool cut = id.size() > 80;
  std::string q =
      json(cut ? id.substr(0, 77) : id).dump(-1, ' ', true, json::error_handler_t::replace);
  return "'" + q.substr(1, q.size() - 2) + (cut ? "...'" : "'");
}

json config_json(const std::string& name, int dimension, const std::string& spec,
                 const ModelIdentity& model, int64_t created_at_ms) {
  return json{{"name", name},
              {"dimension", dimension},
              {"metric", "inner_product"},
              {"index_spec", spec},
              {"model", {{"name", model.name}, {"checkpoint_hash", model.checkpoint_hash}}},
              {"format_version", kCollectionFormatVersion},
              {"created_at_ms", created_at_ms}};
}

// Change-log entry: removed ids, then added ids; little-endian u64 counts and i64 ids, written
// and read byte by byte so the format does not depend on the host's byte order.
std::string encode_change(const std::vector<int64_t>& removed, const std::vector<int64_t>& added) {
  std::string out;
  out.reserve(16 + 8 * (removed.size() + added.size()));
  auto put = [&](uint64_t v) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  put(removed.size());
  for (int64_t id : removed) put(static_cast<uint64_t>(id));
  put(added.size());
  for (int64_t id : added) put(static_cast<uint64_t>(id));
  return out;
}

bool decode_change(std::string_view in, std::vector<int64_t>* removed,
                   std::vector<int64_t>* added) {
  size_t pos = 0;
  auto get = [&](uint64_t* v) {
    if (pos + 8 > in.size()) return false;
    uint64_t r = 0;
    for (int i = 7; i >= 0; --i) r = (r << 8) | static_cast<unsigned char>(in[pos + i]);
    *v = r;
    pos += 8;
    return true;
  };
  for (auto* list : {removed, added}) {
    uint64_t n = 0;
    if (!get(&n) || n > in.size() / 8) return false;
    list->resize(n);
    for (auto& id : *list) {
      uint64_t v;
      if (!get(&v)) return false;
      id = static_cast<int64_t>(v);
    }
  }
  return pos == in.size();
}

std::string encode_document(const Document& d) {
  json j = {{"id", d.id}, {"m", d.metadata}, {"c", d.created_at_ms}, {"u", d.updated_at_ms}};
  if (d.text) j["t"] = *d.text;
  if (d.source) j["s"] = *d.source;
  if (d.content_hash) j["h"] = *d.content_hash;
  auto bytes = json::to_cbor(j);
  return std::string(bytes.begin(), bytes.end());
}

Status decode_document(std::string_view bytes, Document* d) {
  try {
    json j = json::from_cbor(bytes.begin(), bytes.end());
    d->id = j.at("id").get<std::string>();
    d->metadata = j.at("m");
    d->created_at_ms = j.at("c").get<int64_t>();
    d->updated_at_ms = j.at("u").get<int64_t>();
    if (j.contains("t")) d->text = j["t"].get<std::string>();
    if (j.contains("s")) d->source = j["s"].get<std::string>();
    if (j.contains("h")) d->content_hash = j["h"].get<std::string>();
  } catch (const json::exception& e) {
    return Status::corruption(std::string("damaged document record: ") + e.what());
  }
  return Status::ok();
}

std::string encode_vector(const float* v, int dim) {
  return std::string(reinterpret_cast<const char*>(v), static_cast<size_t>(dim) * sizeof(float));
}

std::string id_key(int64_t id) {
  return Store::encode_u64(static_cast<uint64_t>(id));
}

fs::path snapshot_path(const fs::path& dir, uint64_t seq) {
  return dir / "index" / (std::to_string(seq) + ".faiss");
}

// Snapshot files in dir/index, newest first.
std::vector<std::pair<uint64_t, fs::path>> list_snapshots(const fs::path& dir) {
  std::vector<std::pair<uint64_t, fs::path>> out;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir / "index", ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const auto& p = it->path();
    if (p.extension() != ".faiss") continue;
    const std::string stem = p.stem().string();
    if (stem.empty() || stem.find_first_not_of("0123456789") != std::string::npos ||
        stem.size() > 20)
      continue;
    out.emplace_back(std::stoull(stem), p);
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.first > b.first; });
  return out;
}

// A shared mutex that does not let a steady stream of readers starve a writer (glibc's
// rwlock prefers readers, and searches overlap constantly under load): a writer takes the
// turnstile first, so readers arriving after it wait until it is done.
class FairSharedMutex {
 public:
  void lock() {
    std::lock_guard turn(turnstile_);
    rw_.lock();
  }
  void unlock() { rw_.unlock(); }
  void lock_shared() {
    { std::lock_guard turn(turnstile_); }
    rw_.lock_shared();
  }
  void unlock_shared() { rw_.unlock_shared(); }

 private:
  std::mutex turnstile_;
  std::shared_mutex rw_;
};

}  // namespace

Status validate_stored_document_id(const std::string& id) {
  if (id.empty()) return Status::invalid_argument("the id is empty");
  if (id.size() > kMaxDocumentIdBytes)
    return Status::invalid_argument("id is " + std::to_string(id.size()) + " bytes; at most " +
                                    std::to_string(kMaxDocumentIdBytes) + " are allowed");
  if (!is_valid_utf8(id)) return Status::invalid_argument("the id is not valid UTF-8");
  return Status::ok();
}

Status validate_search_options(const SearchOptions& options) {
  if (options.k < 1 || options.k > kMaxSearchK) {
    return Status::invalid_argument("k must be between 1 and " + std::to_string(kMaxSearchK) +
                                    ", got " + std::to_string(options.k));
  }
  if (options.offset < 0 || options.offset > kMaxSearchK - options.k) {
    return Status::invalid_argument("offset must be between 0 and " + std::to_string(kMaxSearchK) +
                                    " - k (" + std::to_string(kMaxSearchK - options.k) + "), got " +
                                    std::to_string(options.offset));
  }
  return Status::ok();
}

Status validate_document_id(const std::string& id) {
  VISTA_RETURN_IF_ERROR(validate_stored_document_id(id));
  // Ids travel in URL paths (GET/DELETE .../documents/{id}, image URLs): control characters
  // end the request line or are refused by HTTP parsers, and "." / ".." are path steps that
  // clients normalise away, so such documents could never be addressed.
  for (size_t i = 0; i < id.size(); ++i) {
    const auto c = static_cast<unsigned char>(id[i]);
    const bool c1 = c == 0xC2 && i + 1 < id.size() &&
                    static_cast<unsigned char>(id[i + 1]) >= 0x80 &&
                    static_cast<unsigned char>(id[i + 1]) <= 0x9F;
    if (c < 0x20 || c == 0x7F || c1) {
      return Status::invalid_argument("the id contains a control character (byte " +
                                      std::to_string(i) + "); ids must be addressable in URLs");
    }
  }
  if (id == "." || id == "..")
    return Status::invalid_argument("the id '" + id + "' is a path step; ids must be addressable in URLs");
  return Status::ok();
}

std::string ModelIdentity::to_string() const {
  return "'" + name + "' (checkpoint " +
         (checkpoint_hash.empty() ? "unspecified" : checkpoint_hash) + ")";
}

struct Collection::Impl {
  // What searches need without touching RocksDB: the filter input and every field but the
  // text (which can be long and stays in the store).
  struct Entry {
    std::string external_id;
    json metadata;
    std::optional<std::string> source;
    std::optional<std::string> content_hash;
    int64_t created_at_ms = 0;
    int64_t updated_at_ms = 0;
    bool has_text = false;  // text stored: join it from RocksDB
  };

  // Asked by the index (from FAISS's OpenMP threads) whether an internal id passes the filter.
  // Reads the in-memory table, which the caller keeps stable with a shared lock.
  class MetadataFilter : public index::IdFilter {
   public:
    MetadataFilter(const std::unordered_map<int64_t, Entry>& docs, const Filter* filter)
        : docs_(docs), filter_(filter) {}
    bool accepts(int64_t id) const override {
      auto it = docs_.find(id);
      return it != docs_.end() && filter_->matches(it->second.metadata);
    }

   private:
    const std::unordered_map<int64_t, Entry>& docs_;
    const Filter* filter_;
  };

  fs::path dir;
  std::string name;
  CollectionOptions options;
  std::unique_ptr<Store> store;

  int dimension = 0;
  std::string spec;
  ModelIdentity model;
  int64_t created_at_ms = 0;

  // Guarded by `rw` (written under the exclusive lock, by a writer that also holds `writer`).
  uint64_t sequence = 0;
  uint64_t next_id = 1;
  uint64_t snapshot_sequence = 0;
  bool have_snapshot = false;
  int64_t changes_since_snapshot = 0;
  std::unique_ptr<index::VectorIndex> index;
  std::unordered_map<int64_t, Entry> docs;  // internal id -> external id + metadata

  mutable FairSharedMutex rw;
  std::mutex writer;
  std::atomic<bool> closed{false};

  Status check_open() const {
    if (closed.load()) return Status::failed_precondition("collection '" + name + "' is closed");
    return Status::ok();
  }

  Status check_model(const ModelIdentity& m) const {
    if (m.same_model(model)) return Status::ok();
    return Status::failed_precondition(
        "collection '" + name + "' holds vectors of model " + model.to_string() +
        ", but these come from model " + m.to_string() +
        "; embed with the collection's model or use another collection");
  }

  // New ids follow the whole rule; reads and removals accept every id an older version stored.
  static Status validate_new_id(const std::string& id, const std::string& where) {
    return validate_document_id(id).with_context(where);
  }
  static Status validate_id(const std::string& id, const std::string& where) {
    return validate_stored_document_id(id).with_context(where);
  }

  Result<std::optional<int64_t>> lookup_internal(const std::string& external,
                                                 const rocksdb::Snapshot* snap = nullptr) const {
    std::string value;
    rocksdb::ReadOptions ro;
    ro.snapshot = snap;
    rocksdb::Status s = store->db()->Get(ro, store->handle(Family::kIds), external, &value);
    if (s.IsNotFound()) return std::optional<int64_t>();
    if (!s.ok()) return from_rocksdb(s, "reading id " + show_id(external));
    uint64_t v = 0;
    if (!Store::decode_u64(value, &v)) {
      return Status::corruption("collection '" + name + "': damaged id mapping for " +
                                show_id(external));
    }
    return std::optional<int64_t>(static_cast<int64_t>(v));
  }

  Status put_meta_counters(rocksdb::WriteBatch* b, uint64_t seq, uint64_t next) {
    auto* meta = store->handle(Family::kMeta);
    rocksdb::Status s = b->Put(meta, kSequenceKey, Store::encode_u64(seq));
    if (s.ok()) s = b->Put(meta, kNextIdKey, Store::encode_u64(next));
    return from_rocksdb(s, "preparing batch");
  }

  Status load_config() {
    std::string value;
    Status st = store->get(Family::kMeta, kConfigKey, &value);
    if (!st.is_ok()) {
      return Status::corruption("collection '" + name +
                                "' has no configuration in its store: " + st.message());
    }
    try {
      json c = json::parse(value);
      const int version = c.at("format_version").get<int>();
      if (version > kCollectionFormatVersion) {
        return Status::unsupported("collection '" + name + "' has format version " +
                                   std::to_string(version) + "; this build reads up to " +
                                   std::to_string(kCollectionFormatVersion));
      }
      if (c.at("metric").get<std::string>() != "inner_product") {
        return Status::unsupported("collection '" + name + "' uses metric " +
                                   c.at("metric").dump());
      }
      dimension = c.at("dimension").get<int>();
      spec = c.at("index_spec").get<std::string>();
      model.name = c.at("model").at("name").get<std::string>();
      model.checkpoint_hash = c.at("model").at("checkpoint_hash").get<std::string>();
      created_at_ms = c.value("created_at_ms", int64_t{0});
    } catch (const json::exception& e) {
      return Status::corruption("collection '" + name + "': damaged configuration: " + e.what());
    }
    // Collections made before specs were checked may hold one that crashes FAISS (HNSW0, IVF0).
    if (auto parsed = index::parse_index_spec(spec, dimension); !parsed.is_ok()) {
      return Status::failed_precondition("collection '" + name +
                                         "' uses an index spec this version "
                                         "refuses (" +
                                         parsed.status().message() +
                                         "); drop it, or rebuild it with a supported spec");
    }
    for (auto [key, target] :
         {std::pair{&kSequenceKey, &sequence}, std::pair{&kNextIdKey, &next_id}}) {
      st = store->get(Family::kMeta, *key, &value);
      if (!st.is_ok() || !Store::decode_u64(value, target)) {
        return Status::corruption("collection '" + name + "': missing or damaged counter '" + *key +
                                  "'");
      }
    }
    return Status::ok();
  }

  Status write_meta_json() const {
    return write_file_atomically(
        dir / "meta.json", config_json(name, dimension, spec, model, created_at_ms).dump(2) + "\n");
  }

  Status load_documents() {
    docs.clear();
    auto it = store->iterator(Family::kDocuments);
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      uint64_t id = 0;
      if (!Store::decode_u64(std::string_view(it->key().data(), it->key().size()), &id)) {
        return Status::corruption("collection '" + name + "': damaged document key");
      }
      Document d;
      Status st = decode_document(std::string_view(it->value().data(), it->value().size()), &d);
      if (!st.is_ok())
        return st.with_context("collection '" + name + "', internal id " + std::to_string(id));
      docs.emplace(
          static_cast<int64_t>(id),
          Entry{std::move(d.id), std::move(d.metadata), std::move(d.source),
                std::move(d.content_hash), d.created_at_ms, d.updated_at_ms, d.text.has_value()});
    }
    return from_rocksdb(it->status(), "reading documents");
  }

  // One MultiGet of `family` for internal ids; statuses and values in the order of `ids`.
  std::vector<rocksdb::Status> multi_get(Family family, const std::vector<int64_t>& ids,
                                         std::vector<std::string>* values,
                                         const rocksdb::Snapshot* snap = nullptr) const {
    std::vector<std::string> keys;
    keys.reserve(ids.size());
    for (int64_t id : ids) keys.push_back(id_key(id));
    std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
    std::vector<rocksdb::ColumnFamilyHandle*> cfs(keys.size(), store->handle(family));
    rocksdb::ReadOptions ro;
    ro.snapshot = snap;
    return store->db()->MultiGet(ro, cfs, slices, values);
  }

  // Corruption unless `value` is a stored vector of this collection's dimension.
  Status check_vector_record(int64_t id, const std::string& value) const {
    if (value.size() == static_cast<size_t>(dimension) * sizeof(float)) return Status::ok();
    return Status::corruption("collection '" + name + "': vector of internal id " +
                              std::to_string(id) + " has " + std::to_string(value.size()) +
                              " bytes, expected " + std::to_string(dimension * sizeof(float)));
  }

  // Reads vectors of the given internal ids (skipping ids whose vector is gone).
  Status read_vectors(const std::vector<int64_t>& ids, std::vector<float>* out,
                      std::vector<int64_t>* found, const rocksdb::Snapshot* snap = nullptr) const {
    std::vector<std::string> values;
    auto statuses = multi_get(Family::kVectors, ids, &values, snap);
    for (size_t i = 0; i < ids.size(); ++i) {
      if (statuses[i].IsNotFound()) continue;
      if (!statuses[i].ok())
        return from_rocksdb(statuses[i], "reading vector " + std::to_string(ids[i]));
      VISTA_RETURN_IF_ERROR(check_vector_record(ids[i], values[i]));
      const auto* f = reinterpret_cast<const float*>(values[i].data());
      out->insert(out->end(), f, f + dimension);
      found->push_back(ids[i]);
    }
    return Status::ok();
  }

  // search() steps. The caller of the last three holds `rw` shared.
  Status check_search(const ModelIdentity& m, const float* queries, int64_t n,
                      const SearchOptions& options) const {
    VISTA_RETURN_IF_ERROR(check_open());
    VISTA_RETURN_IF_ERROR(check_model(m));
    VISTA_RETURN_IF_ERROR(validate_search_options(options));
    if (n < 0 || (n > 0 && queries == nullptr))
      return Status::invalid_argument("no query vectors given");
    // Non-finite components: VectorIndex::search() checks, once.
    return Status::ok();
  }

  // Turns the index's labels into hits (id and, when asked, the in-memory fields); `hit_ids`
  // receives the internal id of every hit in order.
  Result<std::vector<std::vector<SearchHit>>> collect_hits(const std::vector<float>& dist,
                                                           const std::vector<int64_t>& labels,
                                                           int64_t n, int64_t k,
                                                           const SearchOptions& options,
                                                           std::vector<int64_t>* hit_ids) const {
    std::vector<std::vector<SearchHit>> out(static_cast<size_t>(n));
    for (int64_t q = 0; q < n; ++q) {
      auto& hits = out[q];
      for (int64_t j = options.offset; j < k; ++j) {
        const int64_t id = labels[q * k + j];
        if (id < 0) break;
        auto it = docs.find(id);
        if (it == docs.end()) {
          return Status::internal("collection '" + name + "': index returned unknown internal id " +
                                  std::to_string(id));
        }
        SearchHit h;
        h.score = dist[q * k + j];
        h.document.id = it->second.external_id;
        if (options.include_metadata) {
          h.document.metadata = it->second.metadata;
          h.document.source = it->second.source;
          h.document.content_hash = it->second.content_hash;
          h.document.created_at_ms = it->second.created_at_ms;
          h.document.updated_at_ms = it->second.updated_at_ms;
        }
        hits.push_back(std::move(h));
        hit_ids->push_back(id);
      }
    }
    return out;
  }

  // Text and vectors live only in RocksDB: one MultiGet per family, for the hits that have a
  // text (when metadata is asked for) and every hit's vector (when vectors are).
  Status join_stored(const SearchOptions& options, const std::vector<int64_t>& hit_ids,
                     std::vector<std::vector<SearchHit>>* out) const {
    std::vector<SearchHit*> all_hits;
    for (auto& hits : *out)
      for (auto& hit : hits) all_hits.push_back(&hit);
    std::vector<int64_t> text_ids;
    std::vector<SearchHit*> text_hits;
    if (options.include_metadata) {
      for (size_t h = 0; h < hit_ids.size(); ++h) {
        if (!docs.at(hit_ids[h]).has_text) continue;
        text_ids.push_back(hit_ids[h]);
        text_hits.push_back(all_hits[h]);
      }
    }
    VISTA_RETURN_IF_ERROR(read_hit_records(
        Family::kDocuments, text_ids, text_hits, "document",
        [](SearchHit& hit, int64_t, const std::string& bytes) {
          Document d;
          VISTA_RETURN_IF_ERROR(decode_document(bytes, &d));
          hit.document.text = std::move(d.text);
          return Status::ok();
        }));
    if (!options.include_vectors) return Status::ok();
    return read_hit_records(
        Family::kVectors, hit_ids, all_hits, "vector",
        [this](SearchHit& hit, int64_t internal, const std::string& bytes) {
          VISTA_RETURN_IF_ERROR(check_vector_record(internal, bytes));
          const auto* f = reinterpret_cast<const float*>(bytes.data());
          hit.document.vector.assign(f, f + dimension);
          return Status::ok();
        });
  }

  // One MultiGet of `family` for `ids`; each record goes to `use(hit, internal id, bytes)`. A
  // missing or unreadable record fails naming `what` and the hit's document id.
  template <typename Use>
  Status read_hit_records(Family family, const std::vector<int64_t>& ids,
                          const std::vector<SearchHit*>& hits, const char* what, Use use) const {
    if (ids.empty()) return Status::ok();
    std::vector<std::string> values;
    auto statuses = multi_get(family, ids, &values);
    for (size_t i = 0; i < ids.size(); ++i) {
      VISTA_RETURN_IF_ERROR(from_rocksdb(
          statuses[i], std::string("reading ") + what + " of hit " + show_id(hits[i]->document.id)));
      VISTA_RETURN_IF_ERROR(use(*hits[i], ids[i], values[i]));
    }
    return Status::ok();
  }

  // A fresh index with `index_spec` holding every stored vector; trained when possible.
  Result<std::unique_ptr<index::VectorIndex>> build_index(const std::string& index_spec) const {
    VISTA_ASSIGN_OR_RETURN(auto idx, index::VectorIndex::create(index_spec, dimension));
    auto it = store->iterator(Family::kVectors);
    std::vector<float> buf;
    std::vector<int64_t> ids;
    auto flush = [&]() -> Status {
      if (ids.empty()) return Status::ok();
      Status st = idx->add(static_cast<int64_t>(ids.size()), buf.data(), ids.data());
      buf.clear();
      ids.clear();
      return st;
    };
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      uint64_t id = 0;
      if (!Store::decode_u64(std::string_view(it->key().data(), it->key().size()), &id) ||
          it->value().size() != static_cast<size_t>(dimension) * sizeof(float)) {
        return Status::corruption("collection '" + name + "': damaged vector record");
      }
      const auto* f = reinterpret_cast<const float*>(it->value().data());
      buf.insert(buf.end(), f, f + dimension);
      ids.push_back(static_cast<int64_t>(id));
      if (static_cast<int64_t>(ids.size()) >= kRebuildChunk) VISTA_RETURN_IF_ERROR(flush());
    }
    VISTA_RETURN_IF_ERROR(from_rocksdb(it->status(), "reading vectors"));
    VISTA_RETURN_IF_ERROR(flush());
    auto stats = idx->stats();
    if (!stats.trained && stats.pending > 0) {
      Status st = idx->train();
      if (!st.is_ok()) {
        spdlog::warn("collection '{}': index '{}' stays untrained (searches are exact): {}", name,
                     index_spec, st.message());
      }
    }
    return idx;
  }

  // True when the index holds exactly the stored documents.
  bool index_matches_documents() const {
    if (index->size() != static_cast<int64_t>(docs.size())) return false;
    for (const auto& [id, entry] : docs) {
      if (!index->contains(id)) return false;
    }
    return true;
  }

  // Loads the newest snapshot and replays the change log after it; falls back to a rebuild.
  Status recover_index() {
    auto snaps = list_snapshots(dir);
    std::error_code ec;
    for (auto it = fs::directory_iterator(dir / "index", ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
      if (it->path().extension() == ".tmp") fs::remove(it->path(), ec);  // interrupted save
    }
    bool loaded = false;
    if (!snaps.empty()) {
      const auto& [seq, path] = snaps.front();
      if (seq > sequence) {
        spdlog::warn(
            "collection '{}': index snapshot {} is newer than the store (sequence {}); rebuilding "
            "the "
            "index from the stored vectors",
            name, path.string(), sequence);
      } else {
        auto r = index::VectorIndex::load(path);
        if (!r.is_ok()) {
          spdlog::warn(
              "collection '{}': cannot use index snapshot: {}; rebuilding the index from the "
              "stored "
              "vectors",
              name, r.status().message());
        } else if ((*r)->spec() != spec || (*r)->dimension() != dimension) {
          spdlog::warn(
              "collection '{}': snapshot {} has index '{}', the collection uses '{}'; rebuilding",
              name, path.string(), (*r)->spec(), spec);
        } else {
          index = std::move(r).value();
          snapshot_sequence = seq;
          have_snapshot = true;
          Status st = replay_changes(seq);
          if (!st.is_ok()) {
            spdlog::warn(
                "collection '{}': replaying changes after snapshot {} failed ({}); rebuilding",
                name, seq, st.message());
            index.reset();
          } else if (!index_matches_documents()) {
            spdlog::warn(
                "collection '{}': index from snapshot {} plus change log does not match the stored "
                "documents; rebuilding",
                name, seq);
            index.reset();
          } else {
            loaded = true;
          }
        }
      }
    }
    if (!loaded) {
      have_snapshot = false;
      snapshot_sequence = 0;
      auto t0 = std::chrono::steady_clock::now();
      VISTA_ASSIGN_OR_RETURN(index, build_index(spec));
      if (index->size() > 0) {
        spdlog::info("collection '{}': rebuilt index '{}' with {} vectors in {:.2f} s", name, spec,
                     index->size(),
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
      changes_since_snapshot = index->size();
      if (!index_matches_documents()) {
        return Status::corruption(
            "collection '" + name + "': stored vectors (" + std::to_string(index->size()) +
            ") do not match stored documents (" + std::to_string(docs.size()) + ")");
      }
    }
    return Status::ok();
  }

  Status replay_changes(uint64_t after) {
    auto it = store->iterator(Family::kChanges);
    int64_t replayed = 0;
    for (it->Seek(Store::encode_u64(after + 1)); it->Valid(); it->Next()) {
      uint64_t seq = 0;
      std::vector<int64_t> removed, added;
      if (!Store::decode_u64(std::string_view(it->key().data(), it->key().size()), &seq) ||
          !decode_change(std::string_view(it->value().data(), it->value().size()), &removed,
                         &added)) {
        return Status::corruption("damaged change-log entry");
      }
      if (seq > sequence)
        return Status::corruption("change-log entry beyond the committed sequence");
      VISTA_RETURN_IF_ERROR(
          index->remove(static_cast<int64_t>(removed.size()), removed.data()).status());
      std::vector<int64_t> fresh;
      for (int64_t id : added) {
        if (!index->contains(id)) fresh.push_back(id);
      }
      std::vector<float> vecs;
      std::vector<int64_t> found;
      VISTA_RETURN_IF_ERROR(read_vectors(fresh, &vecs, &found));
      VISTA_RETURN_IF_ERROR(
          index->add(static_cast<int64_t>(found.size()), vecs.data(), found.data()));
      replayed += static_cast<int64_t>(removed.size() + added.size());
    }
    VISTA_RETURN_IF_ERROR(from_rocksdb(it->status(), "reading change log"));
    changes_since_snapshot = replayed;
    if (replayed > 0)
      spdlog::info("collection '{}': replayed {} changes after snapshot {}", name, replayed, after);
    return Status::ok();
  }

  // Caller holds `writer`. Writes index/<sequence>.faiss, trims the change log and old files.
  Status snapshot_locked() {
    uint64_t seq;
    {
      std::shared_lock lock(rw);
      seq = sequence;
      if (have_snapshot && snapshot_sequence == seq && fs::exists(snapshot_path(dir, seq)))
        return Status::ok();
      std::error_code ec;
      fs::create_directories(dir / "index", ec);
      if (ec)
        return Status::io_error("cannot create " + (dir / "index").string() + ": " + ec.message());
      VISTA_RETURN_IF_ERROR(index->save(snapshot_path(dir, seq)));
    }
    rocksdb::WriteBatch batch;
    VISTA_RETURN_IF_ERROR(
        from_rocksdb(batch.DeleteRange(store->handle(Family::kChanges), Store::encode_u64(0),
                                       Store::encode_u64(seq + 1)),
                     "preparing change-log trim"));
    VISTA_RETURN_IF_ERROR(store->write(&batch));
    {
      std::unique_lock lock(rw);
      snapshot_sequence = seq;
      have_snapshot = true;
      changes_since_snapshot = 0;
    }
    for (const auto& [old_seq, path] : list_snapshots(dir)) {
      if (old_seq != seq) {
        std::error_code ec;
        fs::remove(path, ec);
      }
    }
    return Status::ok();
  }

  void maybe_auto_snapshot() {
    if (options.auto_snapshot_changes > 0 &&
        changes_since_snapshot >= options.auto_snapshot_changes) {
      Status st = snapshot_locked();
      if (!st.is_ok())
        spdlog::warn("collection '{}': automatic snapshot failed: {}", name, st.message());
    }
  }

  // After a commit the index could not follow (out of memory, FAISS bug): rebuild it from the
  // store, which already holds the committed state. Caller holds `writer` and `rw` exclusively.
  void repair_index_locked(const Status& cause) {
    spdlog::error(
        "collection '{}': applying a committed batch to the index failed ({}); rebuilding the "
        "index "
        "from the store",
        name, cause.message());
    auto rebuilt = build_index(spec);
    if (rebuilt.is_ok()) {
      index = std::move(rebuilt).value();
    } else {
      spdlog::error("collection '{}': index rebuild failed: {}", name, rebuilt.status().message());
    }
  }
};

Collection::Collection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Collection::~Collection() {
  Status st = close();
  if (!st.is_ok()) spdlog::error("closing collection '{}': {}", impl_->name, st.message());
}

Result<std::shared_ptr<Collection>> Collection::create(const fs::path& dir, const std::string& name,
                                                       const CollectionConfig& config,
                                                       const CollectionOptions& options) {
  if (config.dimension < 1 || config.dimension > kMaxDimension) {
    return Status::invalid_argument("collection '" + name + "': dimension must be between 1 and " +
                                    std::to_string(kMaxDimension) + ", got " +
                                    std::to_string(config.dimension));
  }
  VISTA_RETURN_IF_ERROR(index::VectorIndex::validate_spec(config.index_spec, config.dimension));
  std::error_code ec;
  if (fs::exists(dir, ec))
    return Status::already_exists("collection '" + name + "' already exists at " + dir.string());
  // Build in a hidden folder and rename: a crash never leaves a half-made collection.
  std::mt19937_64 rng(std::random_device{}());
  const fs::path tmp =
      dir.parent_path() / (".creating-" + name + "-" + std::to_string(rng() % 1000000000));
  fs::create_directories(tmp / "index", ec);
  if (ec) return Status::io_error("cannot create " + tmp.string() + ": " + ec.message());
  auto cleanup = [&] {
    std::error_code e2;
    fs::remove_all(tmp, e2);
  };
  {
    StoreOptions so;
    so.create_if_missing = true;
    so.sync_writes = true;
    so.block_cache_bytes = 1 << 20;
    auto store = Store::open(tmp / "rocksdb", so);
    if (!store.is_ok()) {
      cleanup();
      return store.status();
    }
    const int64_t created = now_ms();
    rocksdb::WriteBatch batch;
    auto* meta = (*store)->handle(Family::kMeta);
    batch.Put(meta, kConfigKey,
              config_json(name, config.dimension, config.index_spec, config.model, created).dump());
    batch.Put(meta, kSequenceKey, Store::encode_u64(0));
    batch.Put(meta, kNextIdKey, Store::encode_u64(1));
    Status st = (*store)->write(&batch);
    if (st.is_ok()) st = (*store)->close();
    if (st.is_ok()) {
      st = write_file_atomically(
          tmp / "meta.json",
          config_json(name, config.dimension, config.index_spec, config.model, created).dump(2) +
              "\n");
    }
    if (!st.is_ok()) {
      cleanup();
      return st;
    }
  }
  fs::rename(tmp, dir, ec);
  if (ec) {
    cleanup();
    if (fs::exists(dir))
      return Status::already_exists("collection '" + name + "' already exists at " + dir.string());
    return Status::io_error("cannot create collection folder " + dir.string() + ": " +
                            ec.message());
  }
  VISTA_RETURN_IF_ERROR(fsync_path(dir.parent_path(), true));
  return open(dir, name, options);
}

Result<std::shared_ptr<Collection>> Collection::open(const fs::path& dir, const std::string& name,
                                                     const CollectionOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(dir / "rocksdb", ec)) {
    return Status::not_found("collection '" + name + "' does not exist (no store at " +
                             dir.string() + ")");
  }
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->name = name;
  impl->options = options;
  StoreOptions so;
  so.create_if_missing = false;
  so.sync_writes = options.sync_writes;
  so.block_cache_bytes = options.block_cache_bytes;
  VISTA_ASSIGN_OR_RETURN(impl->store, Store::open(dir / "rocksdb", so));
  VISTA_RETURN_IF_ERROR(impl->load_config());
  if (!fs::exists(dir / "meta.json", ec)) VISTA_RETURN_IF_ERROR(impl->write_meta_json());
  VISTA_RETURN_IF_ERROR(impl->load_documents());
  VISTA_RETURN_IF_ERROR(impl->recover_index());
  return std::shared_ptr<Collection>(new Collection(std::move(impl)));
}

Result<UpsertResult> Collection::upsert(const ModelIdentity& model,
                                        const std::vector<Document>& documents,
                                        const ImportMark* mark) {
  Impl& c = *impl_;
  VISTA_RETURN_IF_ERROR(c.check_open());
  VISTA_RETURN_IF_ERROR(c.check_model(model));
  UpsertResult result;
  if (mark && (mark->key.empty() || mark->key.size() > kMaxDocumentIdBytes))
    return Status::invalid_argument("import mark key must be 1.." +
                                    std::to_string(kMaxDocumentIdBytes) + " bytes");
  if (documents.empty() && !mark) return result;

  // Validate everything before touching anything.
  std::unordered_set<std::string_view> seen;
  seen.reserve(documents.size());
  std::vector<json> metadata(documents.size());
  for (size_t i = 0; i < documents.size(); ++i) {
    const Document& d = documents[i];
    const std::string where =
        "document " + std::to_string(i) + (d.id.empty() ? "" : " (id " + show_id(d.id) + ")");
    VISTA_RETURN_IF_ERROR(c.validate_new_id(d.id, where));
    if (!seen.insert(d.id).second) {
      return Status::invalid_argument(where + ": id appears more than once in the batch");
    }
    if (d.vector.size() != static_cast<size_t>(c.dimension)) {
      return Status::invalid_argument(where + ": vector has " + std::to_string(d.vector.size()) +
                                      " components, collection '" + c.name + "' expects " +
                                      std::to_string(c.dimension));
    }
    for (size_t j = 0; j < d.vector.size(); ++j) {
      if (!std::isfinite(d.vector[j])) {
        return Status::invalid_argument(where + ": vector component " + std::to_string(j) + " is " +
                                        (std::isnan(d.vector[j]) ? "NaN" : "infinite"));
      }
    }
    if (d.metadata.is_null()) {
      metadata[i] = json::object();
    } else if (!d.metadata.is_object()) {
      return Status::invalid_argument(where + ": metadata must be a JSON object, got " +
                                      std::string(d.metadata.type_name()));
    } else {
      metadata[i] = d.metadata;
      try {
        (void)d.metadata.dump();
      } catch (const json::exception&) {
        return Status::invalid_argument(where +
                                        ": metadata contains a string that is not valid UTF-8");
      }
    }
    for (const auto* field : {&d.text, &d.source, &d.content_hash}) {
      if (*field && !is_valid_utf8(**field)) {
        return Status::invalid_argument(where + ": " +
                                        (field == &d.text     ? "text"
                                         : field == &d.source ? "source"
                                                              : "content_hash") +
                                        " is not valid UTF-8");
      }
    }
  }

  std::lock_guard writer(c.writer);
  VISTA_RETURN_IF_ERROR(c.check_open());
  const int64_t now = now_ms();
  uint64_t next = c.next_id;
  const uint64_t seq = c.sequence + 1;
  rocksdb::WriteBatch batch;
  std::vector<int64_t> removed, added, created(documents.size());
  std::vector<float> vectors;
  vectors.reserve(documents.size() * c.dimension);
  auto* docs_cf = c.store->handle(Family::kDocuments);
  auto* vec_cf = c.store->handle(Family::kVectors);
  auto* ids_cf = c.store->handle(Family::kIds);
  for (size_t i = 0; i < documents.size(); ++i) {
    const Document& in = documents[i];
    VISTA_ASSIGN_OR_RETURN(auto old, c.lookup_internal(in.id));
    Document d;
    d.id = in.id;
    d.metadata = std::move(metadata[i]);
    d.text = in.text;
    d.source = in.source;
    d.content_hash = in.content_hash;
    d.created_at_ms = now;
    d.updated_at_ms = now;
    if (old) {
      // `docs` only changes under `writer`, which we hold.
      auto prev = c.docs.find(*old);
      if (prev != c.docs.end()) d.created_at_ms = prev->second.created_at_ms;
      batch.Delete(docs_cf, id_key(*old));
      batch.Delete(vec_cf, id_key(*old));
      removed.push_back(*old);
      ++result.updated;
    } else {
      ++result.inserted;
    }
    const auto id = static_cast<int64_t>(next++);
    const std::string key = id_key(id);
    batch.Put(ids_cf, d.id, key);
    batch.Put(docs_cf, key, encode_document(d));
    batch.Put(vec_cf, key, encode_vector(in.vector.data(), c.dimension));
    added.push_back(id);
    vectors.insert(vectors.end(), in.vector.begin(), in.vector.end());
    metadata[i] = std::move(d.metadata);
    created[i] = d.created_at_ms;
  }
  batch.Put(c.store->handle(Family::kChanges), Store::encode_u64(seq),
            encode_change(removed, added));
  VISTA_RETURN_IF_ERROR(c.put_meta_counters(&batch, seq, next));
  if (mark) {
    VISTA_RETURN_IF_ERROR(from_rocksdb(
        batch.Put(c.store->handle(Family::kMeta), kImportMarkPrefix + mark->key, mark->value),
        "preparing import mark"));
  }

  {
    std::unique_lock lock(c.rw);
    VISTA_RETURN_IF_ERROR(
        c.store->write(&batch).with_context("collection '" + c.name + "': upsert"));
    // Committed: from here on the batch is acknowledged, whatever the index does.
    c.sequence = seq;
    c.next_id = next;
    Status st = c.index->remove(static_cast<int64_t>(removed.size()), removed.data()).status();
    if (st.is_ok())
      st = c.index->add(static_cast<int64_t>(added.size()), vectors.data(), added.data());
    for (int64_t id : removed) c.docs.erase(id);
    for (size_t i = 0; i < documents.size(); ++i) {
      const Document& in = documents[i];
      c.docs[added[i]] =
          Impl::Entry{in.id, std::move(metadata[i]), in.source, in.content_hash, created[i],
                      now,   in.text.has_value()};
    }
    if (!st.is_ok()) c.repair_index_locked(st);
    c.changes_since_snapshot += static_cast<int64_t>(removed.size() + added.size());
  }
  result.sequence = seq;
  c.maybe_auto_snapshot();
  return result;
}

Result<std::vector<std::optional<Document>>> Collection::get(const std::vector<std::string>& ids,
                                                             bool include_vectors) const {
  const Impl& c = *impl_;
  VISTA_RETURN_IF_ERROR(c.check_open());
  std::shared_lock lock(c.rw);  // keeps the store open while we read
  VISTA_RETURN_IF_ERROR(c.check_open());
  for (size_t i = 0; i < ids.size(); ++i) {
    VISTA_RETURN_IF_ERROR(c.validate_id(ids[i], "id " + std::to_string(i)));
  }
  std::vector<std::optional<Document>> out(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    VISTA_ASSIGN_OR_RETURN(auto internal, c.lookup_internal(ids[i]));
    if (!internal) continue;
    std::string bytes;
    Status st = c.store->get(Family::kDocuments, id_key(*internal), &bytes);
    if (st.code() == StatusCode::kNotFound) {
      return Status::corruption("collection '" + c.name + "': id " + show_id(ids[i]) +
                                " maps to a missing document");
    }
    VISTA_RETURN_IF_ERROR(st);
    Document d;
    VISTA_RETURN_IF_ERROR(decode_document(bytes, &d).with_context("collection '" + c.name +
                                                                  "', id " + show_id(ids[i])));
    if (include_vectors) {
      std::vector<int64_t> found;
      VISTA_RETURN_IF_ERROR(c.read_vectors({*internal}, &d.vector, &found));
      if (found.empty()) {
        return Status::corruption("collection '" + c.name + "': id " + show_id(ids[i]) +
                                  " has no vector");
      }
    }
    out[i] = std::move(d);
  }
  return out;
}

Result<RemoveResult> Collection::remove(const std::vector<std::string>& ids) {
  Impl& c = *impl_;
  VISTA_RETURN_IF_ERROR(c.check_open());
  std::unordered_set<std::string_view> seen;
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string where =
        "id " + std::to_string(i) + (ids[i].empty() ? "" : " (" + show_id(ids[i]) + ")");
    VISTA_RETURN_IF_ERROR(c.validate_id(ids[i], where));
    if (!seen.insert(ids[i]).second)
      return Status::invalid_argument(where + ": appears more than once");
  }
  RemoveResult result;
  std::lock_guard writer(c.writer);
  VISTA_RETURN_IF_ERROR(c.check_open());
  rocksdb::WriteBatch batch;
  std::vector<int64_t> removed;
  for (const auto& id : ids) {
    VISTA_ASSIGN_OR_RETURN(auto internal, c.lookup_internal(id));
    if (!internal) {
      result.missing.push_back(id);
      continue;
    }
    batch.Delete(c.store->handle(Family::kIds), id);
    batch.Delete(c.store->handle(Family::kDocuments), id_key(*internal));
    batch.Delete(c.store->handle(Family::kVectors), id_key(*internal));
    removed.push_back(*internal);
  }
  if (removed.empty()) return result;
  const uint64_t seq = c.sequence + 1;
  batch.Put(c.store->handle(Family::kChanges), Store::encode_u64(seq), encode_change(removed, {}));
  VISTA_RETURN_IF_ERROR(c.put_meta_counters(&batch, seq, c.next_id));
  {
    std::unique_lock lock(c.rw);
    VISTA_RETURN_IF_ERROR(
        c.store->write(&batch).with_context("collection '" + c.name + "': remove"));
    c.sequence = seq;
    Status st = c.index->remove(static_cast<int64_t>(removed.size()), removed.data()).status();
    for (int64_t id : removed) c.docs.erase(id);
    if (!st.is_ok()) c.repair_index_locked(st);
    c.changes_since_snapshot += static_cast<int64_t>(removed.size());
  }
  result.removed = static_cast<int64_t>(removed.size());
  result.sequence = seq;
  c.maybe_auto_snapshot();
  return result;
}

Result<std::optional<std::string>> Collection::import_mark(const std::string& key) const {
  const Impl& c = *impl_;
  VISTA_RETURN_IF_ERROR(c.check_open());
  std::shared_lock lock(c.rw);  // keeps the store open while we read
  VISTA_RETURN_IF_ERROR(c.check_open());
  std::string value;
  Status st = c.store->get(Family::kMeta, kImportMarkPrefix + key, &value);
  if (st.code() == StatusCode::kNotFound) return std::optional<std::string>();
  VISTA_RETURN_IF_ERROR(st);
  return std::optional<std::string>(std::move(value));
}

std::vector<std::string> Collection::document_ids() const {
  std::shared_lock lock(impl_->rw);
  std::vector<std::string> ids;
  ids.reserve(impl_->docs.size());
  for (const auto& [internal, entry] : impl_->docs) ids.push_back(entry.external_id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

int64_t Collection::count() const {
  std::shared_lock lock(impl_->rw);
  return static_cast<int64_t>(impl_->docs.size());
}

std::vector<std::string> Collection::sources_with_prefix(std::string_view prefix) const {
  std::shared_lock lock(impl_->rw);
  std::vector<std::string> out;
  for (const auto& [id, entry] : impl_->docs)
    if (entry.source && std::string_view(*entry.source).substr(0, prefix.size()) == prefix)
      out.push_back(*entry.source);
  return out;
}

Result<int64_t> Collection::count(const Filter& filter) const {
  const Impl& c = *impl_;
  VISTA_RETURN_IF_ERROR(c.check_open());
  std::shared_lock lock(c.rw);
  VISTA_RETURN_IF_ERROR(c.check_open());
  if (filter.matches_all()) return static_cast<int64_t>(c.docs.size());
  int64_t n = 0;
  for (const auto& [internal, entry] : c.docs) n += filter.matches(entry.metadata) ? 1 : 0;
  return n;
}

Result<ListPage> Collection::list(const ListOptions& options) const {
  const Impl& c = *impl_;
  VISTA_RETURN_IF_ERROR(c.check_open());
  if (options.limit < 1 || options.limit > kMaxListLimit) {
    return Status::invalid_argument("limit must be between 1 and " +
                                    std::to_string(kMaxListLimit) + ", got " +
                                    std::to_string(options.limit));
  }
  const bool filtered = options.filter && !options.filter->matches_all();
  // Holding the shared lock keeps writers out for the scan, so the ids family and the
  // in-memory table agree; the scan is bounded (kMaxListScan) so writers never wait long.
  std::shared_lock lock(c.rw);
  VISTA_RETURN_IF_ERROR(c.check_open());
  ListPage page;
  auto it = c.store->iterator(Family::kIds);
  if (options.after) {
    it->Seek(*options.after);
    if (it->Valid() && it->key().ToString() == *options.after) it->Next();
  } else {
    it->SeekToFirst();
  }
  std::vector<int64_t> internals;
  std::string last;
  int64_t scanned = 0;
  for (; it->Valid(); it->Next()) {
    if (static_cast<int64_t>(internals.size()) == options.limit || scanned == kMaxListScan) {
      page.next_after = last;
      break;
    }
    ++scanned;
    last = it->key().ToString();
    uint64_t internal = 0;
    if (!Store::decode_u64(std::string_view(it->value().data(), it->value().size()), &internal)) {
      return Status::corruption("collection '" + c.name + "': id " + show_id(last) +
                                " has a damaged internal id");
    }
    if (filtered) {
      auto entry = c.docs.find(static_cast<int64_t>(internal));
      if (entry == c.docs.end() || !options.filter->matches(entry->second.metadata)) continue;
    }
    internals.push_back(static_cast<int64_t>(internal));
  }
  VISTA_RETURN_IF_ERROR(from_rocksdb(it->status(), "collection '" + c.name + "': listing ids"));
  page.documents.reserve(internals.size());
  for (int64_t internal : internals) {
    std::string bytes;
    VISTA_RETURN_IF_ERROR(c.store->get(Family::kDocuments, id_key(internal), &bytes)
                              .with_context("collection '" + c.name + "': listing documents"));
    Document d;
    VISTA_RETURN_IF_ERROR(decode_document(bytes, &d).with_context("collection '" + c.name + "'"));
    if (options.include_vectors) {
      std::vector<int64_t> found;
      VISTA_RETURN_IF_ERROR(c.read_vectors({internal}, &d.vector, &found));
    }
    page.documents.push_back(std::move(d));
  }
  return page;
}

Result<std::vector<std::string>> Collection::ids_matching(const Filter& filter) const {
  const Impl& c = *impl_;
  VISTA_RETURN_IF_ERROR(c.check_open());
  std::shared_lock lock(c.rw);
  VISTA_RETURN_IF_ERROR(c.check_open());
  std::vector<std::string> ids;
  for (const auto& [internal, entry] : c.docs)
    if (filter.matches(entry.metadata)) ids.push_back(entry.external_id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

Result<std::vector<std::vector<SearchHit>>> Collection::search(const ModelIdentity& model,
                                                               const float* queries, int64_t n,
                                                               const SearchOptions& options) const {
  const Impl& c = *impl_;
  VISTA_RETURN_IF_ERROR(c.check_search(model, queries, n, options));
  // Paging: the index finds offset + k hits and collect_hits() leaves the first offset out.
  const int64_t k = options.offset + options.k;
  std::vector<float> dist(static_cast<size_t>(n * k));
  std::vector<int64_t> labels(static_cast<size_t>(n * k));

  std::shared_lock lock(c.rw);
  VISTA_RETURN_IF_ERROR(c.check_open());
  const bool filtered = options.filter && !options.filter->matches_all();
  const Impl::MetadataFilter by_metadata(c.docs, filtered ? &*options.filter : nullptr);
  VISTA_RETURN_IF_ERROR(c.index
                            ->search(n, queries, k, dist.data(), labels.data(),
                                     filtered ? &by_metadata : nullptr, options.params)
                            .with_context("collection '" + c.name + "'"));
  std::vector<int64_t> hit_ids;
  VISTA_ASSIGN_OR_RETURN(auto out, c.collect_hits(dist, labels, n, k, options, &hit_ids));
  VISTA_RETURN_IF_ERROR(c.join_stored(options, hit_ids, &out));
  return out;
}

Status Collection::rebuild(std::string_view spec_in) {
  Impl& c = *impl_;
  VISTA_RETURN_IF_ERROR(c.check_open());
  const std::string spec = spec_in.empty() ? c.spec : std::string(spec_in);
  VISTA_RETURN_IF_ERROR(index::VectorIndex::validate_spec(spec, c.dimension));
  std::lock_guard writer(c.writer);
  VISTA_RETURN_IF_ERROR(c.check_open());
  // Writers are locked out, so the store is stable; searches keep using the old index.
  auto t0 = std::chrono::steady_clock::now();
  VISTA_ASSIGN_OR_RETURN(auto fresh, c.build_index(spec));
  const uint64_t seq = c.sequence + 1;
  rocksdb::WriteBatch batch;
  batch.Put(c.store->handle(Family::kMeta), kConfigKey,
            config_json(c.name, c.dimension, spec, c.model, c.created_at_ms).dump());
  // An empty change-log entry: the index snapshot for `seq` is the rebuilt one.
  batch.Put(c.store->handle(Family::kChanges), Store::encode_u64(seq), encode_change({}, {}));
  VISTA_RETURN_IF_ERROR(c.put_meta_counters(&batch, seq, c.next_id));
  {
    std::unique_lock lock(c.rw);
    VISTA_RETURN_IF_ERROR(
        c.store->write(&batch).with_context("collection '" + c.name + "': rebuild"));
    c.sequence = seq;
    c.spec = spec;
    c.index = std::move(fresh);
  }
  spdlog::info("collection '{}': rebuilt index '{}' with {} vectors in {:.2f} s", c.name, spec,
               c.index->size(),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  // Committed: the rebuild stands even if what follows fails (open() would rebuild again).
  Status st = c.write_meta_json();
  if (!st.is_ok())
    spdlog::warn("collection '{}': cannot update meta.json: {}", c.name, st.message());
  st = c.snapshot_locked();
  if (!st.is_ok()) {
    spdlog::warn(
        "collection '{}': snapshot after rebuild failed ({}); the next open rebuilds again", c.name,
        st.message());
  }
  return Status::ok();
}

Status Collection::snapshot() {
  Impl& c = *impl_;
  VISTA_RETURN_IF_ERROR(c.check_open());
  std::lock_guard writer(c.writer);
  VISTA_RETURN_IF_ERROR(c.check_open());
  return c.snapshot_locked();
}

Status Collection::close() {
  Impl& c = *impl_;
  std::lock_guard writer(c.writer);
  if (c.closed.load()) return Status::ok();
  Status result;
  if (c.options.snapshot_on_close && c.index) {
    result = c.snapshot_locked();
    if (!result.is_ok())
      spdlog::warn("collection '{}': snapshot on close failed: {}", c.name, result.message());
  }
  std::unique_lock lock(c.rw);  // waits for in-flight readers
  c.closed.store(true);
  Status st = c.store->close();
  c.index.reset();
  c.docs.clear();
  return result.is_ok() ? st : result;
}

CollectionInfo Collection::info() const {
  const Impl& c = *impl_;
  std::shared_lock lock(c.rw);
  CollectionInfo info;
  info.name = c.name;
  info.dimension = c.dimension;
  info.index_spec = c.spec;
  info.model = c.model;
  info.count = static_cast<int64_t>(c.docs.size());
  info.sequence = c.sequence;
  info.snapshot_sequence = c.have_snapshot ? c.snapshot_sequence : 0;
  info.created_at_ms = c.created_at_ms;
  if (c.index) info.index = c.index->stats();
  return info;
}

const std::string& Collection::name() const {
  return impl_->name;
}
const fs::path& Collection::path() const {
  return impl_->dir;
}

}  // namespace vista::engine
