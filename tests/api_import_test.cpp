// POST /v1/collections/{name}/import on a real server on 127.0.0.1: a segment by path under the
// image roots and by upload, idempotency, a damaged upload, another model, paths outside the
// roots.
#include <gtest/gtest.h>

#include <fstream>

#include "api/server.h"
#include "engine/catalog.h"
#include "engine/segment.h"
#include "tests/api_test_util.h"
#include "tests/test_support.h"

namespace vista {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace vista::testing;

class ApiImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    VISTA_REQUIRE_GOLDEN();
    roots_ = tmp_.path() / "roots";
    fs::create_directories(roots_);
    api::ServerSettings s = test_settings(tmp_.path() / "data");
    s.image_roots = {roots_};
    server_ = std::make_unique<TestServer>(s);
    ASSERT_TRUE(server_->ok());
    client_ = server_->client();
    // The served model's identity, as a collection created by the server records it.
    auto r = post_json(*client_, "/v1/collections", {{"name", "probe"}});
    ASSERT_TRUE(r && r->status == 201);
    const json model = body_json(r)["model"];
    model_ = {model["name"], model["checkpoint_hash"]};
    auto info = client_->Get("/v1/collections/probe");
    dim_ = body_json(info)["dim"];
  }

  // A segment of `n` documents with model `model` in `dir`.
  void make_segment(const fs::path& dir, int n, const engine::ModelIdentity& model,
                    int first = 0) {
    auto catalog = engine::Catalog::open(tmp_.path() / ("work-" + dir.filename().string()));
    ASSERT_TRUE(catalog.is_ok());
    engine::CollectionConfig config;
    config.dimension = dim_;
    config.model = model;
    auto coll = (*catalog)->create("staging", config);
    ASSERT_TRUE(coll.is_ok()) << coll.status();
    std::vector<engine::Document> docs;
    for (int i = first; i < first + n; ++i) {
      engine::Document d;
      d.id = "doc" + std::to_string(i);
      d.vector.assign(dim_, 0.0f);
      d.vector[i % dim_] = 1.0f;
      d.metadata = {{"i", i}};
      d.content_hash = "h" + std::to_string(i);
      docs.push_back(d);
    }
    ASSERT_TRUE((*coll)->upsert(model, docs).is_ok());
    ASSERT_TRUE(engine::write_segment(**coll, std::nullopt, {}, dir).is_ok());
  }

  httplib::Result upload(const std::string& collection, const fs::path& dir) {
    httplib::MultipartFormDataItems items;
    for (const char* f : {"segment.json", "documents.jsonl", "vectors.f32", "errors.jsonl"})
      items.push_back({f, read_bytes(dir / f), f, "application/octet-stream"});
    return client_->Post(("/v1/collections/" + collection + "/import").c_str(), items);
  }

  TempDir tmp_;
  fs::path roots_;
  std::unique_ptr<TestServer> server_;
  std::unique_ptr<httplib::Client> client_;
  engine::ModelIdentity model_;
  int dim_ = 0;
};

TEST_F(ApiImportTest, ImportsByPathOnceAndByUpload) {
  make_segment(roots_ / "seg1", 5, model_);
  auto r = post_json(*client_, "/v1/collections/photos/import",
                     {{"segment", (roots_ / "seg1").string()}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = body_json(r);
  EXPECT_EQ(j["inserted"], 5);
  EXPECT_EQ(j["already_imported"], false);
  EXPECT_EQ(j["count"], 5);

  r = post_json(*client_, "/v1/collections/photos/import",
                {{"segment", (roots_ / "seg1").string()}});
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_json(r)["already_imported"], true);
  EXPECT_EQ(body_json(r)["count"], 5);

  // Uploaded from somewhere the server cannot see.
  make_segment(tmp_.path() / "elsewhere", 3, model_, 100);
  r = upload("photos", tmp_.path() / "elsewhere");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_json(r)["inserted"], 3);
  EXPECT_EQ(body_json(r)["count"], 8);
  r = upload("photos", tmp_.path() / "elsewhere");
  EXPECT_EQ(body_json(r)["already_imported"], true);

  // Imported documents are searchable at once.
  auto doc = client_->Get("/v1/collections/photos/documents/doc101");
  ASSERT_TRUE(doc);
  EXPECT_EQ(doc->status, 200) << doc->body;
  EXPECT_EQ(body_json(doc)["metadata"]["i"], 101);
}

TEST_F(ApiImportTest, RefusesDamagedForeignAndOutsideSegments) {
  // A bit flipped in the vectors of an upload: 422, nothing created.
  make_segment(tmp_.path() / "bad", 4, model_);
  {
    std::fstream f(tmp_.path() / "bad" / "vectors.f32", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(3);
    f.put('\x7f');
  }
  auto r = upload("damaged", tmp_.path() / "bad");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422) << r->body;
  EXPECT_EQ(client_->Get("/v1/collections/damaged")->status, 404);

  // Another model: 409 naming both.
  make_segment(roots_ / "other", 2, {"other-model", "feedfacefeedface"});
  r = post_json(*client_, "/v1/collections/photos/import",
                {{"segment", (roots_ / "other").string()}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 409) << r->body;
  EXPECT_NE(r->body.find("feedfacefeedface"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find(model_.checkpoint_hash), std::string::npos) << r->body;

  // Outside the roots, or not a segment.
  make_segment(tmp_.path() / "outside", 1, model_);
  r = post_json(*client_, "/v1/collections/photos/import",
                {{"segment", (tmp_.path() / "outside").string()}});
  EXPECT_EQ(r->status, 403) << r->body;
  fs::create_directories(roots_ / "empty");
  r = post_json(*client_, "/v1/collections/photos/import",
                {{"segment", (roots_ / "empty").string()}});
  EXPECT_EQ(r->status, 404) << r->body;
  r = post_json(*client_, "/v1/collections/photos/import", {{"path", "x"}});
  EXPECT_EQ(r->status, 400) << r->body;
}

}  // namespace
}  // namespace vista
