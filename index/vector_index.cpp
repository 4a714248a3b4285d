#include "index/vector_index.h"

#include <faiss/IndexFastScan.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexFlatCodes.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFFastScan.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexIVFPQR.h>
#include <faiss/IndexPQ.h>
#include <faiss/IndexPreTransform.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/impl/io.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <fcntl.h>
#include <omp.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <new>
#include <regex>
#include <typeinfo>
#include <unordered_set>

#include "common/limits.h"
#include "common/logging.h"
#include "index/index_spec.h"

namespace vista::index {
namespace {

namespace fs = std::filesystem;

constexpr char kFileMagic[8] = {'V', 'I', 'S', 'T', 'A', 'I', 'D', 'X'};
constexpr char kEndMagic[8] = {'V', 'I', 'S', 'T', 'A', 'E', 'N', 'D'};
constexpr uint32_t kFileVersion = 1;
constexpr int64_t kParallelQueryThreshold = 4;
constexpr size_t kHeaderBytes = 16;   // magic + version + reserved
constexpr size_t kTrailerBytes = 20;  // payload size (8) + crc32 (4) + end magic (8)

// FAISS messages look like "Error in <function> at <file>:<line>: <what>"; users need <what>.
std::string faiss_reason(const std::exception& e) {
  std::string what = e.what();
  static const std::regex kPrefix(R"(^Error in .* at [^ ]+:\d+: )");
  std::smatch m;
  if (std::regex_search(what, m, kPrefix)) return what.substr(m.length());
  return what;
}

bool all_finite(const float* x, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    if (!std::isfinite(x[i])) return false;
  }
  return true;
}

// Strips IndexPreTransform layers (PCA, OPQ, L2norm...) to reach the index that does the work.
const faiss::Index* core_of(const faiss::Index* idx) {
  while (auto* pt = dynamic_cast<const faiss::IndexPreTransform*>(idx)) idx = pt->index;
  return idx;
}

// Selector asked by FAISS about positions of the IDMap's inner index (or ids for native-id
// indexes); answers from the id, the tombstones and the caller's filter.
struct TranslatingSelector : faiss::IDSelector {
  const std::vector<faiss::Index::idx_t>* id_map = nullptr;  // null: positions are ids already
  const std::unordered_set<int64_t>* tombstones = nullptr;
  const IdFilter* user = nullptr;
  bool is_member(faiss::Index::idx_t i) const override {
    const int64_t id = id_map ? (*id_map)[i] : i;
    if (tombstones && !tombstones->empty() && tombstones->count(id)) return false;
    return user == nullptr || user->accepts(id);
  }
};

// Writes to a FILE while computing the CRC32 and size of everything written.
struct CrcFileWriter : faiss::IOWriter {
  FILE* f;
  uLong crc = crc32(0L, Z_NULL, 0);
  uint64_t bytes = 0;
  bool failed = false;
  explicit CrcFileWriter(FILE* file) : f(file) { name = "vista index file"; }
  size_t operator()(const void* ptr, size_t size, size_t nitems) override {
    const size_t total = size * nitems;
    if (total == 0) return nitems;
    if (std::fwrite(ptr, 1, total, f) != total) {
      failed = true;
      return 0;
    }
    const auto* p = static_cast<const Bytef*>(ptr);
    for (size_t off = 0; off < total;) {
      const size_t chunk = std::min<size_t>(total - off, 1u << 30);
      crc = crc32(crc, p + off, static_cast<uInt>(chunk));
      off += chunk;
    }
    bytes += total;
    return nitems;
  }
};

// Counts bytes only: the serialised size is our memory estimate.
struct CountingWriter : faiss::IOWriter {
  uint64_t bytes = 0;
  size_t operator()(const void*, size_t size, size_t nitems) override {
    bytes += size * nitems;
    return nitems;
  }
};

// Reads at most `limit` bytes from a FILE (the payload), so FAISS cannot run into the trailer.
struct LimitedFileReader : faiss::IOReader {
  FILE* f;
  uint64_t remaining;
  LimitedFileReader(FILE* file, uint64_t limit) : f(file), remaining(limit) {
    name = "vista index file";
  }
  size_t operator()(void* ptr, size_t size, size_t nitems) override {
    if (size == 0 || nitems == 0) return 0;
    const uint64_t want = static_cast<uint64_t>(size) * nitems;
    const uint64_t can = std::min<uint64_t>(want, remaining);
    const size_t got = std::fread(ptr, 1, can, f);
    remaining -= got;
    return got / size;
  }
};

template <typename T>
void write_pod(faiss::IOWriter& w, const T& v) {
  w(&v, sizeof(T), 1);
}
template <typename T>
bool read_pod(faiss::IOReader& r, T* v) {
  return r(v, sizeof(T), 1) == 1;
}

Status fsync_dir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0)
    return Status::io_error("cannot open folder " + dir.string() + ": " + std::strerror(errno));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0)
    return Status::io_error("cannot fsync folder " + dir.string() + ": " + std::strerror(errno));
  return Status::ok();
}

