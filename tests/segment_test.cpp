// Shards and segments without a model: the shard rule, the segment format (write, read,
// checksums) and import (atomic mark, idempotency, model mismatch). The CLI end to end, with
// the tiny model and a kill -9 mid-import, is cli_segment_test.cpp.
#include "engine/segment.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <random>
#include <set>

#include "engine/catalog.h"
#include "engine/shard.h"
#include "tests/test_support.h"

namespace vista::engine {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using vista::testing::TempDir;

const ModelIdentity kModel{"test-model", "sha256:abc"};
constexpr int kDim = 8;

std::vector<float> vec(uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  std::vector<float> v(kDim);
  for (auto& x : v) x = g(rng);
  return v;
}

Document doc(const std::string& id, uint32_t seed) {
  Document d;
  d.id = id;
  d.vector = vec(seed);
  d.metadata = {{"n", seed}, {"tag", "t" + std::to_string(seed % 3)}};
  d.text = "text " + id;
  d.source = "/images/" + id + ".png";
  d.content_hash = "hash-" + std::to_string(seed);
  return d;
}

std::unique_ptr<Catalog> open_catalog(const fs::path& dir) {
  auto c = Catalog::open(dir);
  EXPECT_TRUE(c.is_ok()) << c.status();
  return std::move(c).value();
}

// A staging collection holding `docs`, written out as a segment in `dir`.
SegmentManifest make_segment(const fs::path& work, const fs::path& dir,
                             const std::vector<Document>& docs,
                             const ModelIdentity& model = kModel, const std::string& errors = "") {
  auto catalog = open_catalog(work);
  CollectionConfig config;
  config.dimension = kDim;
  config.model = model;
  auto coll = catalog->create("staging", config);
  EXPECT_TRUE(coll.is_ok()) << coll.status();
  EXPECT_TRUE((*coll)->upsert(model, docs).is_ok());
  std::optional<fs::path> report;
  if (!errors.empty()) {
    report = work / "errors.jsonl";
    std::ofstream(*report) << errors;
  }
  SegmentManifest header;
  header.shard = ShardSpec{1, 4};
  header.sources = {"/data/photos"};
  auto m = write_segment(**coll, report, header, dir);
  EXPECT_TRUE(m.is_ok()) << m.status();
  return m.is_ok() ? *m : SegmentManifest{};
}

void flip_byte(const fs::path& file, size_t offset) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x20));
}

