#include "index/vector_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <numeric>
#include <random>
#include <set>

#include "tests/test_support.h"
#include "tools/indexbench/synthetic.h"

namespace vista::index {
namespace {

using vista::testing::TempDir;

std::vector<float> random_unit(int64_t n, int d, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  std::vector<float> v(static_cast<size_t>(n) * d);
  for (int64_t i = 0; i < n; ++i) {
    float norm = 0;
    for (int j = 0; j < d; ++j) {
      v[i * d + j] = g(rng);
      norm += v[i * d + j] * v[i * d + j];
    }
    norm = std::sqrt(norm);
    for (int j = 0; j < d; ++j) v[i * d + j] /= norm;
  }
  return v;
}

std::vector<int64_t> iota_ids(int64_t n, int64_t start = 0) {
  std::vector<int64_t> ids(n);
  std::iota(ids.begin(), ids.end(), start);
  return ids;
}

// Exact top-k by inner product among ids accepted by `keep`.
template <typename Keep>
std::vector<int64_t> brute_force(const std::vector<float>& base, const std::vector<int64_t>& ids,
                                 const float* q, int d, int64_t k, Keep keep) {
  std::vector<std::pair<float, int64_t>> scored;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!keep(ids[i])) continue;
    float s = 0;
    for (int j = 0; j < d; ++j) s += base[i * d + j] * q[j];
    scored.emplace_back(s, ids[i]);
  }
  std::sort(scored.begin(), scored.end(), [](auto& a, auto& b) { return a.first > b.first; });
  std::vector<int64_t> out;
  for (int64_t i = 0; i < k && i < static_cast<int64_t>(scored.size()); ++i)
    out.push_back(scored[i].second);
  return out;
}

struct EvenIds : IdFilter {
  bool accepts(int64_t id) const override { return id % 2 == 0; }
};
struct ModuloIds : IdFilter {
  int64_t mod;
  explicit ModuloIds(int64_t m) : mod(m) {}
  bool accepts(int64_t id) const override { return id % mod == 0; }
};

std::unique_ptr<VectorIndex> make(const std::string& spec, int d) {
  auto r = VectorIndex::create(spec, d);
  EXPECT_TRUE(r.is_ok()) << r.status();
  return std::move(r).value();
}

TEST(VectorIndexTest, FlatFindsEachVectorAsTopOne) {
  const int d = 32;
  auto idx = make("Flat", d);
  auto x = random_unit(200, d, 1);
  auto ids = iota_ids(200, 1000);
  ASSERT_TRUE(idx->add(200, x.data(), ids.data()).is_ok());
  EXPECT_EQ(idx->size(), 200);
  std::vector<float> dist(200 * 3);
  std::vector<int64_t> lab(200 * 3);
  ASSERT_TRUE(idx->search(200, x.data(), 3, dist.data(), lab.data()).is_ok());
  for (int i = 0; i < 200; ++i) {
    EXPECT_EQ(lab[i * 3], 1000 + i);
    EXPECT_NEAR(dist[i * 3], 1.0f, 1e-4);
    EXPECT_GE(dist[i * 3], dist[i * 3 + 1]);
    EXPECT_GE(dist[i * 3 + 1], dist[i * 3 + 2]);
  }
}