// Merges two result lists (each sorted by descending score, -1 padded) into the first.
void merge_topk(int64_t k, float* d1, int64_t* l1, const float* d2, const int64_t* l2) {
  std::vector<float> d(k);
  std::vector<int64_t> l(k);
  int64_t a = 0, b = 0;
  for (int64_t i = 0; i < k; ++i) {
    const bool has_a = a < k && l1[a] >= 0;
    const bool has_b = b < k && l2[b] >= 0;
    if (has_a && (!has_b || d1[a] >= d2[b])) {
      d[i] = d1[a];
      l[i] = l1[a++];
    } else if (has_b) {
      d[i] = d2[b];
      l[i] = l2[b++];
    } else {
      d[i] = -std::numeric_limits<float>::infinity();
      l[i] = -1;
    }
  }
  std::copy(d.begin(), d.end(), d1);
  std::copy(l.begin(), l.end(), l1);
}

}  // namespace

void apply_default_settings(faiss::Index* index) {
  const faiss::Index* core = core_of(index);
  if (const auto* hnsw = dynamic_cast<const faiss::IndexHNSW*>(core)) {
    auto* graph = const_cast<faiss::IndexHNSW*>(hnsw);
    graph->hnsw.efConstruction = kHnswEfConstruction;
    graph->hnsw.efSearch = kHnswDefaultEfSearch;
  } else if (const auto* ivf = dynamic_cast<const faiss::IndexIVF*>(core)) {
    const_cast<faiss::IndexIVF*>(ivf)->nprobe = std::min<size_t>(kIvfDefaultNprobe, ivf->nlist);
  }
}

namespace {

// Builds the FAISS structure for a spec: the factory index with inner-product metric, wrapped
// in an IndexIDMap2 unless it stores ids itself (IVF family).
Result<std::unique_ptr<faiss::Index>> make_faiss(const std::string& s, int dimension) {
  faiss::Index* raw = nullptr;
  try {
    raw = faiss::index_factory(dimension, s.c_str(), faiss::METRIC_INNER_PRODUCT);
  } catch (const std::exception& e) {
    return Status::invalid_argument("invalid index spec '" + s + "' for dimension " +
                                    std::to_string(dimension) + ": " + faiss_reason(e));
  }
  if (raw == nullptr) return Status::invalid_argument("invalid index spec '" + s + "'");
  std::unique_ptr<faiss::Index> owned(raw);
  if (raw->metric_type != faiss::METRIC_INNER_PRODUCT) {
    return Status::invalid_argument("invalid index spec '" + s +
                                    "': the index does not support inner product");
  }
  apply_default_settings(raw);
  if (dynamic_cast<const faiss::IndexIVF*>(core_of(raw)) != nullptr) return owned;
  try {
    auto map = std::make_unique<faiss::IndexIDMap2>(raw);
    owned.release();
    map->own_fields = true;
    return std::unique_ptr<faiss::Index>(std::move(map));
  } catch (const std::exception& e) {
    return Status::invalid_argument("invalid index spec '" + s + "': " + faiss_reason(e));
  }
}

// Runs FAISS single-threaded on the calling thread for the guard's lifetime. omp_set_num_threads
// changes only the calling thread's setting, so concurrent callers are unaffected.
class SingleThreadedOmp {
 public:
  explicit SingleThreadedOmp(bool enable) : previous_(enable ? omp_get_max_threads() : 0) {
    if (enable) omp_set_num_threads(1);
  }
  ~SingleThreadedOmp() {
    if (previous_ > 0) omp_set_num_threads(previous_);
  }

 private:
  int previous_;
};

}  // namespace

struct VectorIndex::Impl {
  // Ids stored anywhere (main index, side buffer), tombstoned ones included.
  std::unordered_set<int64_t> present;
  // Removed from the caller's view but still inside a FAISS structure that cannot remove.
  std::unordered_set<int64_t> tombstones;
  // Exact side buffer for vectors added before the index is trained.
  std::unique_ptr<faiss::IndexIDMap2> pending;
  // Next buffer size at which automatic training is attempted (grows after a failure).
  int64_t next_train_attempt = 0;
};

VectorIndex::VectorIndex() : impl_(std::make_unique<Impl>()) {}
VectorIndex::~VectorIndex() = default;

Status VectorIndex::validate_spec(std::string_view spec, int dimension) {
  auto created = create(spec, dimension);
  return created.status();
}

Result<std::unique_ptr<VectorIndex>> VectorIndex::create(std::string_view spec, int dimension) {
  std::unique_ptr<VectorIndex> idx(new VectorIndex());
  VISTA_RETURN_IF_ERROR(idx->init(spec, dimension));
  return idx;
}

