// VectorIndex: one FAISS index over float vectors with caller-chosen int64 ids.
//
// The index is built from a FAISS factory string ("Flat", "HNSW32", "IVF1024,Flat",
// "IVF1024,PQ96", "OPQ16,IVF256,PQ16", ...) with METRIC_INNER_PRODUCT: callers store unit-length
// vectors, so the score is the cosine similarity. It knows nothing of documents, metadata or
// storage; engine/ keeps those and treats a VectorIndex as a rebuildable cache.
//
// Ids. FAISS 1.7.3's IndexIDMap rejects every SearchParameters (so no selector and no
// efSearch/nprobe per query). This wrapper therefore keeps the id translation itself: index types
// that store ids natively (the IVF family) get the ids directly; all others sit in an IndexIDMap2
// whose inner index is searched directly with a selector translated from ids to positions.
//
// Removal. Flat-code indexes (Flat, SQ, PQ) and IVF indexes remove vectors physically. Types FAISS
// cannot remove from (HNSW, ...) get a tombstone instead: the id stays in the graph, is hidden from
// every search through the selector, and disappears on the next rebuild (compaction). A removed
// id must not be added again while tombstoned; engine/ never reuses ids, so that never happens.
//
// Training. Index types that need training (IVF, PQ, SQ) start untrained. Vectors added before
// training go to an exact side buffer that searches consult, so results are exact and complete
// until then. Once the buffer holds training_threshold() vectors the index trains on all of them
// and moves them in; train() forces it earlier (rebuild does so with all vectors).
//
// Search. Batch-first, FAISS style. An optional IdFilter restricts the candidates inside the
// FAISS search, so a filtered search returns k hits whenever k vectors pass the filter (for
// exact indexes; approximate ones return what their probing reaches, as FAISS does). Index types
// whose FAISS search does not accept a selector (IndexRefine, fast-scan, LSH, NSG) are searched
// with a growing k and filtered afterwards, up to an exhaustive k, which keeps the same guarantee.
//
// Searches of fewer than 4 queries run FAISS on the calling thread alone (OpenMP team size 1 for
// that call only): one query gains nothing from a team, and concurrent searches would each spawn
// one. Larger batches use FAISS's usual OpenMP parallelism.
//
// Thread-safety: const methods (search, size, save, memory_bytes, ...) may run concurrently with
// each other. Non-const methods (add, remove, train) need exclusive access; the caller provides
// it (engine::Collection uses a shared_mutex). The filter passed to search() is called from
// FAISS's OpenMP threads and must be thread-safe for concurrent accepts() calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace faiss {
struct Index;
}  // namespace faiss

namespace vista::index {

// InvalidArgument naming the first query and component that is NaN or infinite among n queries
// of `dimension` floats; OK otherwise. The one finiteness check of the query path (search()
// runs it; callers above need not repeat it).
Status check_finite_queries(int64_t n, const float* x, int dimension);

// Which ids a search may return: Vista's own predicate, so that callers never see FAISS types.
// accepts() is called from FAISS's OpenMP threads, concurrently; it must not throw.
class IdFilter {
 public:
  virtual ~IdFilter() = default;
  virtual bool accepts(int64_t id) const = 0;
};

// Graph settings of every HNSW index Vista creates (FAISS's own are efConstruction 40, efSearch
// 16). With 40, graphs built from vectors that arrive in many batches, as collections receive
// them, lose recall: on 20k clustered 768-d vectors added 1,000 at a time, recall@10 at
// efSearch 64 is 0.935 with 40 and 0.997 with 100, for about the same build time
// (docs/indexes.md). Snapshots keep the values an index was built with.
inline constexpr int kHnswEfConstruction = 100;
inline constexpr int kHnswDefaultEfSearch = 64;
// Lists an IVF search visits unless a query asks otherwise (FAISS's own default is 1, which
// finds a third of the true top 10 on 100k clustered 768-d vectors with 1,024 lists; 16 finds
// 0.99 of them, and 0.96 with 4,096 lists at 1M). Capped at the index's list count.
inline constexpr int kIvfDefaultNprobe = 16;

// Sets those defaults on a freshly made FAISS index (HNSW or IVF, under any pre-transform); other
// types are left alone. Anything that builds FAISS indexes to compare with collections calls it.
void apply_default_settings(faiss::Index* index);

// Per-query knobs. Zero means "the index default". A knob that does not apply to the index type
// (nprobe on HNSW) is ignored, so callers can pass the same params to any collection.
struct SearchParams {
  int ef_search = 0;  // HNSW: size of the dynamic candidate list (>= k is sensible)
  int nprobe = 0;     // IVF: number of inverted lists visited
};

struct IndexStats {
  std::string spec;
  int dimension = 0;
  int64_t size = 0;        // live vectors: searchable, not tombstoned
  int64_t tombstones = 0;  // removed but still inside the FAISS structure
  int64_t pending = 0;     // added before training, held in the exact side buffer
  bool trained = true;
  bool supports_removal = true;
  int64_t training_threshold = 0;  // 0 when the type needs no training
  size_t memory_bytes = 0;
};

class VectorIndex {
 public:
  ~VectorIndex();
  VectorIndex(const VectorIndex&) = delete;
  VectorIndex& operator=(const VectorIndex&) = delete;

