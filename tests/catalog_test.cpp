#include "engine/catalog.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "engine/store.h"
#include "tests/test_support.h"

namespace vista::engine {
namespace {

namespace fs = std::filesystem;
using vista::testing::TempDir;

const ModelIdentity kModel{"m", "h1"};

CollectionConfig config(int dim = 8, const std::string& spec = "Flat") {
  CollectionConfig c;
  c.dimension = dim;
  c.index_spec = spec;
  c.model = kModel;
  return c;
}

Document doc(const std::string& id, float x) {
  Document d;
  d.id = id;
  d.vector.assign(8, 0.f);
  d.vector[0] = x;
  d.vector[1] = std::sqrt(1 - x * x);
  return d;
}

std::unique_ptr<Catalog> open_catalog(const fs::path& dir) {
  auto r = Catalog::open(dir);
  EXPECT_TRUE(r.is_ok()) << r.status();
  return std::move(r).value();
}

TEST(CatalogTest, CreateListGetDrop) {
  TempDir tmp;
  const fs::path data = tmp.path() / "data";
  auto cat = open_catalog(data);
  EXPECT_TRUE(fs::is_directory(data));
  EXPECT_TRUE(cat->list()->empty());
  ASSERT_TRUE(cat->create("photos", config()).is_ok());
  ASSERT_TRUE(cat->create("Docs_2-b", config(4, "HNSW8")).is_ok());
  EXPECT_EQ(*cat->list(), (std::vector<std::string>{"Docs_2-b", "photos"}));

  auto again = cat->create("photos", config());
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);
  EXPECT_NE(again.status().message().find("'photos'"), std::string::npos);

  auto a = cat->get("photos");
  auto b = cat->get("photos");
  ASSERT_TRUE(a.is_ok());
  EXPECT_EQ(a->get(), b->get());  // one shared instance

  auto missing = cat->get("nothing");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "collection 'nothing' does not exist");

  auto infos = cat->list_info();
  ASSERT_TRUE(infos.is_ok());
  ASSERT_EQ(infos->size(), 2u);
  EXPECT_EQ((*infos)[0].index_spec, "HNSW8");
  EXPECT_EQ((*infos)[0].dimension, 4);
  EXPECT_EQ((*infos)[1].model, kModel);

  ASSERT_TRUE((*a)->upsert(kModel, {doc("x", 0.5f)}).is_ok());
  ASSERT_TRUE(cat->drop("photos").is_ok());
  EXPECT_FALSE(fs::exists(data / "photos"));
  EXPECT_EQ(*cat->list(), std::vector<std::string>{"Docs_2-b"});
  EXPECT_EQ(cat->get("photos").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(cat->drop("photos").code(), StatusCode::kNotFound);
  // A holder of the dropped collection gets a clear error, not a crash.
  auto r = (*a)->upsert(kModel, {doc("y", 0.1f)});
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("closed"), std::string::npos);
  std::vector<float> q(8, 0.f);
  q[0] = 1;
  EXPECT_EQ((*a)->search(kModel, q.data(), 1, SearchOptions()).status().code(),
            StatusCode::kFailedPrecondition);
  // The name can be used again.
  ASSERT_TRUE(cat->create("photos", config()).is_ok());
  EXPECT_EQ((*cat->get("photos"))->count(), 0);
}

TEST(CatalogTest, NamesThatCouldEscapeOrConfuseAreRefused) {
  TempDir tmp;
  auto cat = open_catalog(tmp.path());
  const std::vector<std::string> names = {"",
                                          "../x",
                                          "a/b",
                                          ".hidden",
                                          "-x",
                                          "_x",
                                          "a b",
                                          "ü",
                                          "a.b",
                                          std::string(65, 'a'),
                                          std::string("a\0b", 3)};
  for (const std::string& bad : names) {
    auto r = cat->create(bad, config());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("collection names are"), std::string::npos);
    EXPECT_EQ(cat->get(bad).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(cat->drop(bad).code(), StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(Catalog::validate_name(std::string(64, 'a')).is_ok());
  EXPECT_TRUE(cat->list()->empty());
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator()), 0);
}