Status VectorIndex::init(std::string_view spec, int dimension) {
  if (dimension < 1 || dimension > kMaxDimension) {
    return Status::invalid_argument("index dimension must be between 1 and " +
                                    std::to_string(kMaxDimension) + ", got " +
                                    std::to_string(dimension));
  }
  // The grammar and bounds come first: FAISS accepts specs that crash it later.
  VISTA_RETURN_IF_ERROR(parse_index_spec(spec, dimension).status());
  const std::string s(spec);
  auto made = make_faiss(s, dimension);
  if (!made.is_ok()) return made.status();
  spec_ = s;
  dimension_ = dimension;
  index_ = std::move(made).value();
  return finish_setup();
}

// Works out, from the FAISS types, how to add, remove, train and search this index.
Status VectorIndex::finish_setup() {
  auto* map = dynamic_cast<faiss::IndexIDMap2*>(index_.get());
  native_ids_ = map == nullptr;
  search_target_ = native_ids_ ? index_.get() : map->index;
  const faiss::Index* core = core_of(search_target_);

  const auto* ivf = dynamic_cast<const faiss::IndexIVF*>(core);
  const auto* hnsw = dynamic_cast<const faiss::IndexHNSW*>(core);
  is_ivf_ = ivf != nullptr;
  is_hnsw_ = hnsw != nullptr;
  if (native_ids_ && !is_ivf_) {
    return Status::corruption("index file holds a " + std::string(typeid(*core).name()) +
                              " without an id map");
  }

  // Physical removal: flat-code indexes shift rows (the IDMap follows), IVF drops list entries.
  const bool fast_scan = dynamic_cast<const faiss::IndexFastScan*>(core) != nullptr ||
                         dynamic_cast<const faiss::IndexIVFFastScan*>(core) != nullptr;
  supports_removal_ =
      !fast_scan && (is_ivf_ || dynamic_cast<const faiss::IndexFlatCodes*>(core) != nullptr);

  // Whose FAISS 1.7.3 search honours SearchParameters::sel (checked against the sources; the
  // others throw on a selector, or ignore it).
  const std::type_info& t = typeid(*core);
  selector_search_ =
      !fast_scan &&
      (t == typeid(faiss::IndexFlat) || t == typeid(faiss::IndexFlatIP) ||
       t == typeid(faiss::IndexScalarQuantizer) ||
       (is_hnsw_ && t != typeid(faiss::IndexHNSW2Level)) || t == typeid(faiss::IndexIVFFlat) ||
       t == typeid(faiss::IndexIVFPQ) || t == typeid(faiss::IndexIVFScalarQuantizer));

  // Training thresholds: FAISS needs >= nlist points for the coarse quantizer and >= ksub for
  // each PQ codebook, and recommends 39 per centroid; we train once that recommendation is met.
  training_minimum_ = 0;
  training_threshold_ = 0;
  if (!index_->is_trained) {
    int64_t minimum = 1, recommended = 1000;
    if (ivf) {
      minimum = std::max<int64_t>(minimum, ivf->nlist);
      recommended = std::max<int64_t>(recommended, 39 * static_cast<int64_t>(ivf->nlist));
    }
    if (const auto* ivfpq = dynamic_cast<const faiss::IndexIVFPQ*>(core)) {
      minimum = std::max<int64_t>(minimum, ivfpq->pq.ksub);
      recommended = std::max<int64_t>(recommended, 39 * static_cast<int64_t>(ivfpq->pq.ksub));
    }
    if (const auto* pq = dynamic_cast<const faiss::IndexPQ*>(core)) {
      minimum = std::max<int64_t>(minimum, pq->pq.ksub);
      recommended = std::max<int64_t>(recommended, 39 * static_cast<int64_t>(pq->pq.ksub));
    }
    training_minimum_ = minimum;
    training_threshold_ = recommended;
    if (impl_->next_train_attempt < training_threshold_)
      impl_->next_train_attempt = training_threshold_;
    if (!impl_->pending) {
      auto* flat = new faiss::IndexFlatIP(dimension_);
      impl_->pending = std::make_unique<faiss::IndexIDMap2>(flat);
      impl_->pending->own_fields = true;
    }
  }
  return Status::ok();
}

int64_t VectorIndex::size() const {
  return static_cast<int64_t>(impl_->present.size() - impl_->tombstones.size());
}

bool VectorIndex::contains(int64_t id) const {
  return impl_->present.count(id) != 0 && impl_->tombstones.count(id) == 0;
}