  // Checks that `spec` is a FAISS factory string this wrapper supports for `dimension`.
  // InvalidArgument names the spec and FAISS's reason (e.g. PQ m not dividing the dimension).
  static Status validate_spec(std::string_view spec, int dimension);

  // An empty index. InvalidArgument for a bad spec or dimension (< 1 or > 65536).
  static Result<std::unique_ptr<VectorIndex>> create(std::string_view spec, int dimension);

  // Reads a file written by save(). Corruption when the file is truncated, its checksum does not
  // match or FAISS cannot parse it; NotFound / IOError when it cannot be opened.
  static Result<std::unique_ptr<VectorIndex>> load(const std::filesystem::path& path);

  // Writes the whole index (FAISS structure, tombstones, side buffer) with a CRC32 to `path`,
  // atomically: a temp file in the same folder is fsynced and renamed over `path`, then the
  // folder is fsynced. On failure `path` is untouched.
  Status save(const std::filesystem::path& path) const;

  // Adds n vectors (n * dimension() floats, row-major) with their ids. InvalidArgument (and
  // nothing added) when an id is negative, repeated within the call or already present (live or
  // tombstoned), or a component is NaN/Inf. May train the index (see above).
  Status add(int64_t n, const float* x, const int64_t* ids);

  // Removes the given ids; ids not present are ignored. Returns how many were removed (physically
  // or as tombstones).
  Result<int64_t> remove(int64_t n, const int64_t* ids);

  // Trains on the vectors held in the side buffer plus `n` extra training vectors `x` (may be 0),
  // then moves the buffer into the index. No-op for trained indexes. FailedPrecondition when
  // fewer vectors exist than the type's hard minimum (e.g. nlist for IVF).
  Status train(int64_t n = 0, const float* x = nullptr);

  // Finds the k best (highest inner product) vectors for each of n queries. distances and labels
  // have n * k slots; missing results are padded with label -1 and distance -inf. `filter`,
  // when non-null, is asked about ids (not positions). InvalidArgument for k < 1, bad params
  // values or non-finite query components; Internal if FAISS throws.
  Status search(int64_t n, const float* x, int64_t k, float* distances, int64_t* labels,
                const IdFilter* filter = nullptr, const SearchParams& params = {}) const;

  // True when `id` is live (present and not tombstoned).
  bool contains(int64_t id) const;
  // Copies the stored vector of a live id (lossy for compressed index types); NotFound otherwise.
  Status reconstruct(int64_t id, float* out) const;

  const std::string& spec() const { return spec_; }
  int dimension() const { return dimension_; }
  int64_t size() const;
  IndexStats stats() const;
  size_t memory_bytes() const;
  bool supports_removal() const { return supports_removal_; }

  // The underlying FAISS index (without the side buffer), for benchmarks that compare against
  // raw FAISS. Do not mutate it.
  const faiss::Index* faiss_index() const { return index_.get(); }

 private:
  struct Impl;
  VectorIndex();
  Status init(std::string_view spec, int dimension);
  Status finish_setup();
  Status flush_pending_if_ready();
  Status search_main(int64_t n, const float* x, int64_t k, float* distances, int64_t* labels,
                     const IdFilter* filter, const SearchParams& params) const;

  std::string spec_;
  int dimension_ = 0;
  std::unique_ptr<faiss::Index> index_;    // IndexIDMap2(inner) or a native-id index (IVF)
  faiss::Index* search_target_ = nullptr;  // what search() calls: the inner index or index_
  bool native_ids_ = false;                // index_ stores ids itself (no IDMap translation)
  bool supports_removal_ = true;
  bool selector_search_ = true;  // FAISS search of this type honours SearchParameters::sel
  bool is_hnsw_ = false;
  bool is_ivf_ = false;
  int64_t training_threshold_ = 0;
  int64_t training_minimum_ = 0;
  std::unique_ptr<Impl> impl_;  // tombstones, side buffer, id bookkeeping
};

}  // namespace vista::index
