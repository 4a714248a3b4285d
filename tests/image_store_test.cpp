// ImageStore (engine/image_store.h) on a real folder, and the engine's image bookkeeping that does
// not need a model: deleting documents and collections removes their images, and open() sweeps
// what a crash left behind.
#include "engine/image_store.h"

#include <gtest/gtest.h>

#include <fstream>

#include "engine/engine.h"
#include "tests/test_support.h"

namespace vista::engine {
namespace {

namespace fs = std::filesystem;
using vista::testing::TempDir;

// A temp file as an interrupted ImageStore::put leaves it.
void leave_partial_write(const fs::path& p) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << "partial";
}

TEST(ImageStoreTest, PutGetRemoveDropAndSweepUnreferenced) {
  TempDir dir;
  auto store = ImageStore::open(dir.path(), true);
  ASSERT_TRUE(store.is_ok()) << store.status();
  ImageStore::Bucket a{"photos", 111}, b{"photos", 222}, c{"other", 5};
  const std::string name = ImageStore::blob_name("id1", "bytes");
  const std::string other = ImageStore::blob_name("id2", "bytes");
  EXPECT_EQ(name.size(), 64u);
  EXPECT_NE(name, other);
  EXPECT_NE(ImageStore::blob_name("ab", "c"), ImageStore::blob_name("a", "bc"));
  // Names already on disk keep their meaning: the encoding is fixed.
  EXPECT_EQ(ImageStore::blob_name("id1", "bytes"),
            "d97cdac663fcebadb7ce520987b04ec60f506ff2a13072f22b3818739aa3d1f8");
  ASSERT_TRUE((*store)->put(a, name, "bytes").is_ok());
  ASSERT_TRUE((*store)->put(a, other, "bytes").is_ok());
  ASSERT_TRUE((*store)->put(c, name, "bytes").is_ok());
  EXPECT_EQ(*(*store)->get(a, name), "bytes");
  EXPECT_EQ((*store)->get(b, name).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ImageStore::blob_of(ImageStore::source_for(name)), name);
  EXPECT_FALSE(ImageStore::blob_of(std::string("/images/a.jpg")).has_value());
  EXPECT_FALSE(ImageStore::blob_of(std::string("blob:../../etc/passwd")).has_value());
  EXPECT_FALSE(ImageStore::blob_of(std::nullopt).has_value());

  auto buckets = (*store)->buckets();
  ASSERT_EQ(buckets.size(), 2u);
  std::sort(buckets.begin(), buckets.end(),
            [](auto& x, auto& y) { return x.collection < y.collection; });
  EXPECT_EQ(buckets[0].collection, "other");
  EXPECT_EQ(buckets[0].created_at_ms, 5);
  EXPECT_EQ(buckets[1].collection, "photos");

  // A temp file of a crash and a blob no document names go; the named blob stays.
  const fs::path tmp_file = (*store)->root() / "photos@111" / name.substr(0, 2) / ".tmp-1-2-x";
  leave_partial_write(tmp_file);
  EXPECT_EQ((*store)->sweep_unreferenced(a, {name}), 2);
  EXPECT_TRUE((*store)->exists(a, name));
  EXPECT_FALSE((*store)->exists(a, other));
  EXPECT_FALSE(fs::exists(tmp_file));
  EXPECT_TRUE((*store)->exists(c, name));  // other buckets untouched

  ASSERT_TRUE((*store)->remove(a, name).is_ok());
  EXPECT_FALSE((*store)->exists(a, name));
  EXPECT_TRUE((*store)->remove(a, name).is_ok());  // twice is fine
  ASSERT_TRUE((*store)->put(a, name, "bytes").is_ok());
  ASSERT_TRUE((*store)->drop(a).is_ok());
  EXPECT_FALSE(fs::exists((*store)->root() / "photos@111"));
}

CollectionConfig config() {
  CollectionConfig c;
  c.dimension = 4;
  c.model = {"m", "sha256:m"};
  return c;
}

Document doc(const std::string& id, const std::optional<std::string>& source) {
  Document d;
  d.id = id;
  d.vector = {1, 0, 0, 0};
  d.source = source;
  return d;
}

std::unique_ptr<Engine> open_engine(const fs::path& data) {
  EngineOptions o;
  o.data_dir = data;
  auto e = Engine::open(o);
  EXPECT_TRUE(e.is_ok()) << e.status();
  return e.is_ok() ? std::move(e).value() : nullptr;
}

// Deleting through the engine (what `vista delete` and the API call) removes the pictures of the
// deleted documents; replacing through upsert_documents (what `vista ingest` calls) removes the
// picture the replaced document named.
TEST(ImageStoreTest, EngineDeleteAndReplaceRemoveTheImages) {
  TempDir dir;
  auto engine = open_engine(dir.path());
  ASSERT_NE(engine, nullptr);
  auto coll = engine->catalog().create("c", config());
  ASSERT_TRUE(coll.is_ok()) << coll.status();
  const ImageStore::Bucket bucket = Engine::image_bucket(**coll);
  auto store = ImageStore::open(dir.path(), true);
  const std::string a = ImageStore::blob_name("a", "A"), b = ImageStore::blob_name("b", "B");
  ASSERT_TRUE((*store)->put(bucket, a, "A").is_ok());
  ASSERT_TRUE((*store)->put(bucket, b, "B").is_ok());
  const ModelIdentity model = config().model;
  ASSERT_TRUE(engine
                  ->upsert_documents(
                      **coll, model,
                      {doc("a", ImageStore::source_for(a)), doc("b", ImageStore::source_for(b))})
                  .is_ok());
  EXPECT_TRUE(engine->image_store().exists(bucket, a));

  auto removed = engine->delete_documents("c", {"a", "missing"});
  ASSERT_TRUE(removed.is_ok()) << removed.status();
  EXPECT_EQ(removed->removed, 1);
  EXPECT_FALSE(engine->image_store().exists(bucket, a));

  // Re-ingested from a file: the uploaded picture is no longer named, so it goes.
  ASSERT_TRUE(engine->upsert_documents(**coll, model, {doc("b", "/photos/b.jpg")}).is_ok());
  EXPECT_FALSE(engine->image_store().exists(bucket, b));

  ASSERT_TRUE((*store)->put(bucket, a, "A").is_ok());
  coll->reset();
  ASSERT_TRUE(engine->drop_collection("c").is_ok());
  EXPECT_FALSE(
      fs::exists(engine->image_store().root() / "c@" / std::to_string(bucket.created_at_ms)));
  EXPECT_TRUE((*store)->buckets().empty());
}

// What a crash leaves (a blob written before its document was committed, a blob still there
// after its document moved on, a temp file, the folder of a dropped collection) is gone after
// the next open; what documents name stays.
TEST(ImageStoreTest, OpenSweepsWhatACrashLeft) {
  TempDir dir;
  ImageStore::Bucket bucket;
  const std::string kept = ImageStore::blob_name("kept", "K");
  const std::string orphan = ImageStore::blob_name("orphan", "O");
  {
    auto engine = open_engine(dir.path());
    auto coll = engine->catalog().create("c", config());
    ASSERT_TRUE(coll.is_ok()) << coll.status();
    bucket = Engine::image_bucket(**coll);
    ASSERT_TRUE(
        (*coll)->upsert(config().model, {doc("kept", ImageStore::source_for(kept))}).is_ok());
  }
  auto store = ImageStore::open(dir.path(), true);
  ASSERT_TRUE((*store)->put(bucket, kept, "K").is_ok());
  ASSERT_TRUE((*store)->put(bucket, orphan, "O").is_ok());
  leave_partial_write((*store)->root() / ("c@" + std::to_string(bucket.created_at_ms)) / "ab" /
                      ".tmp-9-9-x");
  const ImageStore::Bucket dropped{"gone", 42}, recreated{"c", bucket.created_at_ms - 1};
  ASSERT_TRUE((*store)->put(dropped, orphan, "O").is_ok());
  ASSERT_TRUE((*store)->put(recreated, orphan, "O").is_ok());

  auto engine = open_engine(dir.path());
  ASSERT_NE(engine, nullptr);
  EXPECT_TRUE(engine->image_store().exists(bucket, kept));
  EXPECT_FALSE(engine->image_store().exists(bucket, orphan));
  EXPECT_FALSE(fs::exists((*store)->root() / ("c@" + std::to_string(bucket.created_at_ms)) / "ab" /
                          ".tmp-9-9-x"));
  const auto left = engine->image_store().buckets();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].collection, "c");
  EXPECT_EQ(left[0].created_at_ms, bucket.created_at_ms);
}

}  // namespace
}  // namespace vista::engine