Status VectorIndex::add(int64_t n, const float* x, const int64_t* ids) {
  if (n < 0) return Status::invalid_argument("negative vector count");
  if (n == 0) return Status::ok();
  if (x == nullptr || ids == nullptr) return Status::invalid_argument("null vectors or ids");
  std::unordered_set<int64_t> batch;
  batch.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (ids[i] < 0) {
      return Status::invalid_argument("vector " + std::to_string(i) + ": id " +
                                      std::to_string(ids[i]) + " is negative");
    }
    if (!batch.insert(ids[i]).second) {
      return Status::invalid_argument("vector " + std::to_string(i) + ": id " +
                                      std::to_string(ids[i]) + " appears twice in the batch");
    }
    if (impl_->present.count(ids[i])) {
      return Status::invalid_argument(
          "vector " + std::to_string(i) + ": id " + std::to_string(ids[i]) +
          " is already in the index" +
          (impl_->tombstones.count(ids[i]) ? " (removed, awaiting rebuild)" : ""));
    }
    if (!all_finite(x + i * dimension_, static_cast<size_t>(dimension_))) {
      return Status::invalid_argument("vector " + std::to_string(i) + " (id " +
                                      std::to_string(ids[i]) + ") has a NaN or infinite component");
    }
  }
  try {
    if (!index_->is_trained) {
      impl_->pending->add_with_ids(n, x, ids);
    } else {
      index_->add_with_ids(n, x, ids);
    }
  } catch (const std::bad_alloc&) {
    return Status::resource_exhausted("out of memory adding " + std::to_string(n) + " vectors");
  } catch (const std::exception& e) {
    return Status::internal("FAISS add failed for index '" + spec_ + "': " + faiss_reason(e));
  }
  impl_->present.insert(ids, ids + n);
  if (!index_->is_trained && impl_->pending->ntotal >= impl_->next_train_attempt) {
    Status st = train(0, nullptr);
    if (!st.is_ok()) {
      impl_->next_train_attempt = impl_->pending->ntotal * 2;
      spdlog::warn(
          "index '{}': training on {} vectors failed ({}); searches stay exact until the "
          "next attempt at {} vectors",
          spec_, impl_->pending->ntotal, st.message(), impl_->next_train_attempt);
    }
  }
  return Status::ok();
}

Result<int64_t> VectorIndex::remove(int64_t n, const int64_t* ids) {
  if (n < 0) return Status::invalid_argument("negative id count");
  std::vector<int64_t> live;
  for (int64_t i = 0; i < n; ++i) {
    if (impl_->present.count(ids[i]) && !impl_->tombstones.count(ids[i])) live.push_back(ids[i]);
  }
  std::sort(live.begin(), live.end());
  live.erase(std::unique(live.begin(), live.end()), live.end());
  if (live.empty()) return int64_t{0};
  faiss::IDSelectorBatch sel(live.size(), live.data());
  try {
    std::vector<int64_t> buffered;
    if (impl_->pending && impl_->pending->ntotal > 0) {
      for (int64_t id : live) {
        if (impl_->pending->rev_map.count(id)) buffered.push_back(id);
      }
      if (!buffered.empty()) impl_->pending->remove_ids(sel);
    }
    if (supports_removal_) {
      if (index_->ntotal > 0 && buffered.size() < live.size()) index_->remove_ids(sel);
      for (int64_t id : live) impl_->present.erase(id);
    } else {
      // Vectors in the side buffer go for real; the rest become tombstones.
      std::unordered_set<int64_t> gone(buffered.begin(), buffered.end());
      for (int64_t id : live) {
        if (gone.count(id)) {
          impl_->present.erase(id);
        } else {
          impl_->tombstones.insert(id);
        }
      }
    }
  } catch (const std::exception& e) {
    return Status::internal("FAISS remove failed for index '" + spec_ + "': " + faiss_reason(e));
  }
  return static_cast<int64_t>(live.size());
}

Status VectorIndex::train(int64_t n, const float* x) {
  if (index_->is_trained) return Status::ok();
  if (n < 0 || (n > 0 && x == nullptr)) return Status::invalid_argument("bad training set");
  if (n > 0 && !all_finite(x, static_cast<size_t>(n) * dimension_)) {
    return Status::invalid_argument("training vectors contain NaN or infinite components");
  }
  auto* flat = static_cast<faiss::IndexFlat*>(impl_->pending->index);
  const int64_t buffered = impl_->pending->ntotal;
  const int64_t total = buffered + n;
  if (total < training_minimum_) {
    return Status::failed_precondition("index '" + spec_ + "' needs at least " +
                                       std::to_string(training_minimum_) +
                                       " vectors to train, has " + std::to_string(total));
  }
  // Train a fresh structure and swap it in only when everything worked, so a failure leaves
  // the buffer (and exact searches) as they were.
  auto made = make_faiss(spec_, dimension_);
  if (!made.is_ok()) return made.status();
  std::unique_ptr<faiss::Index> fresh = std::move(made).value();
  try {
    const float* buf = flat->get_xb();
    if (n == 0) {
      fresh->train(buffered, buf);
    } else {
      std::vector<float> all(static_cast<size_t>(total) * dimension_);
      std::copy(buf, buf + static_cast<size_t>(buffered) * dimension_, all.begin());
      std::copy(x, x + static_cast<size_t>(n) * dimension_,
                all.begin() + static_cast<size_t>(buffered) * dimension_);
      fresh->train(total, all.data());
    }
    if (buffered > 0) fresh->add_with_ids(buffered, buf, impl_->pending->id_map.data());
  } catch (const std::bad_alloc&) {
    return Status::resource_exhausted("out of memory training index '" + spec_ + "'");
  } catch (const std::exception& e) {
    return Status::internal("training index '" + spec_ + "' on " + std::to_string(total) +
                            " vectors failed: " + faiss_reason(e));
  }
  index_ = std::move(fresh);
  VISTA_RETURN_IF_ERROR(finish_setup());
  spdlog::info("index '{}': trained on {} vectors", spec_, total);
  impl_->pending->reset();
  return Status::ok();
}