TEST(CatalogTest, BadConfigLeavesNothingBehind) {
  TempDir tmp;
  auto cat = open_catalog(tmp.path());
  auto r = cat->create("c", config(8, "IVF-what"));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("IVF-what"), std::string::npos);
  r = cat->create("c", config(0));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("dimension"), std::string::npos);
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator()), 0);
}

TEST(CatalogTest, ReopenFindsCollectionsAndCleansLeftovers) {
  TempDir tmp;
  {
    auto cat = open_catalog(tmp.path());
    auto c = cat->create("keep", config());
    ASSERT_TRUE(c.is_ok());
    ASSERT_TRUE((*c)->upsert(kModel, {doc("a", 0.1f), doc("b", 0.9f)}).is_ok());
    ASSERT_TRUE(cat->close().is_ok());
    EXPECT_EQ(cat->get("keep").status().code(), StatusCode::kFailedPrecondition);
  }
  // Debris of a create and a drop interrupted by a crash, and unrelated files.
  fs::create_directories(tmp.path() / ".creating-x-123" / "rocksdb");
  fs::create_directories(tmp.path() / ".dropped-y-456" / "rocksdb");
  std::ofstream(tmp.path() / "notes.txt") << "hi";
  fs::create_directories(tmp.path() / "empty-folder");
  auto cat = open_catalog(tmp.path());
  EXPECT_FALSE(fs::exists(tmp.path() / ".creating-x-123"));
  EXPECT_FALSE(fs::exists(tmp.path() / ".dropped-y-456"));
  EXPECT_EQ(*cat->list(), std::vector<std::string>{"keep"});
  auto c = cat->get("keep");
  ASSERT_TRUE(c.is_ok());
  EXPECT_EQ((*c)->count(), 2);
  EXPECT_EQ(cat->get("empty-folder").status().code(), StatusCode::kNotFound);
}

TEST(CatalogTest, DataDirThatIsAFileIsAnError) {
  TempDir tmp;
  std::ofstream(tmp.path() / "file") << "x";
  auto r = Catalog::open(tmp.path() / "file");
  EXPECT_EQ(r.status().code(), StatusCode::kIOError);
  EXPECT_NE(r.status().message().find("file"), std::string::npos);
}

TEST(CatalogTest, TwoCatalogsOnOneDirectoryDoNotCorruptEachOther) {
  TempDir tmp;
  auto first = open_catalog(tmp.path());
  ASSERT_TRUE(first->create("c", config()).is_ok());
  auto second = open_catalog(tmp.path());
  auto r = second->get("c");
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << r.status();
  EXPECT_EQ(r.status().subcode(), StatusSubCode::kLockHeld) << r.status();
  EXPECT_NE(r.status().message().find("another process"), std::string::npos) << r.status();
}

// The one place that reads RocksDB's text: what RocksDB says for a held LOCK file, in both of
// its wordings, and nothing else.
TEST(CatalogTest, LockHeldIsRecognisedOnlyForRocksDbLockErrors) {
  EXPECT_TRUE(is_lock_held(rocksdb::Status::IOError("While lock file: /d/c/rocksdb/LOCK",
                                                    "Resource temporarily unavailable")));
  EXPECT_TRUE(is_lock_held(rocksdb::Status::IOError(
      "lock hold by current process, acquire time 1 acquiring thread 2: /d/LOCK",
      "No locks available")));
  EXPECT_FALSE(is_lock_held(rocksdb::Status::IOError("While appending to file", "No space")));
  EXPECT_FALSE(is_lock_held(rocksdb::Status::Corruption("block checksum mismatch", "LOCK")));
  const Status mapped = from_rocksdb(
      rocksdb::Status::IOError("While lock file: /d/LOCK", "Resource temporarily unavailable"),
      "opening");
  EXPECT_EQ(mapped.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(mapped.subcode(), StatusSubCode::kLockHeld);
  EXPECT_EQ(mapped.with_context("collection 'c'").subcode(), StatusSubCode::kLockHeld);
  EXPECT_EQ(from_rocksdb(rocksdb::Status::IOError("While appending", "No space"), "w").code(),
            StatusCode::kIOError);
}

}  // namespace
}  // namespace vista::engine