TEST(VectorIndexTest, InvalidSpecsAreRefusedWithTheReason) {
  for (const char* spec : {"Bogus42", "", "IDMap,Flat", "IVF0x,Flat", "PQ7"}) {
    Status st = VectorIndex::validate_spec(spec, 16);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << spec;
    if (*spec) {
      EXPECT_NE(st.message().find(spec), std::string::npos) << st.message();
    }
  }
  EXPECT_EQ(VectorIndex::create("Flat", 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(VectorIndex::create("Flat", 100000).status().code(), StatusCode::kInvalidArgument);
  for (const char* spec :
       {"Flat", "HNSW32", "IVF64,Flat", "IVF64,PQ8", "IVF64,SQ8", "PCA16,IVF8,Flat"}) {
    EXPECT_TRUE(VectorIndex::validate_spec(spec, 32).is_ok()) << spec;
  }
}

TEST(VectorIndexTest, BadAddLeavesIndexUnchanged) {
  const int d = 8;
  auto idx = make("Flat", d);
  auto x = random_unit(4, d, 2);
  std::vector<int64_t> ids = {1, 2, 3, 4};
  ASSERT_TRUE(idx->add(4, x.data(), ids.data()).is_ok());

  std::vector<int64_t> dup = {10, 11, 10, 12};
  Status st = idx->add(4, x.data(), dup.data());
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("twice"), std::string::npos) << st;

  std::vector<int64_t> existing = {20, 3, 21, 22};
  st = idx->add(4, x.data(), existing.data());
  EXPECT_NE(st.message().find("already"), std::string::npos) << st;

  auto bad = x;
  bad[2 * d + 5] = std::nanf("");
  std::vector<int64_t> fresh = {30, 31, 32, 33};
  st = idx->add(4, bad.data(), fresh.data());
  EXPECT_NE(st.message().find("NaN"), std::string::npos) << st;
  bad[2 * d + 5] = INFINITY;
  EXPECT_FALSE(idx->add(4, bad.data(), fresh.data()).is_ok());

  std::vector<int64_t> negative = {40, -1, 41, 42};
  EXPECT_FALSE(idx->add(4, x.data(), negative.data()).is_ok());

  EXPECT_EQ(idx->size(), 4);
  for (int64_t id : {10, 11, 12, 20, 21, 30, 40}) EXPECT_FALSE(idx->contains(id)) << id;

  std::vector<float> dist(1);
  std::vector<int64_t> lab(1);
  EXPECT_FALSE(idx->search(1, bad.data() + 2 * d, 1, dist.data(), lab.data()).is_ok());
  EXPECT_FALSE(idx->search(1, x.data(), 0, dist.data(), lab.data()).is_ok());
}

TEST(VectorIndexTest, FlatRemovalIsPhysical) {
  const int d = 16;
  auto idx = make("Flat", d);
  auto x = random_unit(50, d, 3);
  auto ids = iota_ids(50);
  ASSERT_TRUE(idx->add(50, x.data(), ids.data()).is_ok());
  std::vector<int64_t> gone = {0, 7, 7, 49, 999};
  auto removed = idx->remove(5, gone.data());
  ASSERT_TRUE(removed.is_ok());
  EXPECT_EQ(*removed, 3);
  EXPECT_EQ(idx->size(), 47);
  EXPECT_EQ(idx->stats().tombstones, 0);
  std::vector<float> dist(50 * 50);
  std::vector<int64_t> lab(50 * 50);
  ASSERT_TRUE(idx->search(50, x.data(), 50, dist.data(), lab.data()).is_ok());
  for (int q = 0; q < 50; ++q) {
    std::set<int64_t> seen;
    for (int j = 0; j < 50; ++j) {
      const int64_t l = lab[q * 50 + j];
      if (j < 47) {
        EXPECT_GE(l, 0);
      } else {
        EXPECT_EQ(l, -1);
      }
      EXPECT_TRUE(l != 0 && l != 7 && l != 49);
      if (l >= 0) {
        EXPECT_TRUE(seen.insert(l).second);
      }
    }
    if (q != 0 && q != 7 && q != 49) {
      EXPECT_EQ(lab[q * 50], q);
    }
  }
  // A removed id may come back (physical removal leaves nothing behind).
  ASSERT_TRUE(idx->add(1, x.data() + 7 * d, gone.data() + 1).is_ok());
  EXPECT_TRUE(idx->contains(7));
}

TEST(VectorIndexTest, HnswRemovalUsesTombstonesThatSearchNeverReturns) {
  const int d = 16;
  auto idx = make("HNSW16", d);
  EXPECT_FALSE(idx->supports_removal());
  auto x = random_unit(300, d, 4);
  auto ids = iota_ids(300);
  ASSERT_TRUE(idx->add(300, x.data(), ids.data()).is_ok());
  std::vector<int64_t> gone;
  for (int64_t i = 0; i < 300; i += 3) gone.push_back(i);
  ASSERT_EQ(*idx->remove(gone.size(), gone.data()), 100);
  EXPECT_EQ(idx->size(), 200);
  EXPECT_EQ(idx->stats().tombstones, 100);
  EXPECT_FALSE(idx->contains(3));
  // Re-adding a tombstoned id is refused: it would be hidden by its own tombstone.
  EXPECT_EQ(idx->add(1, x.data(), gone.data()).code(), StatusCode::kInvalidArgument);

  const int64_t k = 10;
  std::vector<float> dist(300 * k);
  std::vector<int64_t> lab(300 * k);
  ASSERT_TRUE(idx->search(300, x.data(), k, dist.data(), lab.data()).is_ok());
  for (int q = 0; q < 300; ++q) {
    for (int j = 0; j < k; ++j) {
      ASSERT_GE(lab[q * k + j], 0);
      EXPECT_NE(lab[q * k + j] % 3, 0) << "tombstoned id returned";
    }
    if (q % 3 != 0) {
      EXPECT_EQ(lab[q * k], q);
    }
  }
}

TEST(VectorIndexTest, SelectorResultsEqualBruteForce) {
  const int d = 24;
  const int64_t n = 500, k = 10;
  auto x = random_unit(n, d, 5);
  auto ids = iota_ids(n, 7);
  auto q = random_unit(20, d, 6);
  EvenIds even;
  for (const char* spec : {"Flat", "SQ8"}) {
    auto idx = make(spec, d);
    ASSERT_TRUE(idx->add(n, x.data(), ids.data()).is_ok());
    if (!idx->stats().trained) {
      ASSERT_TRUE(idx->train().is_ok());
    }
    std::vector<float> dist(20 * k);
    std::vector<int64_t> lab(20 * k);
    ASSERT_TRUE(idx->search(20, q.data(), k, dist.data(), lab.data(), &even).is_ok());
    for (int i = 0; i < 20; ++i) {
      auto expect =
          brute_force(x, ids, q.data() + i * d, d, k, [](int64_t id) { return id % 2 == 0; });
      std::vector<int64_t> got(lab.begin() + i * k, lab.begin() + (i + 1) * k);
      if (std::string(spec) == "Flat") {
        EXPECT_EQ(got, expect) << spec << " query " << i;
      } else {
        for (int64_t g : got) EXPECT_EQ(g % 2, 0);
        EXPECT_EQ(std::count(got.begin(), got.end(), int64_t{-1}), 0);
      }
    }
  }
}

// Fast-scan types (found by their FAISS base classes) remove by tombstone and are filtered by
// over-fetching: FAISS 1.7.3 neither removes from them nor passes them a selector.
TEST(VectorIndexTest, FastScanIndexesUseTombstonesAndFilterAfterSearch) {
  const int d = 16;
  const int64_t n = 600, k = 5;
  auto x = random_unit(n, d, 11);
  auto ids = iota_ids(n);
  EvenIds even;
  for (const char* spec : {"PQ4x4fs", "IVF2,PQ4x4fs"}) {
    auto idx = make(spec, d);
    EXPECT_FALSE(idx->supports_removal()) << spec;
    ASSERT_TRUE(idx->add(n, x.data(), ids.data()).is_ok()) << spec;
    if (!idx->stats().trained) {
      ASSERT_TRUE(idx->train().is_ok()) << spec;
    }
    const int64_t gone[] = {0, 2};
    ASSERT_EQ(*idx->remove(2, gone), 2) << spec;
    EXPECT_EQ(idx->stats().tombstones, 2) << spec;
    std::vector<float> dist(4 * k);
    std::vector<int64_t> lab(4 * k);
    ASSERT_TRUE(idx->search(4, x.data(), k, dist.data(), lab.data(), &even).is_ok()) << spec;
    for (int64_t l : lab) {
      EXPECT_GE(l, 0) << spec;
      EXPECT_EQ(l % 2, 0) << spec;
      EXPECT_TRUE(l != 0 && l != 2) << spec;
    }
  }
}

// HNSW and IVF widen their search (efSearch, nprobe) and IndexRefine (no selector support in
// FAISS 1.7.3; exhaustive here with one list) over-fetches and filters, until k hits are found.
TEST(VectorIndexTest, SelectiveFiltersStillFillK) {
  const int d = 16;
  const int64_t n = 2000, k = 10;
  auto x = random_unit(n, d, 7);
  auto ids = iota_ids(n);
  auto q = random_unit(5, d, 8);
  ModuloIds one_in_100(100);  // 20 matching ids
  for (const char* spec : {"HNSW16", "IVF16,Flat", "IVF1,Flat,RFlat"}) {
    auto idx = make(spec, d);
    ASSERT_TRUE(idx->add(n, x.data(), ids.data()).is_ok());
    if (!idx->stats().trained) {
      ASSERT_TRUE(idx->train().is_ok()) << spec;
    }
    ASSERT_TRUE(idx->stats().trained) << spec;
    std::vector<float> dist(5 * k);
    std::vector<int64_t> lab(5 * k);
    ASSERT_TRUE(idx->search(5, q.data(), k, dist.data(), lab.data(), &one_in_100).is_ok()) << spec;
    for (int i = 0; i < 5 * k; ++i) {
      ASSERT_GE(lab[i], 0) << spec << " returned fewer than k hits";
      EXPECT_EQ(lab[i] % 100, 0) << spec;
    }
    // More asked than exist: all 20 matches, then padding.
    std::vector<float> d2(30);
    std::vector<int64_t> l2(30);
    ASSERT_TRUE(idx->search(1, q.data(), 30, d2.data(), l2.data(), &one_in_100).is_ok());
    EXPECT_EQ(std::count_if(l2.begin(), l2.end(), [](int64_t l) { return l >= 0; }), 20) << spec;
  }
}

TEST(VectorIndexTest, IvfBuffersUntilTrainedThenTrainsItself) {
  const int d = 16;
  auto idx = make("IVF16,Flat", d);
  auto st = idx->stats();
  EXPECT_FALSE(st.trained);
  EXPECT_EQ(st.training_threshold, 1000);
  auto x = random_unit(1500, d, 9);
  auto ids = iota_ids(1500, 100);
  ASSERT_TRUE(idx->add(600, x.data(), ids.data()).is_ok());
  EXPECT_FALSE(idx->stats().trained);
  EXPECT_EQ(idx->stats().pending, 600);
  // Untrained: exact search over the buffer.
  std::vector<float> dist(600);
  std::vector<int64_t> lab(600);
  ASSERT_TRUE(idx->search(600, x.data(), 1, dist.data(), lab.data()).is_ok());
  for (int i = 0; i < 600; ++i) EXPECT_EQ(lab[i], 100 + i);
  std::vector<int64_t> gone = {100, 101};
  EXPECT_EQ(*idx->remove(2, gone.data()), 2);
  EXPECT_EQ(idx->size(), 598);

  ASSERT_TRUE(idx->add(900, x.data() + 600 * d, ids.data() + 600).is_ok());
  st = idx->stats();
  EXPECT_TRUE(st.trained);
  EXPECT_EQ(st.pending, 0);
  EXPECT_EQ(st.size, 1498);
  SearchParams all_lists;
  all_lists.nprobe = 16;
  std::vector<float> d2(1500);
  std::vector<int64_t> l2(1500);
  ASSERT_TRUE(idx->search(1500, x.data(), 1, d2.data(), l2.data(), nullptr, all_lists).is_ok());
  for (int i = 2; i < 1500; ++i) EXPECT_EQ(l2[i], 100 + i);
  EXPECT_NE(l2[0], 100);
  EXPECT_NE(l2[1], 101);
  // IVF removes physically.
  EXPECT_EQ(*idx->remove(1, ids.data() + 700), 1);
  EXPECT_EQ(idx->stats().tombstones, 0);
  EXPECT_FALSE(idx->contains(800));
}

TEST(VectorIndexTest, TrainRefusesTooFewVectors) {
  auto idx = make("IVF64,Flat", 8);
  auto x = random_unit(10, 8, 10);
  auto ids = iota_ids(10);
  ASSERT_TRUE(idx->add(10, x.data(), ids.data()).is_ok());
  Status st = idx->train();
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("64"), std::string::npos) << st;
  EXPECT_EQ(idx->size(), 10);
}