Status check_finite_queries(int64_t n, const float* x, int dimension) {
  for (int64_t q = 0; q < n; ++q) {
    const float* row = x + q * dimension;
    if (all_finite(row, static_cast<size_t>(dimension))) continue;
    for (int j = 0; j < dimension; ++j) {
      if (!std::isfinite(row[j]))
        return Status::invalid_argument("query " + std::to_string(q) + ": component " +
                                        std::to_string(j) + " is " +
                                        (std::isnan(row[j]) ? "NaN" : "infinite"));
    }
  }
  return Status::ok();
}

Status VectorIndex::search(int64_t n, const float* x, int64_t k, float* distances, int64_t* labels,
                           const IdFilter* selector, const SearchParams& params) const {
  if (n < 0) return Status::invalid_argument("negative query count");
  if (k < 1) return Status::invalid_argument("k must be at least 1, got " + std::to_string(k));
  if (params.ef_search < 0) return Status::invalid_argument("ef_search must be >= 0");
  if (params.nprobe < 0) return Status::invalid_argument("nprobe must be >= 0");
  if (n == 0) return Status::ok();
  if (x == nullptr || distances == nullptr || labels == nullptr) {
    return Status::invalid_argument("null query or result buffer");
  }
  VISTA_RETURN_IF_ERROR(check_finite_queries(n, x, dimension_));
  // A handful of queries gains nothing from an OpenMP team, and under concurrent searches (or a
  // busy machine) the team's barriers cost more than the search itself.
  SingleThreadedOmp single(n < kParallelQueryThreshold);
  std::fill(distances, distances + n * k, -std::numeric_limits<float>::infinity());
  std::fill(labels, labels + n * k, int64_t{-1});
  try {
    if (index_->ntotal > 0) {
      VISTA_RETURN_IF_ERROR(search_main(n, x, k, distances, labels, selector, params));
    }
    if (impl_->pending && impl_->pending->ntotal > 0) {
      std::vector<float> d2(static_cast<size_t>(n * k));
      std::vector<int64_t> l2(static_cast<size_t>(n * k));
      TranslatingSelector sel;
      sel.id_map = &impl_->pending->id_map;
      sel.user = selector;
      faiss::SearchParameters sp;
      sp.sel = &sel;
      impl_->pending->index->search(n, x, k, d2.data(), l2.data(), selector ? &sp : nullptr);
      for (int64_t i = 0; i < n * k; ++i) {
        if (l2[i] >= 0) l2[i] = impl_->pending->id_map[l2[i]];
      }
      for (int64_t q = 0; q < n; ++q) {
        merge_topk(k, distances + q * k, labels + q * k, d2.data() + q * k, l2.data() + q * k);
      }
    }
  } catch (const std::bad_alloc&) {
    return Status::resource_exhausted("out of memory searching index '" + spec_ + "'");
  } catch (const std::exception& e) {
    return Status::internal("FAISS search failed for index '" + spec_ + "': " + faiss_reason(e));
  }
  return Status::ok();
}