TEST(ShardSpecTest, ParsesAndRefusesBadSpecs) {
  auto s = ShardSpec::parse("2/4");
  ASSERT_TRUE(s.is_ok()) << s.status();
  EXPECT_EQ(s->index, 2u);
  EXPECT_EQ(s->count, 4u);
  EXPECT_EQ(s->to_string(), "2/4");
  for (const char* bad : {"4/4", "1/0", "1", "a/4", "-1/4", "1/4/", "", "/4", "1/ 4"}) {
    auto r = ShardSpec::parse(bad);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ShardSpecTest, SplitIsStableDisjointAndCoversEverything) {
  // The rule is part of the on-disk contract (docs/segments.md): SHA-256 of the id, first
  // 8 bytes big-endian, mod N. These values were computed independently (Python's hashlib).
  EXPECT_EQ(ShardSpec::shard_of("astronaut", 4), 3u);
  EXPECT_EQ(ShardSpec::shard_of("coffee", 4), 2u);
  EXPECT_EQ(ShardSpec::shard_of("cats/tom.jpg", 7), 5u);
  EXPECT_EQ(ShardSpec::shard_of("a", 7), 4u);

  constexpr uint32_t kShards = 5;
  std::map<uint32_t, int> sizes;
  for (int i = 0; i < 5000; ++i) {
    const std::string id = "img/" + std::to_string(i) + ".jpg";
    int owners = 0;
    for (uint32_t k = 0; k < kShards; ++k) owners += ShardSpec{k, kShards}.contains(id) ? 1 : 0;
    ASSERT_EQ(owners, 1) << id;
    ++sizes[ShardSpec::shard_of(id, kShards)];
    EXPECT_EQ(ShardSpec::shard_of(id, kShards), ShardSpec::shard_of(id, kShards));
  }
  for (const auto& [k, n] : sizes) {
    EXPECT_GT(n, 850) << "shard " << k;  // 1000 expected; a broken hash would skew far more
    EXPECT_LT(n, 1150) << "shard " << k;
  }
  EXPECT_TRUE((ShardSpec{0, 1}.contains("anything")));
}

TEST(SegmentTest, RoundTripsDocumentsVectorsAndManifest) {
  TempDir tmp;
  std::vector<Document> docs = {doc("b", 2), doc("a", 1), doc("c", 3)};
  docs[2].text.reset();
  docs[2].metadata = json::object();
  const SegmentManifest written =
      make_segment(tmp.path() / "w", tmp.path() / "seg", docs, kModel, "{\"source\":\"x\"}\n");
  EXPECT_EQ(written.count, 3);
  EXPECT_EQ(written.errors, 1);
  EXPECT_FALSE(fs::exists(tmp.path() / "seg" / "segment.json.tmp"));

  auto seg = Segment::open(tmp.path() / "seg");
  ASSERT_TRUE(seg.is_ok()) << seg.status();
  EXPECT_EQ(seg->manifest().model, kModel);
  EXPECT_EQ(seg->manifest().dimension, kDim);
  EXPECT_EQ(seg->manifest().count, 3);
  ASSERT_TRUE(seg->manifest().shard);
  EXPECT_EQ(seg->manifest().shard->to_string(), "1/4");
  EXPECT_EQ(seg->manifest().sources, std::vector<std::string>{"/data/photos"});
  EXPECT_EQ(seg->id().size(), 64u);

  auto read = seg->read();
  ASSERT_TRUE(read.is_ok()) << read.status();
  ASSERT_EQ(read->size(), 3u);
  std::sort(docs.begin(), docs.end(), [](auto& x, auto& y) { return x.id < y.id; });
  for (size_t i = 0; i < 3; ++i) {  // sorted by id, every field back bit for bit
    EXPECT_EQ((*read)[i].id, docs[i].id);
    EXPECT_EQ((*read)[i].vector, docs[i].vector);
    EXPECT_EQ((*read)[i].metadata, docs[i].metadata);
    EXPECT_EQ((*read)[i].text, docs[i].text);
    EXPECT_EQ((*read)[i].source, docs[i].source);
    EXPECT_EQ((*read)[i].content_hash, docs[i].content_hash);
  }
  // The manifest is documented JSON another program can read.
  std::ifstream in(tmp.path() / "seg" / "segment.json");
  const json manifest = json::parse(in);
  EXPECT_EQ(manifest["format"], "vista-segment");
  EXPECT_EQ(manifest["format_version"], 1);
  EXPECT_EQ(manifest["files"]["vectors.f32"]["bytes"], 3 * kDim * 4);
}

TEST(SegmentTest, RefusesDamagedOrUnfinishedSegmentsAndImportsNothing) {
  TempDir tmp;
  const fs::path seg_dir = tmp.path() / "seg";
  make_segment(tmp.path() / "w", seg_dir, {doc("a", 1), doc("b", 2)});
  auto catalog = open_catalog(tmp.path() / "data");

  // A flipped bit in the vectors: the size matches, the checksum does not.
  flip_byte(seg_dir / "vectors.f32", 5);
  auto seg = Segment::open(seg_dir);
  ASSERT_TRUE(seg.is_ok()) << seg.status();
  auto read = seg->read();
  EXPECT_EQ(read.status().code(), StatusCode::kCorruption);
  EXPECT_NE(read.status().message().find("vectors.f32"), std::string::npos) << read.status();
  auto imported = import_segment(*catalog, "photos", *seg);
  EXPECT_EQ(imported.status().code(), StatusCode::kCorruption);
  EXPECT_EQ(catalog->get("photos").status().code(), StatusCode::kNotFound);  // nothing created
  flip_byte(seg_dir / "vectors.f32", 5);
  EXPECT_TRUE(Segment::open(seg_dir)->read().is_ok());

  // Same for the documents.
  flip_byte(seg_dir / "documents.jsonl", 10);
  EXPECT_EQ(Segment::open(seg_dir)->read().status().code(), StatusCode::kCorruption);
  flip_byte(seg_dir / "documents.jsonl", 10);

  // A truncated file is caught by open() already.
  fs::resize_file(seg_dir / "errors.jsonl", 0);
  std::ofstream(seg_dir / "errors.jsonl") << "x\n";
  EXPECT_EQ(Segment::open(seg_dir).status().code(), StatusCode::kCorruption);

  // A newer format version is refused by name.
  TempDir tmp2;
  make_segment(tmp2.path() / "w", tmp2.path() / "seg", {doc("a", 1)});
  std::ifstream in(tmp2.path() / "seg" / "segment.json");
  json m = json::parse(in);
  in.close();
  m["format_version"] = 2;
  std::ofstream(tmp2.path() / "seg" / "segment.json") << m.dump();
  EXPECT_EQ(Segment::open(tmp2.path() / "seg").status().code(), StatusCode::kUnsupported);

  // No manifest: not a segment.
  fs::remove(tmp2.path() / "seg" / "segment.json");
  EXPECT_EQ(Segment::open(tmp2.path() / "seg").status().code(), StatusCode::kNotFound);
}

TEST(SegmentTest, ImportIsIdempotent) {
  TempDir tmp;
  std::vector<Document> docs;
  for (int i = 0; i < 20; ++i) docs.push_back(doc("d" + std::to_string(i), i));
  make_segment(tmp.path() / "w", tmp.path() / "seg", docs);
  auto seg = Segment::open(tmp.path() / "seg");
  ASSERT_TRUE(seg.is_ok()) << seg.status();
  auto catalog = open_catalog(tmp.path() / "data");

  auto first = import_segment(*catalog, "photos", *seg);
  ASSERT_TRUE(first.is_ok()) << first.status();
  EXPECT_FALSE(first->already_imported);
  EXPECT_EQ(first->inserted, 20);
  EXPECT_EQ(first->collection_count, 20);
  auto coll = catalog->get("photos");
  ASSERT_TRUE(coll.is_ok());
  const uint64_t sequence = (*coll)->info().sequence;
  EXPECT_EQ((*coll)->info().model, kModel);
  auto stored = (*coll)->get({"d7"}, /*include_vectors=*/true);
  ASSERT_TRUE(stored.is_ok() && (*stored)[0]);
  EXPECT_EQ((*stored)[0]->vector, docs[7].vector);
  EXPECT_EQ((*stored)[0]->metadata, docs[7].metadata);

  // The same segment again: nothing is written at all.
  auto second = import_segment(*catalog, "photos", *seg);
  ASSERT_TRUE(second.is_ok()) << second.status();
  EXPECT_TRUE(second->already_imported);
  EXPECT_EQ((*coll)->info().sequence, sequence);
  EXPECT_EQ((*coll)->count(), 20);

  // A document changed after the import stays changed when the old segment comes again.
  Document edited = docs[3];
  edited.metadata = {{"edited", true}};
  ASSERT_TRUE((*coll)->upsert(kModel, {edited}).is_ok());
  ASSERT_TRUE(import_segment(*catalog, "photos", *seg)->already_imported);
  EXPECT_EQ((*(*coll)->get({"d3"}))[0]->metadata, edited.metadata);

  // The same documents in a segment written anew (another id): all unchanged, plus one new.
  docs.push_back(doc("new", 99));
  make_segment(tmp.path() / "w2", tmp.path() / "seg2", docs);
  auto seg2 = Segment::open(tmp.path() / "seg2");
  ASSERT_TRUE(seg2.is_ok());
  EXPECT_NE(seg2->id(), seg->id());
  auto third = import_segment(*catalog, "photos", *seg2);
  ASSERT_TRUE(third.is_ok()) << third.status();
  EXPECT_EQ(third->inserted, 1);
  EXPECT_EQ(third->updated, 1);  // d3, edited since
  EXPECT_EQ(third->unchanged, 19);
  EXPECT_EQ((*coll)->count(), 21);

  // The marks survive a restart.
  coll->reset();
  ASSERT_TRUE(catalog->close().is_ok());
  catalog = open_catalog(tmp.path() / "data");
  auto again = import_segment(*catalog, "photos", *seg);
  ASSERT_TRUE(again.is_ok()) << again.status();
  EXPECT_TRUE(again->already_imported);
  EXPECT_EQ(again->collection_count, 21);
}

TEST(SegmentTest, RefusesAnotherModelNamingBoth) {
  TempDir tmp;
  const ModelIdentity other{"other-model", "sha256:def"};
  make_segment(tmp.path() / "w", tmp.path() / "seg", {doc("a", 1)}, other);
  auto catalog = open_catalog(tmp.path() / "data");
  CollectionConfig config;
  config.dimension = kDim;
  config.model = kModel;
  auto coll = catalog->create("photos", config);
  ASSERT_TRUE(coll.is_ok());
  ASSERT_TRUE((*coll)->upsert(kModel, {doc("z", 9)}).is_ok());
  const uint64_t sequence = (*coll)->info().sequence;

  auto seg = Segment::open(tmp.path() / "seg");
  ASSERT_TRUE(seg.is_ok());
  auto r = import_segment(*catalog, "photos", *seg);
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("other-model"), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("sha256:def"), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("sha256:abc"), std::string::npos) << r.status();
  EXPECT_EQ((*coll)->info().sequence, sequence);
  EXPECT_EQ((*coll)->count(), 1);

  // Same weights under another folder name are the same model.
  const ModelIdentity renamed{"renamed", kModel.checkpoint_hash};
  make_segment(tmp.path() / "w2", tmp.path() / "seg2", {doc("b", 2)}, renamed);
  auto ok = import_segment(*catalog, "photos", *Segment::open(tmp.path() / "seg2"));
  ASSERT_TRUE(ok.is_ok()) << ok.status();
  EXPECT_EQ((*coll)->count(), 2);
}

TEST(SegmentTest, EmptySegmentImportsAsAMark) {
  TempDir tmp;
  make_segment(tmp.path() / "w", tmp.path() / "seg", {});
  auto catalog = open_catalog(tmp.path() / "data");
  auto seg = Segment::open(tmp.path() / "seg");
  ASSERT_TRUE(seg.is_ok()) << seg.status();
  auto r = import_segment(*catalog, "photos", *seg);
  ASSERT_TRUE(r.is_ok()) << r.status();
  EXPECT_EQ(r->collection_count, 0);
  EXPECT_TRUE(import_segment(*catalog, "photos", *seg)->already_imported);
}

}  // namespace
}  // namespace vista::engine