TEST(VectorIndexTest, SearchParamsChangeHnswAndIvfBehaviour) {
  const int d = 32;
  const int64_t n = 3000, k = 10;
  auto x = random_unit(n, d, 11);
  auto ids = iota_ids(n);
  auto q = random_unit(50, d, 12);
  auto recall = [&](VectorIndex& idx, const SearchParams& p) {
    std::vector<float> dist(50 * k);
    std::vector<int64_t> lab(50 * k);
    EXPECT_TRUE(idx.search(50, q.data(), k, dist.data(), lab.data(), nullptr, p).is_ok());
    int hits = 0;
    for (int i = 0; i < 50; ++i) {
      auto truth = brute_force(x, ids, q.data() + i * d, d, k, [](int64_t) { return true; });
      for (int j = 0; j < k; ++j) hits += std::count(truth.begin(), truth.end(), lab[i * k + j]);
    }
    return hits / double(50 * k);
  };
  auto ivf = make("IVF32,Flat", d);
  ASSERT_TRUE(ivf->add(n, x.data(), ids.data()).is_ok());
  ASSERT_TRUE(ivf->stats().trained);
  SearchParams one, all;
  one.nprobe = 1;
  all.nprobe = 32;
  EXPECT_LT(recall(*ivf, one), 0.9);
  EXPECT_DOUBLE_EQ(recall(*ivf, all), 1.0);

  auto hnsw = make("HNSW4", d);
  ASSERT_TRUE(hnsw->add(n, x.data(), ids.data()).is_ok());
  SearchParams low, high;
  low.ef_search = 10;
  high.ef_search = 1000;
  const double r_low = recall(*hnsw, low), r_high = recall(*hnsw, high);
  EXPECT_LT(r_low, r_high);
  EXPECT_GT(r_high, 0.97);
  SearchParams negative;
  negative.nprobe = -1;
  std::vector<float> dist(k);
  std::vector<int64_t> lab(k);
  EXPECT_EQ(ivf->search(1, q.data(), k, dist.data(), lab.data(), nullptr, negative).code(),
            StatusCode::kInvalidArgument);
}

