#include "engine/collection.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "engine/store.h"
#include "tests/log_capture.h"
#include "tests/random_vectors.h"
#include "tests/test_support.h"

namespace vista::engine {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using vista::testing::LogCapture;
using vista::testing::TempDir;

const ModelIdentity kModel{"test-model", "sha256:abc"};
constexpr int kDim = 16;

std::vector<float> unit(uint32_t seed, int d = kDim) {
  return vista::testing::random_unit_vector(seed, d);
}

Document doc(const std::string& id, uint32_t seed, json meta = json::object()) {
  Document d;
  d.id = id;
  d.vector = unit(seed);
  d.metadata = std::move(meta);
  return d;
}

CollectionConfig config(const std::string& spec = "Flat") {
  CollectionConfig c;
  c.dimension = kDim;
  c.index_spec = spec;
  c.model = kModel;
  return c;
}

std::shared_ptr<Collection> make(const fs::path& dir, const std::string& spec = "Flat",
                                 CollectionOptions options = {}) {
  auto r = Collection::create(dir / "c", "c", config(spec), options);
  EXPECT_TRUE(r.is_ok()) << r.status();
  return r.is_ok() ? std::move(r).value() : nullptr;
}

std::shared_ptr<Collection> reopen(const fs::path& dir, CollectionOptions options = {}) {
  auto r = Collection::open(dir / "c", "c", options);
  EXPECT_TRUE(r.is_ok()) << r.status();
  return r.is_ok() ? std::move(r).value() : nullptr;
}

std::vector<SearchHit> search_one(const Collection& c, const std::vector<float>& q, int64_t k,
                                  std::optional<Filter> filter = std::nullopt) {
  SearchOptions o;
  o.k = k;
  o.filter = std::move(filter);
  auto r = c.search(kModel, q.data(), 1, o);
  EXPECT_TRUE(r.is_ok()) << r.status();
  return r.is_ok() ? (*r)[0] : std::vector<SearchHit>{};
}

TEST(CollectionTest, UpsertGetSearchRoundTrip) {
  TempDir tmp;
  auto c = make(tmp.path());
  std::vector<Document> docs;
  for (int i = 0; i < 50; ++i) {
    Document d = doc("doc-" + std::to_string(i), i, {{"i", i}, {"even", i % 2 == 0}});
    if (i == 3) {
      d.text = "a cat on a mat";
      d.source = "/photos/cat.jpg";
      d.content_hash = "sha256:123";
    }
    docs.push_back(d);
  }
  auto r = c->upsert(kModel, docs);
  ASSERT_TRUE(r.is_ok()) << r.status();
  EXPECT_EQ(r->inserted, 50);
  EXPECT_EQ(r->updated, 0);
  EXPECT_EQ(r->sequence, 1u);
  EXPECT_EQ(c->count(), 50);

  auto got = c->get({"doc-3", "nope", "doc-7"}, true);
  ASSERT_TRUE(got.is_ok());
  ASSERT_TRUE((*got)[0].has_value());
  EXPECT_FALSE((*got)[1].has_value());
  const Document& d3 = *(*got)[0];
  EXPECT_EQ(d3.metadata, json({{"i", 3}, {"even", false}}));
  EXPECT_EQ(d3.text, "a cat on a mat");
  EXPECT_EQ(d3.source, "/photos/cat.jpg");
  EXPECT_EQ(d3.content_hash, "sha256:123");
  EXPECT_EQ(d3.vector, docs[3].vector);
  EXPECT_GT(d3.created_at_ms, 0);
  EXPECT_FALSE((*got)[2]->text.has_value());

  for (int i = 0; i < 50; ++i) {
    auto hits = search_one(*c, docs[i].vector, 3);
    ASSERT_EQ(hits.size(), 3u);
    EXPECT_EQ(hits[0].document.id, docs[i].id);
    EXPECT_NEAR(hits[0].score, 1.0f, 1e-5);
    EXPECT_EQ(hits[0].document.metadata["i"], i);
  }
  auto hits = search_one(*c, docs[3].vector, 1);
  EXPECT_EQ(hits[0].document.text, "a cat on a mat");
  EXPECT_TRUE(hits[0].document.vector.empty());

  // Batch of queries, without the document join.
  std::vector<float> queries;
  for (int i = 0; i < 4; ++i)
    queries.insert(queries.end(), docs[i].vector.begin(), docs[i].vector.end());
  SearchOptions o;
  o.k = 2;
  o.include_metadata = false;
  o.include_vectors = true;
  auto batch = c->search(kModel, queries.data(), 4, o);
  ASSERT_TRUE(batch.is_ok());
  ASSERT_EQ(batch->size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ((*batch)[i][0].document.id, docs[i].id);
    EXPECT_TRUE((*batch)[i][0].document.metadata.empty());
    EXPECT_EQ((*batch)[i][0].document.vector, docs[i].vector);
  }
}

TEST(CollectionTest, UpsertReplacesAndKeepsCreationTime) {
  TempDir tmp;
  auto c = make(tmp.path());
  ASSERT_TRUE(c->upsert(kModel, {doc("a", 1, {{"v", 1}}), doc("b", 2)}).is_ok());
  auto before = (*c->get({"a"}))[0];
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto r = c->upsert(kModel, {doc("a", 3, {{"v", 2}}), doc("c", 4)});
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->inserted, 1);
  EXPECT_EQ(r->updated, 1);
  EXPECT_EQ(c->count(), 3);
  auto after = (*c->get({"a"}, true))[0];
  EXPECT_EQ(after->metadata["v"], 2);
  EXPECT_EQ(after->vector, unit(3));
  EXPECT_EQ(after->created_at_ms, before->created_at_ms);
  EXPECT_GT(after->updated_at_ms, before->updated_at_ms);
  // The old vector is gone from the index: searching it finds nothing named "a" at score 1.
  auto hits = search_one(*c, unit(1), 3);
  for (auto& h : hits) {
    if (h.document.id == "a") {
      EXPECT_LT(h.score, 0.999f);
    }
  }
  EXPECT_EQ(search_one(*c, unit(3), 1)[0].document.id, "a");
}