// Searches the trained FAISS structure: builds the typed SearchParameters, the id-translating
// selector (tombstones + caller's selector), works around 1.7.3's HNSW candidate-list sizing, and
// widens the search while a selector leaves fewer than k hits but more may exist.
Status VectorIndex::search_main(int64_t n, const float* x, int64_t k, float* distances,
                                int64_t* labels, const IdFilter* selector,
                                const SearchParams& params) const {
  const auto* map = native_ids_ ? nullptr : static_cast<const faiss::IndexIDMap2*>(index_.get());
  const int64_t stored = index_->ntotal;
  const bool filtering = selector != nullptr || !impl_->tombstones.empty();
  const int64_t live = size() - (impl_->pending ? impl_->pending->ntotal : 0);

  TranslatingSelector sel;
  sel.id_map = map ? &map->id_map : nullptr;
  sel.tombstones = &impl_->tombstones;
  sel.user = selector;

  const faiss::Index* core = core_of(search_target_);
  int ef = params.ef_search;
  int64_t nprobe = params.nprobe;
  if (is_hnsw_ && ef == 0) ef = static_cast<const faiss::IndexHNSW*>(core)->hnsw.efSearch;
  if (is_ivf_ && nprobe == 0)
    nprobe = static_cast<int64_t>(static_cast<const faiss::IndexIVF*>(core)->nprobe);
  const int64_t nlist =
      is_ivf_ ? static_cast<int64_t>(static_cast<const faiss::IndexIVF*>(core)->nlist) : 0;

  // Without selector support we over-fetch and filter afterwards.
  int64_t fetch =
      selector_search_ || !filtering ? k : std::min<int64_t>(stored, std::max<int64_t>(k * 4, 64));
  fetch = std::max<int64_t>(fetch, 1);

  std::vector<float> d;
  std::vector<int64_t> l;
  std::vector<int64_t> done(n, 0);  // 1 once the query has its final answer
  int64_t remaining = n;
  for (int round = 0; remaining > 0; ++round) {
    // 1.7.3 sizes HNSW's candidate heap by the index's efSearch, not the params' one: asking for
    // max(k, ef) results makes the heap ef large, exactly as later FAISS versions do.
    const int64_t kk = is_hnsw_ ? std::max<int64_t>(fetch, ef) : fetch;
    faiss::SearchParametersHNSW hp;
    faiss::SearchParametersIVF ip;
    faiss::SearchParameters bp;
    faiss::SearchParameters* sp = nullptr;
    if (is_hnsw_) {
      hp.efSearch = ef;
      sp = &hp;
    } else if (is_ivf_ && selector_search_) {
      ip.nprobe = static_cast<size_t>(nprobe);
      ip.max_codes = static_cast<const faiss::IndexIVF*>(core)->max_codes;
      sp = &ip;
    } else if (selector_search_) {
      sp = &bp;
    }
    if (!selector_search_) sp = nullptr;  // these types throw on any SearchParameters
    if (sp && filtering) sp->sel = &sel;
    if (sp == &bp && !filtering) sp = nullptr;

    // Queries still open, packed.
    std::vector<int64_t> rows;
    std::vector<float> qx;
    const float* qptr = x;
    if (remaining == n) {
      for (int64_t i = 0; i < n; ++i) rows.push_back(i);
    } else {
      for (int64_t i = 0; i < n; ++i) {
        if (!done[i]) {
          rows.push_back(i);
          qx.insert(qx.end(), x + i * dimension_, x + (i + 1) * dimension_);
        }
      }
      qptr = qx.data();
    }
    const int64_t m = static_cast<int64_t>(rows.size());
    d.assign(static_cast<size_t>(m * kk), 0.f);
    l.assign(static_cast<size_t>(m * kk), -1);
    search_target_->search(m, qptr, kk, d.data(), l.data(), sp);

    for (int64_t r = 0; r < m; ++r) {
      const int64_t q = rows[r];
      float* out_d = distances + q * k;
      int64_t* out_l = labels + q * k;
      int64_t got = 0;
      for (int64_t j = 0; j < kk && got < k; ++j) {
        int64_t lab = l[r * kk + j];
        if (lab < 0) continue;
        if (map) lab = map->id_map[lab];
        if (!selector_search_ && filtering) {
          if (impl_->tombstones.count(lab)) continue;
          if (selector && !selector->accepts(lab)) continue;
        }
        out_d[got] = d[r * kk + j];
        out_l[got] = lab;
        ++got;
      }
      for (int64_t j = got; j < k; ++j) {
        out_d[j] = -std::numeric_limits<float>::infinity();
        out_l[j] = -1;
      }
      // Final when full, when nothing was being filtered out, or when the search was already
      // exhaustive.
      bool final = got >= k || got >= live || !filtering;
      if (!final) {
        if (!selector_search_)
          final = kk >= stored;
        else if (is_hnsw_)
          final = ef >= stored;
        else if (is_ivf_)
          final = nprobe >= nlist;
        else
          final = true;  // flat with selector: exact already
      }
      if (final && !done[q]) {
        done[q] = 1;
        --remaining;
      }
    }
    if (remaining == 0) break;
    // Widen: more results for post-filtering, a longer HNSW candidate list, more IVF lists.
    if (!selector_search_)
      fetch = std::min<int64_t>(stored, fetch * 4);
    else if (is_hnsw_)
      ef = static_cast<int>(
          std::min<int64_t>(std::max<int64_t>(stored, 1), std::max<int64_t>(ef, 16) * 4));
    else if (is_ivf_)
      nprobe = std::min<int64_t>(nlist, std::max<int64_t>(nprobe, 1) * 4);
  }
  return Status::ok();
}

Status VectorIndex::reconstruct(int64_t id, float* out) const {
  if (!contains(id)) return Status::not_found("id " + std::to_string(id) + " is not in the index");
  try {
    if (impl_->pending && impl_->pending->rev_map.count(id)) {
      impl_->pending->reconstruct(id, out);
      return Status::ok();
    }
    if (native_ids_) {
      return Status::unsupported("index '" + spec_ + "' cannot reconstruct vectors by id");
    }
    index_->reconstruct(id, out);
  } catch (const std::exception& e) {
    return Status::unsupported("index '" + spec_ + "' cannot reconstruct id " + std::to_string(id) +
                               ": " + faiss_reason(e));
  }
  return Status::ok();
}

size_t VectorIndex::memory_bytes() const {
  CountingWriter w;
  try {
    faiss::write_index(index_.get(), &w);
    if (impl_->pending) faiss::write_index(impl_->pending.get(), &w);
  } catch (const std::exception&) {
  }
  // Hash-set nodes: key + next pointer + bucket slot, roughly 32 bytes each.
  const size_t sets = (impl_->present.size() + impl_->tombstones.size()) * 32;
  // The IDMap2 reverse map is not serialised; count it like the sets.
  const size_t rev =
      native_ids_ ? 0 : static_cast<const faiss::IndexIDMap2*>(index_.get())->rev_map.size() * 32;
  return static_cast<size_t>(w.bytes) + sets + rev;
}