void expect_same_results(const VectorIndex& a, const VectorIndex& b, const std::vector<float>& q,
                         int d) {
  const int64_t n = static_cast<int64_t>(q.size()) / d, k = 5;
  std::vector<float> da(n * k), db(n * k);
  std::vector<int64_t> la(n * k), lb(n * k);
  ASSERT_TRUE(a.search(n, q.data(), k, da.data(), la.data()).is_ok());
  ASSERT_TRUE(b.search(n, q.data(), k, db.data(), lb.data()).is_ok());
  EXPECT_EQ(la, lb);
  EXPECT_EQ(da, db);
}

TEST(VectorIndexTest, SaveLoadRoundTripsEveryKind) {
  TempDir tmp;
  const int d = 16;
  auto x = random_unit(1200, d, 13);
  auto ids = iota_ids(1200, 5);
  auto q = random_unit(30, d, 14);
  std::vector<int64_t> gone = {5, 6, 100, 700};
  for (const char* spec : {"Flat", "HNSW16", "IVF16,Flat", "IVF16,PQ4", "IVF16,Flat,RFlat"}) {
    for (int64_t count : {int64_t{300}, int64_t{1200}}) {
      auto idx = make(spec, d);
      ASSERT_TRUE(idx->add(count, x.data(), ids.data()).is_ok());
      ASSERT_TRUE(idx->remove(gone.size(), gone.data()).is_ok());
      const auto path = tmp.path() / "x.faiss";
      ASSERT_TRUE(idx->save(path).is_ok());
      auto loaded = VectorIndex::load(path);
      ASSERT_TRUE(loaded.is_ok()) << spec << ": " << loaded.status();
      auto& l = **loaded;
      EXPECT_EQ(l.spec(), spec);
      EXPECT_EQ(l.dimension(), d);
      EXPECT_EQ(l.size(), idx->size());
      EXPECT_EQ(l.stats().tombstones, idx->stats().tombstones);
      EXPECT_EQ(l.stats().pending, idx->stats().pending);
      EXPECT_EQ(l.stats().trained, idx->stats().trained);
      EXPECT_FALSE(l.contains(100));
      EXPECT_TRUE(l.contains(200));
      expect_same_results(*idx, l, q, d);
      EXPECT_FALSE(std::filesystem::exists(path.string() + ".tmp"));
    }
  }
}