TEST(CollectionTest, RemoveDeletesEverywhere) {
  TempDir tmp;
  auto c = make(tmp.path());
  std::vector<Document> docs;
  for (int i = 0; i < 20; ++i) docs.push_back(doc("d" + std::to_string(i), i));
  ASSERT_TRUE(c->upsert(kModel, docs).is_ok());
  auto r = c->remove({"d1", "d5", "missing"});
  ASSERT_TRUE(r.is_ok()) << r.status();
  EXPECT_EQ(r->removed, 2);
  EXPECT_EQ(r->missing.size(), 1u);
  EXPECT_EQ(c->count(), 18);
  EXPECT_FALSE((*c->get({"d1"}))[0].has_value());
  for (int i = 0; i < 20; ++i) {
    for (auto& h : search_one(*c, docs[i].vector, 20)) {
      EXPECT_NE(h.document.id, "d1");
      EXPECT_NE(h.document.id, "d5");
    }
  }
  auto none = c->remove({"missing"});
  ASSERT_TRUE(none.is_ok());
  EXPECT_EQ(none->sequence, 0u);
  EXPECT_EQ(c->remove({"d2", "d2"}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(c->count(), 18);
}

// Every rejected call names the problem and leaves the collection exactly as it was.
TEST(CollectionTest, BadInputLeavesStateUnchanged) {
  TempDir tmp;
  auto c = make(tmp.path());
  ASSERT_TRUE(c->upsert(kModel, {doc("keep", 1, {{"x", 1}})}).is_ok());
  const auto seq = c->info().sequence;

  auto expect_rejected = [&](std::vector<Document> batch, StatusCode code,
                             const std::string& needle) {
    auto r = c->upsert(kModel, batch);
    ASSERT_FALSE(r.is_ok()) << needle;
    EXPECT_EQ(r.status().code(), code) << r.status();
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status();
    EXPECT_EQ(c->count(), 1);
    EXPECT_EQ(c->info().sequence, seq);
    EXPECT_FALSE((*c->get({"new"}))[0].has_value());
    auto keep = (*c->get({"keep"}, true))[0];
    EXPECT_EQ(keep->metadata["x"], 1);
    EXPECT_EQ(keep->vector, unit(1));
  };
  Document short_vec = doc("bad", 2);
  short_vec.vector.resize(kDim - 1);
  expect_rejected({doc("new", 5), short_vec}, StatusCode::kInvalidArgument,
                  "vector has 15 components");
  expect_rejected({doc("new", 5), short_vec}, StatusCode::kInvalidArgument,
                  "document 1 (id 'bad')");
  Document nan = doc("bad", 2);
  nan.vector[4] = std::nanf("");
  expect_rejected({doc("new", 5), nan}, StatusCode::kInvalidArgument, "component 4 is NaN");
  Document inf = doc("bad", 2);
  inf.vector[0] = -INFINITY;
  expect_rejected({doc("new", 5), inf}, StatusCode::kInvalidArgument, "infinite");
  expect_rejected({doc("new", 5), doc("keep", 7), doc("new", 6)}, StatusCode::kInvalidArgument,
                  "appears more than once");
  expect_rejected({doc("new", 5), doc("", 6)}, StatusCode::kInvalidArgument, "id is empty");
  expect_rejected({doc("new", 5), doc(std::string(257, 'x'), 6)}, StatusCode::kInvalidArgument,
                  "257 bytes");
  expect_rejected({doc("new", 5), doc("bad\xff\xfe", 6)}, StatusCode::kInvalidArgument, "UTF-8");
  expect_rejected({doc("new", 5), doc("bad", 6, json::array({1, 2}))}, StatusCode::kInvalidArgument,
                  "metadata must be a JSON object");
  expect_rejected({doc("new", 5), doc("bad", 6, {{"k", "\xc3"}})}, StatusCode::kInvalidArgument,
                  "UTF-8");
  Document bad_text = doc("bad", 6);
  bad_text.text = std::string("\xe2\x28\xa1");
  expect_rejected({doc("new", 5), bad_text}, StatusCode::kInvalidArgument,
                  "text is not valid UTF-8");

  // 256 bytes is the limit, inclusive; multi-byte UTF-8 ids are fine.
  ASSERT_TRUE(
      c->upsert(kModel, {doc(std::string(256, 'y'), 8), doc("ünïcödé-ид-名前", 9)}).is_ok());
  EXPECT_TRUE((*c->get({"ünïcödé-ид-名前"}))[0].has_value());
  ASSERT_TRUE(c->remove({std::string(256, 'y'), "ünïcödé-ид-名前"}).is_ok());

  // Another model's vectors.
  const ModelIdentity other{"other-model", "sha256:def"};
  auto r = c->upsert(other, {doc("new", 5)});
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("'test-model' (checkpoint sha256:abc)"), std::string::npos)
      << r.status();
  EXPECT_NE(r.status().message().find("'other-model' (checkpoint sha256:def)"), std::string::npos);
  const ModelIdentity same_name{"test-model", "sha256:zzz"};
  EXPECT_EQ(c->upsert(same_name, {doc("new", 5)}).status().code(), StatusCode::kFailedPrecondition);
  auto q = unit(1);
  SearchOptions o;
  EXPECT_EQ(c->search(other, q.data(), 1, o).status().code(), StatusCode::kFailedPrecondition);
  // The same weights under another name (a renamed model folder) are the same model.
  const ModelIdentity renamed{"renamed-folder", "sha256:abc"};
  EXPECT_TRUE(c->search(renamed, q.data(), 1, o).is_ok());
  EXPECT_EQ(c->count(), 1);

  // Bad searches.
  o.k = 0;
  EXPECT_EQ(c->search(kModel, q.data(), 1, o).status().code(), StatusCode::kInvalidArgument);
  o.k = 10001;
  EXPECT_EQ(c->search(kModel, q.data(), 1, o).status().code(), StatusCode::kInvalidArgument);
  o.k = 1;
  q[3] = std::nanf("");
  auto sr = c->search(kModel, q.data(), 1, o);
  EXPECT_EQ(sr.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(sr.status().message().find("query 0: component 3 is NaN"), std::string::npos)
      << sr.status();
  q = unit(1);
  o.params.ef_search = -5;
  EXPECT_EQ(c->search(kModel, q.data(), 1, o).status().code(), StatusCode::kInvalidArgument);

  // Invalid filters are refused where they are compiled, before any search.
  EXPECT_EQ(Filter::parse(R"({"x": {"$bogus": 1}})").status().code(), StatusCode::kInvalidArgument);

  // Invalid index spec at creation leaves nothing behind.
  auto bad = Collection::create(tmp.path() / "bad", "bad", config("HNSW-nonsense"));
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("HNSW-nonsense"), std::string::npos);
  EXPECT_FALSE(fs::exists(tmp.path() / "bad"));
  CollectionConfig zero = config();
  zero.dimension = 0;
  EXPECT_EQ(Collection::create(tmp.path() / "z", "z", zero).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Collection::create(tmp.path() / "c", "c", config()).status().code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(Collection::open(tmp.path() / "nothing", "nothing").status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(c->rebuild("Nope99").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(c->info().index_spec, "Flat");
  EXPECT_EQ(c->info().sequence, seq + 2);  // only the two good batches above
}

struct FilterCase {
  std::string filter;
  std::function<bool(int)> expect;  // by document number
};

// Filtered search results equal brute force over the documents that match.
TEST(CollectionTest, FilteredSearchEqualsBruteForce) {
  TempDir tmp;
  const std::vector<std::string> colors = {"red", "green", "blue"};
  std::vector<Document> docs;
  for (int i = 0; i < 600; ++i) {
    json m = {{"n", i}, {"color", colors[i % 3]}, {"price", (i * 37) % 101 / 4.0}};
    if (i % 5 == 0) m["tags"] = {"sale", i % 2 ? "odd" : "even"};
    if (i % 7 == 0) m["camera"] = {{"iso", (i % 4) * 100}};
    docs.push_back(doc("p" + std::to_string(i), 1000 + i, m));
  }
  auto price = [](int i) { return (i * 37) % 101 / 4.0; };
  std::vector<FilterCase> cases = {
      {R"({"color": "red"})", [](int i) { return i % 3 == 0; }},
      {R"({"color": {"$in": ["green", "blue"]}, "n": {"$lt": 300}})",
       [](int i) { return i % 3 != 0 && i < 300; }},
      {R"({"price": {"$gte": 10, "$lt": 12.5}})",
       [&](int i) { return price(i) >= 10 && price(i) < 12.5; }},
      {R"({"$or": [{"tags": "sale"}, {"n": {"$gt": 590}}]})",
       [](int i) { return i % 5 == 0 || i > 590; }},
      {R"({"$not": {"color": "blue"}})", [](int i) { return i % 3 != 2; }},
      {R"({"camera.iso": {"$gte": 200}})", [](int i) { return i % 7 == 0 && (i % 4) >= 2; }},
      {R"({"$and": [{"tags": "odd"}, {"$not": {"color": "red"}}]})",
       [](int i) { return i % 5 == 0 && i % 2 == 1 && i % 3 != 0; }},
      {R"({"n": {"$in": [4, 8, 15, 16, 23, 42]}})",
       [](int i) { return i == 4 || i == 8 || i == 15 || i == 16 || i == 23 || i == 42; }},
      {R"({"n": {"$gt": 10000}})", [](int) { return false; }},
  };
  for (const std::string spec : {"Flat", "HNSW16"}) {
    TempDir dir;
    auto c = make(dir.path(), spec);
    ASSERT_TRUE(c->upsert(kModel, docs).is_ok());
    for (const auto& fc : cases) {
      auto filter = Filter::parse(fc.filter);
      ASSERT_TRUE(filter.is_ok()) << fc.filter;
      for (uint32_t qs : {1u, 2u, 3u}) {
        const auto q = unit(qs);
        const int64_t k = 10;
        std::vector<std::pair<float, std::string>> truth;
        for (int i = 0; i < 600; ++i) {
          if (!fc.expect(i)) continue;
          float s = 0;
          for (int j = 0; j < kDim; ++j) s += docs[i].vector[j] * q[j];
          truth.emplace_back(s, docs[i].id);
        }
        std::sort(truth.begin(), truth.end(), [](auto& a, auto& b) { return a.first > b.first; });
        if (static_cast<int64_t>(truth.size()) > k) truth.resize(k);
        auto hits = search_one(*c, q, k, *filter);
        ASSERT_EQ(hits.size(), truth.size()) << spec << " " << fc.filter;
        for (size_t j = 0; j < hits.size(); ++j) {
          if (spec == "Flat") {
            EXPECT_EQ(hits[j].document.id, truth[j].second) << fc.filter << " rank " << j;
            EXPECT_NEAR(hits[j].score, truth[j].first, 1e-5);
          }
          const int n = hits[j].document.metadata["n"].get<int>();
          EXPECT_TRUE(fc.expect(n))
              << spec << " " << fc.filter << " returned " << hits[j].document.id;
        }
      }
    }
  }
}

TEST(CollectionTest, ReopenAfterCloseUsesTheSnapshot) {
  TempDir tmp;
  std::vector<Document> docs;
  for (int i = 0; i < 100; ++i) docs.push_back(doc("d" + std::to_string(i), i, {{"i", i}}));
  {
    auto c = make(tmp.path());
    ASSERT_TRUE(c->upsert(kModel, docs).is_ok());
    ASSERT_TRUE(c->remove({"d0", "d1"}).is_ok());
    ASSERT_TRUE(c->close().is_ok());
    EXPECT_EQ(c->upsert(kModel, {doc("x", 1)}).status().code(), StatusCode::kFailedPrecondition);
    EXPECT_TRUE(c->close().is_ok());  // idempotent
  }
  EXPECT_TRUE(fs::exists(tmp.path() / "c" / "index" / "2.faiss"));
  EXPECT_TRUE(fs::exists(tmp.path() / "c" / "meta.json"));
  LogCapture log;
  auto c = reopen(tmp.path());
  EXPECT_EQ(log.text().find("rebuil"), std::string::npos) << log.text();
  auto info = c->info();
  EXPECT_EQ(info.count, 98);
  EXPECT_EQ(info.sequence, 2u);
  EXPECT_EQ(info.snapshot_sequence, 2u);
  EXPECT_EQ(info.model, kModel);
  EXPECT_EQ(info.dimension, kDim);
  for (int i = 2; i < 100; ++i)
    EXPECT_EQ(search_one(*c, docs[i].vector, 1)[0].document.id, docs[i].id);
}

TEST(CollectionTest, ReplaysChangesAfterTheSnapshotWithoutGracefulClose) {
  TempDir tmp;
  CollectionOptions no_close_snapshot;
  no_close_snapshot.snapshot_on_close = false;
  std::vector<Document> docs;
  for (int i = 0; i < 60; ++i) docs.push_back(doc("d" + std::to_string(i), i));
  for (const std::string spec : {"Flat", "HNSW16"}) {
    TempDir dir;
    {
      auto c = make(dir.path(), spec, no_close_snapshot);
      ASSERT_TRUE(
          c->upsert(kModel, std::vector<Document>(docs.begin(), docs.begin() + 30)).is_ok());
      ASSERT_TRUE(c->snapshot().is_ok());
      EXPECT_EQ(c->info().snapshot_sequence, 1u);
      ASSERT_TRUE(c->upsert(kModel, std::vector<Document>(docs.begin() + 30, docs.end())).is_ok());
      ASSERT_TRUE(c->remove({"d3", "d40"}).is_ok());
      ASSERT_TRUE(c->upsert(kModel, {doc("d5", 500)}).is_ok());  // replace
    }
    LogCapture log;
    auto c = reopen(dir.path(), no_close_snapshot);
    EXPECT_NE(log.text().find("replayed"), std::string::npos) << log.text();
    EXPECT_EQ(log.text().find("rebuil"), std::string::npos) << log.text();
    EXPECT_EQ(c->count(), 58);
    EXPECT_EQ(c->info().sequence, 4u);
    EXPECT_EQ(c->info().snapshot_sequence, 1u);
    EXPECT_EQ(c->info().index.size, 58);
    for (int i = 0; i < 60; ++i) {
      if (i == 3 || i == 40) continue;
      const auto& v = i == 5 ? unit(500) : docs[i].vector;
      EXPECT_EQ(search_one(*c, v, 1)[0].document.id, docs[i].id) << spec;
    }
    for (auto& h : search_one(*c, docs[3].vector, 60)) EXPECT_NE(h.document.id, "d3");
  }
}

TEST(CollectionTest, CorruptSnapshotFallsBackToRebuildWithWarning) {
  TempDir tmp;
  std::vector<Document> docs;
  for (int i = 0; i < 40; ++i) docs.push_back(doc("d" + std::to_string(i), i));
  {
    auto c = make(tmp.path());
    ASSERT_TRUE(c->upsert(kModel, docs).is_ok());
  }
  const fs::path snap = tmp.path() / "c" / "index" / "1.faiss";
  ASSERT_TRUE(fs::exists(snap));
  {
    std::fstream f(snap, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.put('\x5a');
    f.put('\x5a');
  }
  {
    LogCapture log;
    auto c = reopen(tmp.path());
    ASSERT_NE(c, nullptr);
    EXPECT_NE(log.text().find("fails its checksum"), std::string::npos) << log.text();
    EXPECT_NE(log.text().find("rebuilding the index"), std::string::npos) << log.text();
    EXPECT_EQ(c->count(), 40);
    for (int i = 0; i < 40; ++i)
      EXPECT_EQ(search_one(*c, docs[i].vector, 1)[0].document.id, docs[i].id);
  }
  // Truncated snapshot, and garbage named like a snapshot.
  fs::resize_file(snap, 100);
  {
    LogCapture log;
    auto c = reopen(tmp.path());
    EXPECT_NE(log.text().find("truncated"), std::string::npos) << log.text();
    EXPECT_EQ(c->count(), 40);
  }
  fs::remove(snap);
  {
    auto c = reopen(tmp.path());
    EXPECT_EQ(c->count(), 40);
    EXPECT_EQ(search_one(*c, docs[7].vector, 1)[0].document.id, "d7");
  }
}

TEST(CollectionTest, RebuildChangesSpecAndCompactsTombstones) {
  TempDir tmp;
  std::vector<Document> docs;
  for (int i = 0; i < 300; ++i) docs.push_back(doc("d" + std::to_string(i), i, {{"i", i}}));
  auto c = make(tmp.path(), "HNSW16");
  ASSERT_TRUE(c->upsert(kModel, docs).is_ok());
  std::vector<std::string> gone;
  for (int i = 0; i < 300; i += 2) gone.push_back(docs[i].id);
  ASSERT_TRUE(c->remove(gone).is_ok());
  EXPECT_EQ(c->info().index.tombstones, 150);
  EXPECT_EQ(c->count(), 150);
  ASSERT_TRUE(c->rebuild().is_ok());  // compaction
  EXPECT_EQ(c->info().index.tombstones, 0);
  EXPECT_EQ(c->info().index.size, 150);
  ASSERT_TRUE(c->rebuild("IVF4,Flat").is_ok());
  auto info = c->info();
  EXPECT_EQ(info.index_spec, "IVF4,Flat");
  EXPECT_TRUE(info.index.trained);  // rebuild trains on what exists
  EXPECT_EQ(info.snapshot_sequence, info.sequence);
  SearchOptions o;
  o.k = 1;
  o.params.nprobe = 4;
  for (int i = 1; i < 300; i += 2) {
    auto r = c->search(kModel, docs[i].vector.data(), 1, o);
    ASSERT_TRUE(r.is_ok());
    EXPECT_EQ((*r)[0][0].document.id, docs[i].id);
  }
  c.reset();
  std::ifstream meta(tmp.path() / "c" / "meta.json");
  json m = json::parse(meta);
  EXPECT_EQ(m["index_spec"], "IVF4,Flat");
  EXPECT_EQ(m["dimension"], kDim);
  EXPECT_EQ(m["model"]["checkpoint_hash"], "sha256:abc");
  auto again = reopen(tmp.path());
  EXPECT_EQ(again->info().index_spec, "IVF4,Flat");
  EXPECT_EQ(again->count(), 150);
}

// docs/storage.md: a change-log entry is little-endian u64 counts and ids, whatever the host.
TEST(CollectionTest, ChangeLogEntriesAreLittleEndian) {
  TempDir tmp;
  CollectionOptions options;
  options.snapshot_on_close = false;
  options.auto_snapshot_changes = 0;
  {
    auto c = make(tmp.path(), "Flat", options);
    ASSERT_TRUE(c->upsert(kModel, {doc("a", 1), doc("b", 2)}).is_ok());  // ids 1, 2
    ASSERT_TRUE(c->upsert(kModel, {doc("a", 3)}).is_ok());               // 1 out, 3 in
  }
  StoreOptions so;
  auto store = Store::open(tmp.path() / "c" / "rocksdb", so);
  ASSERT_TRUE(store.is_ok()) << store.status();
  std::string entry;
  ASSERT_TRUE((*store)->get(Family::kChanges, Store::encode_u64(2), &entry).is_ok());
  auto u64 = [](uint64_t v) {
    std::string out;
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
    return out;
  };
  EXPECT_EQ(entry, u64(1) + u64(1) + u64(1) + u64(3));
  EXPECT_EQ(entry.substr(0, 8), std::string("\x01\0\0\0\0\0\0\0", 8));
}

// A search that returns vectors reads them from the store and checks their size like every
// other read: a damaged record is Corruption, never a vector of the wrong length.
TEST(CollectionTest, SearchWithVectorsReportsADamagedVectorRecord) {
  TempDir tmp;
  const Document d0 = doc("d0", 1);
  {
    auto c = make(tmp.path());
    ASSERT_TRUE(c->upsert(kModel, {d0}).is_ok());
  }  // closed with a snapshot: the reopened index does not read the vectors family
  {
    StoreOptions so;
    auto store = Store::open(tmp.path() / "c" / "rocksdb", so);
    ASSERT_TRUE(store.is_ok()) << store.status();
    rocksdb::WriteBatch batch;
    batch.Put((*store)->handle(Family::kVectors), Store::encode_u64(1), "abc");
    ASSERT_TRUE((*store)->write(&batch).is_ok());
  }
  auto c = reopen(tmp.path());
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(search_one(*c, d0.vector, 1).at(0).document.id, "d0");  // no vector asked: fine
  SearchOptions o;
  o.k = 1;
  o.include_vectors = true;
  auto r = c->search(kModel, d0.vector.data(), 1, o);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status();
  EXPECT_NE(r.status().message().find("has 3 bytes"), std::string::npos) << r.status();
}

// A rebuild commits the new spec first and snapshots after; a crash in between leaves a
// snapshot of the old spec, which open() must not use.
TEST(CollectionTest, SnapshotOfAnotherSpecIsNotUsed) {
  TempDir tmp;
  std::vector<Document> docs;
  for (int i = 0; i < 30; ++i) docs.push_back(doc("d" + std::to_string(i), i));
  {
    auto c = make(tmp.path());
    ASSERT_TRUE(c->upsert(kModel, docs).is_ok());
  }
  {
    // What rebuild("HNSW16")'s committed batch writes, without the snapshot that follows it.
    StoreOptions so;
    auto store = Store::open(tmp.path() / "c" / "rocksdb", so);
    ASSERT_TRUE(store.is_ok()) << store.status();
    std::string value;
    ASSERT_TRUE((*store)->get(Family::kMeta, "config", &value).is_ok());
    json config = json::parse(value);
    config["index_spec"] = "HNSW16";
    rocksdb::WriteBatch batch;
    batch.Put((*store)->handle(Family::kMeta), "config", config.dump());
    ASSERT_TRUE((*store)->write(&batch).is_ok());
  }
  LogCapture log;
  auto c = reopen(tmp.path());
  EXPECT_NE(log.text().find("has index 'Flat', the collection uses 'HNSW16'"), std::string::npos)
      << log.text();
  EXPECT_EQ(c->info().index_spec, "HNSW16");
  EXPECT_FALSE(c->info().index.supports_removal);
  EXPECT_EQ(c->count(), 30);
  for (int i = 0; i < 30; ++i) {
    EXPECT_EQ(search_one(*c, docs[i].vector, 1)[0].document.id, docs[i].id);
  }
}

TEST(CollectionTest, IvfCollectionTrainsOnceEnoughVectorsExist) {
  TempDir tmp;
  auto c = make(tmp.path(), "IVF8,Flat");
  std::vector<Document> docs;
  for (int i = 0; i < 1100; ++i) docs.push_back(doc("d" + std::to_string(i), i));
  ASSERT_TRUE(c->upsert(kModel, std::vector<Document>(docs.begin(), docs.begin() + 500)).is_ok());
  EXPECT_FALSE(c->info().index.trained);
  EXPECT_EQ(search_one(*c, docs[10].vector, 1)[0].document.id, "d10");  // exact while buffering
  ASSERT_TRUE(c->upsert(kModel, std::vector<Document>(docs.begin() + 500, docs.end())).is_ok());
  EXPECT_TRUE(c->info().index.trained);
  EXPECT_EQ(c->info().index.pending, 0);
  c.reset();
  auto again = reopen(tmp.path());
  EXPECT_TRUE(again->info().index.trained);
  EXPECT_EQ(again->count(), 1100);
  SearchOptions o;
  o.k = 1;
  o.params.nprobe = 8;
  auto r = again->search(kModel, docs[900].vector.data(), 1, o);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ((*r)[0][0].document.id, "d900");
}

TEST(CollectionTest, AutoSnapshotTrimsTheChangeLog) {
  TempDir tmp;
  CollectionOptions o;
  o.auto_snapshot_changes = 10;
  auto c = make(tmp.path(), "Flat", o);
  for (int i = 0; i < 12; ++i)
    ASSERT_TRUE(c->upsert(kModel, {doc("d" + std::to_string(i), i)}).is_ok());
  auto info = c->info();
  EXPECT_EQ(info.snapshot_sequence, 10u);
  EXPECT_EQ(info.sequence, 12u);
  int snapshots = 0;
  for (auto& e : fs::directory_iterator(tmp.path() / "c" / "index"))
    snapshots += e.path().extension() == ".faiss";
  EXPECT_EQ(snapshots, 1);
}

}  // namespace
}  // namespace vista::engine