IndexStats VectorIndex::stats() const {
  IndexStats s;
  s.spec = spec_;
  s.dimension = dimension_;
  s.size = size();
  s.tombstones = static_cast<int64_t>(impl_->tombstones.size());
  s.pending = impl_->pending ? impl_->pending->ntotal : 0;
  s.trained = index_->is_trained;
  s.supports_removal = supports_removal_;
  s.training_threshold = training_threshold_;
  s.memory_bytes = memory_bytes();
  return s;
}

Status VectorIndex::save(const fs::path& path) const {
  const fs::path tmp = path.string() + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return Status::io_error("cannot create " + tmp.string() + ": " + std::strerror(errno));
  bool ok = true;
  std::string error;
  try {
    ok = std::fwrite(kFileMagic, 1, 8, f) == 8;
    uint32_t version = kFileVersion, reserved = 0;
    ok = ok && std::fwrite(&version, 4, 1, f) == 1 && std::fwrite(&reserved, 4, 1, f) == 1;
    CrcFileWriter w(f);
    const uint32_t spec_len = static_cast<uint32_t>(spec_.size());
    write_pod(w, spec_len);
    w(spec_.data(), 1, spec_.size());
    write_pod(w, static_cast<int32_t>(dimension_));
    std::vector<int64_t> tomb(impl_->tombstones.begin(), impl_->tombstones.end());
    std::sort(tomb.begin(), tomb.end());
    write_pod(w, static_cast<uint64_t>(tomb.size()));
    if (!tomb.empty()) w(tomb.data(), sizeof(int64_t), tomb.size());
    const uint8_t has_pending = impl_->pending && impl_->pending->ntotal > 0 ? 1 : 0;
    write_pod(w, has_pending);
    if (has_pending) faiss::write_index(impl_->pending.get(), &w);
    faiss::write_index(index_.get(), &w);
    ok = ok && !w.failed;
    const uint64_t payload = w.bytes;
    const uint32_t crc = static_cast<uint32_t>(w.crc);
    ok = ok && std::fwrite(&payload, 8, 1, f) == 1 && std::fwrite(&crc, 4, 1, f) == 1 &&
         std::fwrite(kEndMagic, 1, 8, f) == 8;
  } catch (const std::exception& e) {
    ok = false;
    error = faiss_reason(e);
  }
  if (ok && std::fflush(f) != 0) ok = false;
  if (ok && ::fsync(::fileno(f)) != 0) ok = false;
  if (error.empty() && !ok) error = std::strerror(errno);
  std::fclose(f);
  if (!ok) {
    std::error_code ec;
    fs::remove(tmp, ec);
    return Status::io_error("cannot write index file " + path.string() + ": " + error);
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return Status::io_error("cannot rename " + tmp.string() + " to " + path.string() + ": " +
                            ec.message());
  }
  return fsync_dir(path.parent_path().empty() ? fs::path(".") : path.parent_path());
}