TEST(VectorIndexTest, DamagedFilesAreReportedAsCorruption) {
  TempDir tmp;
  const int d = 8;
  auto idx = make("Flat", d);
  auto x = random_unit(100, d, 15);
  auto ids = iota_ids(100);
  ASSERT_TRUE(idx->add(100, x.data(), ids.data()).is_ok());
  const auto path = tmp.path() / "i.faiss";
  ASSERT_TRUE(idx->save(path).is_ok());
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto write = [&](const std::string& b) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(b.data(), static_cast<std::streamsize>(b.size()));
  };
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x40;
  write(flipped);
  auto r = VectorIndex::load(path);
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("checksum"), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find(path.string()), std::string::npos);

  write(bytes.substr(0, bytes.size() - 30));
  EXPECT_EQ(VectorIndex::load(path).status().code(), StatusCode::kCorruption);
  write("hello");
  EXPECT_EQ(VectorIndex::load(path).status().code(), StatusCode::kCorruption);
  write(std::string(4096, '\0'));
  EXPECT_EQ(VectorIndex::load(path).status().code(), StatusCode::kCorruption);
  EXPECT_EQ(VectorIndex::load(tmp.path() / "missing.faiss").status().code(), StatusCode::kNotFound);
  write(bytes);
  EXPECT_TRUE(VectorIndex::load(path).is_ok());
}

