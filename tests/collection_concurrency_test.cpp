// Searches, gets and counts run while a writer upserts, replaces and removes, while snapshots
// are written and the index is rebuilt. Readers must never see an error, a duplicate id, a
// half-applied batch, or lose a document nobody touched. Also run under ThreadSanitizer (see
// docs/storage.md).
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <random>
#include <set>
#include <thread>

#include "engine/collection.h"
#include "tests/random_vectors.h"
#include "tests/test_support.h"

namespace vista::engine {
namespace {

using nlohmann::json;
using vista::testing::TempDir;

const ModelIdentity kModel{"m", "h"};
constexpr int kDim = 32;
constexpr int kStable = 300;
constexpr int kBatch = 5;

std::vector<float> unit(uint64_t seed) {
  return vista::testing::random_unit_vector(seed, kDim);
}

void run(const std::string& spec, int batches, bool check_batch_atomicity) {
  TempDir tmp;
  CollectionConfig config;
  config.dimension = kDim;
  config.index_spec = spec;
  config.model = kModel;
  auto created = Collection::create(tmp.path() / "c", "c", config);
  ASSERT_TRUE(created.is_ok()) << created.status();
  std::shared_ptr<Collection> c = *created;

  std::vector<Document> stable;
  for (int i = 0; i < kStable; ++i) {
    Document d;
    d.id = "s-" + std::to_string(i);
    d.vector = unit(i);
    d.metadata = {{"stable", true}, {"i", i}};
    stable.push_back(d);
  }
  ASSERT_TRUE(c->upsert(kModel, stable).is_ok());

  std::atomic<int> written_batches{0};
  std::atomic<bool> done{false};
  std::atomic<int64_t> searches{0}, filtered_nonempty{0};

  std::thread writer([&] {
    for (int b = 0; b < batches; ++b) {
      std::vector<Document> docs;
      for (int j = 0; j < kBatch; ++j) {
        Document d;
        d.id = "w-" + std::to_string(b) + "-" + std::to_string(j);
        d.vector = unit(100000 + b * kBatch + j);
        d.metadata = {{"batch", b}, {"gen", 1}};
        docs.push_back(d);
      }
      auto r = c->upsert(kModel, docs);
      EXPECT_TRUE(r.is_ok()) << r.status();
      written_batches.store(b + 1);
      if (b >= 1 && b % 4 == 0) {  // replace the previous batch wholesale
        for (int j = 0; j < kBatch; ++j) {
          docs[j].id = "w-" + std::to_string(b - 1) + "-" + std::to_string(j);
          docs[j].vector = unit(900000 + b * kBatch + j);
          docs[j].metadata = {{"batch", b - 1}, {"gen", 2}};
        }
        EXPECT_TRUE(c->upsert(kModel, docs).is_ok());
      }
      if (b >= 2 && b % 3 == 0) {  // remove an older batch wholesale
        std::vector<std::string> ids;
        for (int j = 0; j < kBatch; ++j)
          ids.push_back("w-" + std::to_string(b - 2) + "-" + std::to_string(j));
        auto r2 = c->remove(ids);
        EXPECT_TRUE(r2.is_ok()) << r2.status();
      }
    }
    done.store(true);
  });

  std::thread maintenance([&] {
    int round = 0;
    while (!done.load()) {
      Status st = (round % 3 == 2) ? c->rebuild() : c->snapshot();
      EXPECT_TRUE(st.is_ok()) << st;
      ++round;
      std::this_thread::sleep_for(std::chrono::milliseconds(40));
    }
  });

  auto reader = [&](uint64_t seed) {
    std::mt19937_64 rng(seed);
    while (!done.load()) {
      // An untouched document is always found as its own top-1.
      const int i = static_cast<int>(rng() % kStable);
      SearchOptions o;
      o.k = 1;
      o.params.ef_search = 64;
      auto r = c->search(kModel, stable[i].vector.data(), 1, o);
      EXPECT_TRUE(r.is_ok()) << r.status();
      if (r.is_ok()) {
        EXPECT_EQ((*r)[0].size(), 1u);
        if (!(*r)[0].empty()) {
          EXPECT_EQ((*r)[0][0].document.id, stable[i].id);
        }
      }
      // A wide search: unique ids, best first.
      auto q = unit(rng());
      o.k = 30;
      r = c->search(kModel, q.data(), 1, o);
      EXPECT_TRUE(r.is_ok()) << r.status();
      if (r.is_ok()) {
        std::set<std::string> seen;
        float last = INFINITY;
        for (const auto& h : (*r)[0]) {
          EXPECT_TRUE(seen.insert(h.document.id).second) << "duplicate " << h.document.id;
          EXPECT_LE(h.score, last + 1e-6f);
          last = h.score;
        }
      }
      // A batch is seen whole or not at all.
      const int wb = written_batches.load();
      if (wb > 0) {
        const int b = static_cast<int>(rng() % wb);
        auto f = Filter::compile(json{{"batch", b}});
        o.filter = *f;
        o.k = 10;
        r = c->search(kModel, q.data(), 1, o);
        EXPECT_TRUE(r.is_ok()) << r.status();
        if (r.is_ok()) {
          const auto& hits = (*r)[0];
          if (check_batch_atomicity) {
            EXPECT_TRUE(hits.empty() || hits.size() == static_cast<size_t>(kBatch))
                << "batch " << b << " seen with " << hits.size() << " documents";
          }
          std::set<int> gens;
          for (const auto& h : hits) {
            EXPECT_EQ(h.document.metadata["batch"], b);
            gens.insert(h.document.metadata["gen"].get<int>());
          }
          EXPECT_LE(gens.size(), 1u) << "batch " << b << " mixes generations";
          if (!hits.empty()) ++filtered_nonempty;
        }
        o.filter.reset();
      }
      auto g = c->get({stable[i].id});
      EXPECT_TRUE(g.is_ok() && (*g)[0].has_value());
      EXPECT_GE(c->count(), kStable);
      (void)c->info();
      ++searches;
    }
  };
  std::vector<std::thread> readers;
  for (uint64_t t = 0; t < 3; ++t) readers.emplace_back(reader, 42 + t);
  writer.join();
  maintenance.join();
  for (auto& t : readers) t.join();

  EXPECT_GT(searches.load(), 0);
  // Final state is exact: batches never removed remain, removed ones are gone.
  int64_t expected = kStable;
  for (int b = 0; b < batches; ++b) {
    const bool removed = (b + 2) < batches && (b + 2) >= 2 && (b + 2) % 3 == 0;
    if (!removed) expected += kBatch;
  }
  EXPECT_EQ(c->count(), expected);
  EXPECT_EQ(c->info().index.size, expected);
  std::printf("[ threads  ] %s: %lld reader rounds, %lld non-empty filtered batches seen\n",
              spec.c_str(), static_cast<long long>(searches.load()),
              static_cast<long long>(filtered_nonempty.load()));
}

TEST(CollectionConcurrencyTest, FlatReadersSeeWholeBatchesWhileWriting) {
  run("Flat", 120, true);
}

TEST(CollectionConcurrencyTest, HnswReadersWorkWhileWritingWithTombstones) {
  run("HNSW16", 80, false);
}

}  // namespace
}  // namespace vista::engine
