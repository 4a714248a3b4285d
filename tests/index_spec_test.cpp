// The index spec rules (index/index_spec.h): refusals name the parameter and its range, and
// every spec the rules accept can be created, filled, searched, reopened and dropped.
#include "index/index_spec.h"

#include <gtest/gtest.h>

#include <omp.h>

#include <cmath>
#include <random>

#include "engine/catalog.h"
#include "index/vector_index.h"
#include "tests/test_support.h"

namespace vista::index {
namespace {

namespace fs = std::filesystem;
using engine::Catalog;
using engine::CollectionConfig;
using engine::Document;
using vista::testing::TempDir;

constexpr int kDim = 16;

// The crashes and blow-ups seen with FAISS's own factory, and what each refusal must name.
TEST(IndexSpecTest, DangerousSpecsAreRefusedNamingTheParameterAndRange) {
  struct Case {
    const char* spec;
    const char* names;
  };
  const Case cases[] = {
      {"HNSW0", "HNSW M (links per node) must be 4..128, got 0"},
      {"HNSW1", "HNSW M (links per node) must be 4..128, got 1"},
      {"HNSW129", "must be 4..128"},
      {"IVF0,Flat", "IVF nlist (inverted lists) must be 1..16384"},
      {"IVF100000000,Flat", "IVF nlist (inverted lists) must be 1..16384"},
      {"IVF16", "IVF needs its list storage"},
      {"NSG32", "'NSG32' is not a supported index"},
      {"LSH", "'LSH' is not a supported index"},
      {"IDMap,Flat", "'IDMap' is not a supported index"},
      {"PQ7", "PQ m must divide the dimension 16, got 7"},
      {"PQ32", "PQ m (sub-quantizers) must be 1..16"},
      {"PQ4x13", "PQ nbits must be 4..12"},
      {"PQ4x2", "PQ nbits must be 4..12"},
      {"PQ4nq", "is not PQ<m>[x<nbits>][np|fs]"},
      {"PQ4x8fs", "fast-scan PQ (fs) needs 4-bit codes (x4), got 8"},
      {"IVF4,PQ4fs", "fast-scan PQ (fs) needs 4-bit codes (x4), got 8"},
      {"IVF4,PQ4x9", "PQ nbits must be 4..8"},
      {"PCA17,Flat", "PCA output dimension must be 1..16"},
      {"OPQ3,PQ4", "OPQ m must divide its output dimension 16, got 3"},
      // Found by the request fuzzer: PCA with OPQ's output syntax was read as OPQ4_8.
      {"PCA4_8,PQ4", "'PCA4_8' is not PCA<d>, OPQ<m> or OPQ<m>_<d>"},
      {"HNSW32,PQ8", "'PQ8' cannot follow here"},
      {"Flat,Flat", "unexpected 'Flat' after the index"},
      {"SQ7", "'SQ7' is not a supported index"},
      {"PCA8", "no index after the transforms"},
      {"HNSW99999999999999999999", "HNSW"},
  };
  for (const auto& c : cases) {
    auto parsed = parse_index_spec(c.spec, kDim);
    ASSERT_FALSE(parsed.is_ok()) << c.spec;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << c.spec;
    EXPECT_NE(parsed.status().message().find(c.names), std::string::npos)
        << c.spec << ": " << parsed.status().message();
    // The same refusal through every door: VectorIndex (used by collections and the benchmark).
    EXPECT_EQ(VectorIndex::validate_spec(c.spec, kDim).code(), StatusCode::kInvalidArgument)
        << c.spec;
  }
}

TEST(IndexSpecTest, BoundsFollowTheDimensionSoFixedMemoryStaysBounded) {
  EXPECT_EQ(max_ivf_lists(768), kMaxIvfLists);
  EXPECT_EQ(max_ivf_lists(65536), 1024);
  EXPECT_EQ(max_pq_bits(768), kMaxPqBits);
  EXPECT_EQ(max_pq_bits(65536), 10);
  EXPECT_EQ(max_transform_dim(768), 768);
  EXPECT_EQ(max_transform_dim(65536), 1024);
  EXPECT_FALSE(parse_index_spec("IVF2048,Flat", 65536).is_ok());
  EXPECT_FALSE(parse_index_spec("PCA2048,Flat", 65536).is_ok());
  auto ok = parse_index_spec("OPQ16_64,IVF1024,PQ16x8", 768);
  ASSERT_TRUE(ok.is_ok()) << ok.status();
  EXPECT_EQ(ok->core_dimension, 64);
  EXPECT_EQ(ok->training_minimum(), 1024);
  EXPECT_LE(ok->fixed_bytes(768), kMaxFixedBytes);
  EXPECT_EQ(parse_index_spec("Flat", 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(parse_index_spec("Flat", 65537).status().code(), StatusCode::kInvalidArgument);
}

// Accepted specs at the edges of every range, and typical ones.
std::vector<std::string> accepted_grid() {
  std::vector<std::string> specs = {"Flat", "SQ4", "SQ6", "SQ8", "SQfp16"};
  for (int m : {kMinHnswM, 32, kMaxHnswM}) {
    specs.push_back("HNSW" + std::to_string(m));
    specs.push_back("HNSW" + std::to_string(m) + ",Flat");
  }
  specs.push_back("HNSW16,SQ8");
  specs.push_back("HNSW8,SQfp16");
  for (const char* pq : {"PQ1", "PQ16", "PQ4x4", "PQ8x8"}) {
    specs.push_back(pq);
    specs.push_back(std::string("IVF4,") + pq);
  }
  specs.push_back("PQ8x12");
  specs.push_back("PQ4x4np");
  specs.push_back("IVF4,PQ8np");
  specs.push_back("PQ4x4fs");
  specs.push_back("IVF4,PQ8x4fs");
  for (int64_t nlist : {int64_t{1}, int64_t{16}, kMaxIvfLists}) {
    specs.push_back("IVF" + std::to_string(nlist) + ",Flat");
    specs.push_back("IVF" + std::to_string(nlist) + ",SQ8");
  }
  specs.insert(specs.end(),
               {"IVF16,Flat,RFlat", "PQ4,RFlat", "HNSW16,RFlat", "PCA1,Flat", "PCA16,HNSW8",
                "PCA8,IVF8,PQ4", "OPQ4,PQ4", "OPQ4_8,IVF4,PQ4", "OPQ2_4,Flat"});
  return specs;
}

std::vector<Document> clustered_documents(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.f, 0.1f);
  std::vector<std::vector<float>> centers(8, std::vector<float>(kDim));
  for (auto& c : centers)
    for (float& v : c) v = noise(rng) * 10;
  std::vector<Document> docs(n);
  for (int i = 0; i < n; ++i) {
    docs[i].id = "d" + std::to_string(i);
    docs[i].vector = centers[i % centers.size()];
    double norm = 0;
    for (float& v : docs[i].vector) {
      v += noise(rng);
      norm += v * v;
    }
    for (float& v : docs[i].vector) v = static_cast<float>(v / std::sqrt(norm));
  }
  return docs;
}

// The property: every accepted spec survives the whole life of a collection.
TEST(IndexSpecPropertyTest, EveryAcceptedSpecCanBeCreatedFilledSearchedReopenedAndDropped) {
  // Training dozens of small indexes: one thread avoids OpenMP's barriers on a busy machine.
  omp_set_num_threads(1);
  const engine::ModelIdentity model{"m", "h"};
  // 900 vectors stay below every training threshold (1,000 at least): training dozens of
  // indexes is slow on a busy machine, and training itself is vector_index_test's subject.
  const std::vector<Document> docs = clustered_documents(900, 7);
  for (const std::string& spec : accepted_grid()) {
    SCOPED_TRACE(spec);
    ASSERT_TRUE(parse_index_spec(spec, kDim).is_ok()) << parse_index_spec(spec, kDim).status();
    TempDir tmp;
    {
      auto catalog = Catalog::open(tmp.path());
      ASSERT_TRUE(catalog.is_ok());
      auto created = (*catalog)->create("c", CollectionConfig{kDim, spec, model});
      ASSERT_TRUE(created.is_ok()) << created.status();
      ASSERT_TRUE((*created)->upsert(model, docs).is_ok());
      engine::SearchOptions o;
      o.k = 5;
      auto hits = (*created)->search(model, docs[3].vector.data(), 1, o);
      ASSERT_TRUE(hits.is_ok()) << hits.status();
      ASSERT_FALSE((*hits)[0].empty());
      ASSERT_TRUE((*catalog)->close().is_ok());
    }
    auto catalog = Catalog::open(tmp.path());
    ASSERT_TRUE(catalog.is_ok());
    auto entries = (*catalog)->list_entries();
    ASSERT_TRUE(entries.is_ok());
    ASSERT_EQ(entries->size(), 1u);
    ASSERT_TRUE((*entries)[0].error.is_ok()) << (*entries)[0].error;
    auto again = (*catalog)->get("c");
    ASSERT_TRUE(again.is_ok()) << again.status();
    EXPECT_EQ((*again)->count(), 900);
    engine::SearchOptions o;
    o.k = 5;
    auto hits = (*again)->search(model, docs[5].vector.data(), 1, o);
    ASSERT_TRUE(hits.is_ok()) << hits.status();
    EXPECT_FALSE((*hits)[0].empty());
    again->reset();
    ASSERT_TRUE((*catalog)->drop("c").is_ok());
    EXPECT_TRUE((*catalog)->list()->empty());
  }
}

// Random specs built from the grammar's pieces with numbers around every bound: whatever the
// rules accept, FAISS builds and can add to and search; whatever they refuse leaves nothing on
// disk.
TEST(IndexSpecPropertyTest, RandomSpecsAreEitherUsableOrRefusedCleanly) {
  std::mt19937 rng(14);
  const std::vector<std::string> heads = {"", "PCA", "OPQ", "OPQ4_", "NSG", "LSH", "IDMap"};
  const std::vector<std::string> cores = {"Flat", "SQ", "PQ", "HNSW", "IVF", "NSG", "IMI2x"};
  const std::vector<std::string> tails = {"",       ",Flat", ",SQ8",       ",PQ",
                                          ",RFlat", ",HNSW", ",Flat,RFlat"};
  const std::vector<int64_t> numbers = {0,  1,  2,  3,  4,   5,   7,     8,     12,
                                        13, 16, 17, 64, 128, 129, 16384, 16385, 100000000};
  auto pick = [&](const auto& v) { return v[rng() % v.size()]; };
  auto number = [&] { return std::to_string(pick(numbers)); };
  const engine::ModelIdentity model{"m", "h"};
  const std::vector<Document> docs = clustered_documents(300, 3);
  int accepted = 0, refused = 0;
  TempDir tmp;
  auto catalog = Catalog::open(tmp.path());
  ASSERT_TRUE(catalog.is_ok());
  for (int round = 0; round < 400; ++round) {
    std::string spec;
    const std::string head = pick(heads);
    if (!head.empty()) spec += head + number() + ",";
    const std::string core = pick(cores);
    spec += core;
    if (core != "Flat")
      spec += core == "SQ" ? pick(std::vector<std::string>{"4", "8", "fp16", "5"}) : number();
    std::string tail = pick(tails);
    if (tail == ",PQ" || tail == ",HNSW") tail += number();
    spec += tail;
    SCOPED_TRACE(spec);
    auto parsed = parse_index_spec(spec, kDim);
    auto created = (*catalog)->create("c", CollectionConfig{kDim, spec, model});
    if (!parsed.is_ok()) {
      ++refused;
      EXPECT_EQ(created.status().code(), StatusCode::kInvalidArgument);
      EXPECT_FALSE(fs::exists(tmp.path() / "c"));
      continue;
    }
    ++accepted;
    ASSERT_TRUE(created.is_ok()) << created.status();
    ASSERT_TRUE((*created)->upsert(model, docs).is_ok());
    engine::SearchOptions o;
    o.k = 3;
    auto hits = (*created)->search(model, docs[0].vector.data(), 1, o);
    ASSERT_TRUE(hits.is_ok()) << hits.status();
    created->reset();
    ASSERT_TRUE((*catalog)->drop("c").is_ok());
  }
  // The sample must exercise both sides.
  EXPECT_GT(accepted, 10);
  EXPECT_GT(refused, 100);
}

}  // namespace
}  // namespace vista::index