TEST(VectorIndexTest, MemoryGrowsWithContent) {
  auto idx = make("Flat", 64);
  const size_t empty = idx->memory_bytes();
  auto x = random_unit(1000, 64, 16);
  auto ids = iota_ids(1000);
  ASSERT_TRUE(idx->add(1000, x.data(), ids.data()).is_ok());
  EXPECT_GE(idx->memory_bytes(), empty + 1000 * 64 * 4);
}

}  // namespace
}  // namespace vista::index

namespace vista::index {
namespace {

// Collections receive vectors in many small batches. With FAISS's default efConstruction (40)
// such a graph over clustered data loses a third of its recall (0.70 recall@10 here); Vista's
// HNSW settings keep it near exact at the default efSearch.
TEST(VectorIndexHnswTest, GraphBuiltInSmallBatchesKeepsRecall) {
  indexbench::SyntheticOptions options;
  options.count = 10000;
  options.queries = 200;
  options.dim = 768;
  auto data = indexbench::make_synthetic(options);
  ASSERT_TRUE(data.is_ok()) << data.status();
  const int d = options.dim;
  const auto& base = data->base.values;
  const auto ids = iota_ids(options.count);

  auto created = VectorIndex::create("HNSW32", d);
  ASSERT_TRUE(created.is_ok()) << created.status();
  auto& index = **created;
  for (int64_t first = 0; first < options.count; first += 100) {
    ASSERT_TRUE(index.add(100, base.data() + first * d, ids.data() + first).is_ok());
  }

  constexpr int64_t k = 10;
  const int64_t nq = options.queries;
  std::vector<float> distances(nq * k);
  std::vector<int64_t> labels(nq * k);
  ASSERT_TRUE(
      index.search(nq, data->queries.values.data(), k, distances.data(), labels.data()).is_ok());
  double found = 0;
  for (int64_t q = 0; q < nq; ++q) {
    const auto truth = brute_force(base, ids, data->queries.values.data() + q * d, d, k,
                                   [](int64_t) { return true; });
    const std::set<int64_t> expected(truth.begin(), truth.end());
    for (int64_t j = 0; j < k; ++j) found += expected.count(labels[q * k + j]);
  }
  const double recall = found / static_cast<double>(nq * k);
  std::cout << "recall@10 of HNSW32 built 100 vectors at a time: " << recall << "\n";
  EXPECT_GE(recall, 0.98);
}

}  // namespace
}  // namespace vista::index