Result<std::unique_ptr<VectorIndex>> VectorIndex::load(const fs::path& path) {
  const std::string name = path.string();
  std::error_code ec;
  const auto file_size = fs::file_size(path, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory)
      return Status::not_found("index file " + name + " does not exist");
    return Status::io_error("cannot read index file " + name + ": " + ec.message());
  }
  if (file_size < kHeaderBytes + kTrailerBytes) {
    return Status::corruption("index file " + name + " is truncated (" + std::to_string(file_size) +
                              " bytes)");
  }
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return Status::io_error("cannot open index file " + name + ": " + std::strerror(errno));

  char magic[8];
  uint32_t version = 0, reserved = 0;
  if (std::fread(magic, 1, 8, f.get()) != 8 || std::memcmp(magic, kFileMagic, 8) != 0) {
    return Status::corruption("index file " + name + " does not start with the Vista index header");
  }
  if (std::fread(&version, 4, 1, f.get()) != 1 || std::fread(&reserved, 4, 1, f.get()) != 1) {
    return Status::corruption("index file " + name + " is truncated in its header");
  }
  if (version != kFileVersion) {
    return Status::unsupported("index file " + name + " has format version " +
                               std::to_string(version) + ", this build reads version " +
                               std::to_string(kFileVersion));
  }
  const uint64_t payload = file_size - kHeaderBytes - kTrailerBytes;
  // Trailer first: size, CRC and end marker.
  uint64_t recorded = 0;
  uint32_t recorded_crc = 0;
  char end_magic[8];
  if (std::fseek(f.get(), static_cast<long>(kHeaderBytes + payload), SEEK_SET) != 0 ||
      std::fread(&recorded, 8, 1, f.get()) != 1 || std::fread(&recorded_crc, 4, 1, f.get()) != 1 ||
      std::fread(end_magic, 1, 8, f.get()) != 8 || std::memcmp(end_magic, kEndMagic, 8) != 0 ||
      recorded != payload) {
    return Status::corruption("index file " + name + " is truncated or has a damaged trailer");
  }
  // Pass 1: checksum, so FAISS never parses damaged bytes.
  std::fseek(f.get(), static_cast<long>(kHeaderBytes), SEEK_SET);
  {
    std::vector<unsigned char> buf(1 << 20);
    uLong crc = crc32(0L, Z_NULL, 0);
    uint64_t left = payload;
    while (left > 0) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(left, buf.size()));
      if (std::fread(buf.data(), 1, want, f.get()) != want) {
        return Status::io_error("cannot read index file " + name + ": " + std::strerror(errno));
      }
      crc = crc32(crc, buf.data(), static_cast<uInt>(want));
      left -= want;
    }
    if (static_cast<uint32_t>(crc) != recorded_crc) {
      return Status::corruption("index file " + name + " fails its checksum (damaged)");
    }
  }
  // Pass 2: parse.
  std::fseek(f.get(), static_cast<long>(kHeaderBytes), SEEK_SET);
  LimitedFileReader r(f.get(), payload);
  std::unique_ptr<VectorIndex> idx(new VectorIndex());
  try {
    uint32_t spec_len = 0;
    int32_t dim = 0;
    uint64_t ntomb = 0;
    uint8_t has_pending = 0;
    if (!read_pod(r, &spec_len) || spec_len > 4096) throw std::runtime_error("bad spec length");
    std::string spec(spec_len, '\0');
    if (spec_len && r(spec.data(), 1, spec_len) != spec_len) throw std::runtime_error("short spec");
    if (!read_pod(r, &dim) || dim < 1 || dim > kMaxDimension)
      throw std::runtime_error("bad dimension");
    // A snapshot written before the spec rules (HNSW0, IVF0, NSG...) would crash on first use.
    if (auto parsed = parse_index_spec(spec, dim); !parsed.is_ok()) {
      return Status::unsupported("index file " + name + " holds a spec this version refuses: " +
                                 parsed.status().message());
    }
    if (!read_pod(r, &ntomb) || ntomb > payload / 8)
      throw std::runtime_error("bad tombstone count");
    std::vector<int64_t> tomb(ntomb);
    if (ntomb && r(tomb.data(), 8, ntomb) != ntomb) throw std::runtime_error("short tombstones");
    if (!read_pod(r, &has_pending)) throw std::runtime_error("short pending flag");
    std::unique_ptr<faiss::Index> pending;
    if (has_pending) pending.reset(faiss::read_index(&r));
    std::unique_ptr<faiss::Index> main(faiss::read_index(&r));
    if (r.remaining != 0) throw std::runtime_error("unexpected bytes after the index");
    if (main->d != dim || main->metric_type != faiss::METRIC_INNER_PRODUCT) {
      throw std::runtime_error("index dimension/metric does not match the header");
    }
    idx->spec_ = spec;
    idx->dimension_ = dim;
    idx->index_ = std::move(main);
    if (pending) {
      auto* p = dynamic_cast<faiss::IndexIDMap2*>(pending.get());
      if (!p || p->d != dim) throw std::runtime_error("bad pending buffer");
      pending.release();
      idx->impl_->pending.reset(p);
    }
    Status st = idx->finish_setup();
    if (!st.is_ok()) return Status::corruption("index file " + name + ": " + st.message());
    // Rebuild the id bookkeeping from the FAISS structures.
    auto& present = idx->impl_->present;
    if (!idx->native_ids_) {
      const auto* map = static_cast<const faiss::IndexIDMap2*>(idx->index_.get());
      present.insert(map->id_map.begin(), map->id_map.end());
    } else {
      const auto* ivf = dynamic_cast<const faiss::IndexIVF*>(core_of(idx->index_.get()));
      for (size_t list = 0; list < ivf->nlist; ++list) {
        const size_t ls = ivf->invlists->list_size(list);
        if (ls == 0) continue;
        faiss::InvertedLists::ScopedIds ids(ivf->invlists, list);
        present.insert(ids.get(), ids.get() + ls);
      }
    }
    if (idx->impl_->pending) {
      const auto& pm = idx->impl_->pending->id_map;
      present.insert(pm.begin(), pm.end());
    }
    if (static_cast<int64_t>(present.size()) !=
        idx->index_->ntotal + (idx->impl_->pending ? idx->impl_->pending->ntotal : 0)) {
      throw std::runtime_error("duplicate ids inside the index");
    }
    for (int64_t t : tomb) {
      if (!present.count(t)) throw std::runtime_error("tombstone for an id not in the index");
    }
    idx->impl_->tombstones.insert(tomb.begin(), tomb.end());
  } catch (const std::bad_alloc&) {
    return Status::corruption("index file " + name + " is damaged (implausible sizes)");
  } catch (const std::exception& e) {
    return Status::corruption("index file " + name + " cannot be parsed: " + faiss_reason(e));
  }
  return idx;
}

}  // namespace vista::index
