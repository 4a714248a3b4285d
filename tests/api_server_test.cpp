// The REST API over real HTTP on 127.0.0.1 (ephemeral ports) with the golden tiny model:
// every endpoint, every error status, auth, path confinement, parallel clients, malformed input.
// The process-level tests (kill and restart, SIGTERM) are in api_process_test.cpp.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <random>
#include <set>

#include <opencv2/imgcodecs.hpp>

#include "api/json_codec.h"
#include "engine/ingestor.h"
#include "tests/api_test_util.h"

namespace vista::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// One server shared by the tests that need no special settings (loading the model once).
class ApiServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(golden_dir() / "golden.json")) return;
    data_ = new TempDir();
    roots_ = new TempDir();
    auto s = test_settings(data_->path() / "data");
    s.image_roots = {fs::canonical(roots_->path())};
    server_ = new TestServer(s);
  }
  static void TearDownTestSuite() {
    delete server_;
    delete data_;
    delete roots_;
    server_ = nullptr;
    data_ = roots_ = nullptr;
  }
  void SetUp() override {
    VISTA_REQUIRE_GOLDEN();
    ASSERT_TRUE(server_ && server_->ok());
    client_ = server_->client();
  }

  // Creates a collection and checks the answer.
  void create(const std::string& name) {
    auto r = post_json(*client_, "/v1/collections", {{"name", name}});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 201) << r->body;
  }
  json add(const std::string& collection, const json& documents) {
    auto r = post_json(*client_, "/v1/collections/" + collection + "/documents",
                       {{"documents", documents}});
    EXPECT_TRUE(r);
    if (!r) return nullptr;
    EXPECT_EQ(r->status, 200) << r->body;
    return body_json(r);
  }
  json search(const std::string& collection, const json& body, int expect = 200) {
    auto r = post_json(*client_, "/v1/collections/" + collection + "/search", body);
    EXPECT_TRUE(r);
    if (!r) return nullptr;
    EXPECT_EQ(r->status, expect) << r->body;
    return body_json(r);
  }
  size_t blob_files() const {
    size_t n = 0;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(data_->path() / "data" / "_images", ec);
         it != fs::recursive_directory_iterator(); ++it)
      n += it->is_regular_file();
    return n;
  }

  static TempDir* data_;
  static TempDir* roots_;
  static TestServer* server_;
  std::unique_ptr<httplib::Client> client_;
};
TempDir* ApiServerTest::data_ = nullptr;
TempDir* ApiServerTest::roots_ = nullptr;
TestServer* ApiServerTest::server_ = nullptr;

TEST_F(ApiServerTest, HealthReadyWebPage) {
  auto h = client_->Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(body_json(h)["status"], "ok");
  auto r = client_->Get("/ready");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(body_json(r)["status"], "ready");
  EXPECT_EQ(body_json(r)["dim"], 96);
  EXPECT_EQ(body_json(r)["model"]["name"], "tiny-model");
  auto page = client_->Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->get_header_value("Content-Type").find("text/html"), std::string::npos);
  EXPECT_NE(page->body.find("<html"), std::string::npos);
}

TEST_F(ApiServerTest, CollectionsLifecycle) {
  auto r = post_json(*client_, "/v1/collections", {{"name", "life"}, {"index", "Flat"}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201) << r->body;
  json info = body_json(r);
  EXPECT_EQ(info["name"], "life");
  EXPECT_EQ(info["count"], 0);
  EXPECT_EQ(info["dim"], 96);
  EXPECT_EQ(info["index"], "Flat");
  EXPECT_EQ(info["model"]["name"], "tiny-model");
  EXPECT_FALSE(info["model"]["checkpoint_hash"].get<std::string>().empty());

  r = post_json(*client_, "/v1/collections", {{"name", "life"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 409);
  EXPECT_EQ(error_code(r), "conflict");

  for (const char* bad : {"-dash", "has space", "a/b", "", "_x"}) {
    r = post_json(*client_, "/v1/collections", {{"name", bad}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 422) << bad << ": " << r->body;
  }
  r = post_json(*client_, "/v1/collections", {{"name", "badindex"}, {"index", "NoSuchIndex"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422) << r->body;
  r = post_json(*client_, "/v1/collections", {{"nme", "x"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("'nme'"), std::string::npos) << r->body;

  add("life", json::array({{{"id", "a"}, {"text", "blue whale"}}}));
  auto got = client_->Get("/v1/collections/life");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(body_json(got)["count"], 1);

  auto list = client_->Get("/v1/collections");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->status, 200);
  bool found = false;
  const json listed = body_json(list);
  for (const auto& c : listed["collections"]) found |= c["name"] == "life";
  EXPECT_TRUE(found) << list->body;

  auto del = client_->Delete("/v1/collections/life");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200);
  EXPECT_EQ(body_json(del)["deleted"], true);
  got = client_->Get("/v1/collections/life");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 404);
  EXPECT_EQ(error_code(got), "not_found");
  del = client_->Delete("/v1/collections/life");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 404);
}

TEST_F(ApiServerTest, DocumentsWithImagesAndPerItemErrors) {
  create("docs");
  const std::string photo = golden_image("cir_candi_1.png");
  json docs = json::array({
      {{"id", "t1"}, {"text", "blue whale"}, {"metadata", {{"kind", "text"}, {"year", 2001}}}},
      {{"id", "img1"}, {"image", api::base64_encode(photo)}, {"metadata", {{"kind", "photo"}}}},
      {{"id", "both"}, {"text", "a logo"}, {"image", golden_image_b64("datawhale02.png")}},
      {{"text", "no id given"}},
      {{"id", "cats/tom.jpg"}, {"image", golden_image_b64("wiki_candi_1.jpg")}},
      {{"id", "bad64"}, {"image", "iVBORw0KGgo"}},
      {{"id", "notimg"}, {"image", api::base64_encode("hello, this is not an image")}},
      {{"id", "truncated"}, {"image", golden_image_b64("edge/bad_truncated.jpg")}},
      {{"id", "empty"}},
      {{"id", "t1"}, {"text", "duplicate id"}},
      {{"id", 42}, {"text", "integer id"}},
      {{"id", "typo"}, {"txt", "misspelled field"}},
  });
  json out = add("docs", docs);
  ASSERT_TRUE(out.is_object());
  const auto& res = out["results"];
  ASSERT_EQ(res.size(), docs.size());
  auto expect = [&](size_t i, const char* status, const char* code = nullptr) {
    EXPECT_EQ(res[i]["status"], status) << i << ": " << res[i];
    if (code) {
      EXPECT_EQ(res[i]["error"]["code"], code) << i << ": " << res[i];
    }
  };
  expect(0, "inserted");
  expect(1, "inserted");
  expect(2, "inserted");
  expect(3, "inserted");
  EXPECT_EQ(res[3]["id"].get<std::string>().size(), 32u);  // content id
  expect(4, "inserted");
  expect(5, "failed", "malformed_request");  // truncated base64
  expect(6, "failed", "unsupported_media_type");
  expect(7, "failed", "invalid_argument");  // damaged image
  expect(8, "failed", "invalid_argument");  // no content
  expect(9, "failed", "invalid_argument");  // repeated id
  expect(10, "inserted");
  EXPECT_EQ(res[10]["id"], "42");
  expect(11, "failed", "malformed_request");
  EXPECT_EQ(out["inserted"], 6);
  EXPECT_EQ(out["failed"], 6);
  EXPECT_EQ(out["errors"], true);

  auto info = client_->Get("/v1/collections/docs");
  ASSERT_TRUE(info);
  EXPECT_EQ(body_json(info)["count"], 6);

  // Get, including an id with '/' sent as %2F.
  auto got = client_->Get("/v1/collections/docs/documents/t1");
  ASSERT_TRUE(got);
  ASSERT_EQ(got->status, 200);
  json doc = body_json(got);
  EXPECT_EQ(doc["text"], "blue whale");
  EXPECT_EQ(doc["metadata"]["year"], 2001);
  EXPECT_TRUE(doc["image"].is_null());
  EXPECT_FALSE(doc.contains("vector"));
  got = client_->Get("/v1/collections/docs/documents/t1?with_vector=true");
  ASSERT_TRUE(got);
  EXPECT_EQ(body_json(got)["vector"].size(), 96u);
  got = client_->Get("/v1/collections/docs/documents/cats%2Ftom.jpg");
  ASSERT_TRUE(got);
  ASSERT_EQ(got->status, 200) << got->body;
  EXPECT_EQ(body_json(got)["id"], "cats/tom.jpg");
  EXPECT_EQ(body_json(got)["image"], "/v1/collections/docs/documents/cats%2Ftom.jpg/image");
  got = client_->Get("/v1/collections/docs/documents/missing");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 404);

  // The stored image, byte for byte, and thumbnails.
  auto img = client_->Get("/v1/collections/docs/documents/img1/image");
  ASSERT_TRUE(img);
  ASSERT_EQ(img->status, 200);
  // Sniffed from the bytes: this golden "png" is a JPEG file.
  EXPECT_EQ(img->get_header_value("Content-Type"), "image/jpeg");
  EXPECT_TRUE(img->body == photo);
  const std::string etag = img->get_header_value("ETag");
  ASSERT_FALSE(etag.empty());
  auto again = client_->Get("/v1/collections/docs/documents/img1/image", {{"If-None-Match", etag}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 304);
  for (int pass = 0; pass < 2; ++pass) {  // the second pass comes from the cache
    auto thumb = client_->Get("/v1/collections/docs/documents/img1/image?size=64");
    ASSERT_TRUE(thumb);
    ASSERT_EQ(thumb->status, 200);
    EXPECT_EQ(thumb->get_header_value("Content-Type"), "image/jpeg");
    cv::Mat m =
        cv::imdecode(std::vector<uchar>(thumb->body.begin(), thumb->body.end()), cv::IMREAD_COLOR);
    ASSERT_FALSE(m.empty());
    EXPECT_EQ(m.cols, 64);
    EXPECT_EQ(m.rows, 48);
  }
  for (const char* bad : {"5", "abc", "100000", "-3", ""}) {
    auto thumb = client_->Get(
        ("/v1/collections/docs/documents/img1/image?size=" + std::string(bad)).c_str());
    ASSERT_TRUE(thumb);
    EXPECT_EQ(thumb->status, 422) << bad;
  }
  auto none = client_->Get("/v1/collections/docs/documents/t1/image");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 404);

  // Same content again: unchanged; new metadata: updated without re-encoding.
  out = add("docs", json::array({{{"id", "t1"},
                                  {"text", "blue whale"},
                                  {"metadata", {{"kind", "text"}, {"year", 2001}}}}}));
  EXPECT_EQ(out["results"][0]["status"], "unchanged");
  out =
      add("docs", json::array({{{"id", "t1"}, {"text", "blue whale"}, {"metadata", {{"v", 2}}}}}));
  EXPECT_EQ(out["results"][0]["status"], "updated");

  // A new image replaces the old one; the old file goes away.
  const size_t files_before = blob_files();
  const std::string other = golden_image("datawhale01.png");
  out = add("docs", json::array({{{"id", "img1"}, {"image", api::base64_encode(other)}}}));
  EXPECT_EQ(out["results"][0]["status"], "updated");
  img = client_->Get("/v1/collections/docs/documents/img1/image");
  ASSERT_TRUE(img);
  EXPECT_TRUE(img->body == other);
  EXPECT_EQ(blob_files(), files_before);

  // Delete: the document and its image.
  auto del = client_->Delete("/v1/collections/docs/documents/img1");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200);
  EXPECT_EQ(blob_files(), files_before - 1);
  del = client_->Delete("/v1/collections/docs/documents/img1");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 404);
  img = client_->Get("/v1/collections/docs/documents/img1/image");
  ASSERT_TRUE(img);
  EXPECT_EQ(img->status, 404);

  // Documents into a missing collection.
  auto r = post_json(*client_, "/v1/collections/nope/documents",
                     {{"documents", json::array({{{"text", "x"}}})}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);

  // Deleting the collection removes its images.
  ASSERT_EQ(client_->Delete("/v1/collections/docs")->status, 200);
  EXPECT_EQ(blob_files(), 0u);
}

TEST_F(ApiServerTest, MultipartUploads) {
  create("forms");
  const std::string photo = golden_image("cir_candi_1.png");
  // One document from plain fields.
  httplib::MultipartFormDataItems single = {
      {"id", "m1", "", ""},
      {"text", "a photo", "", ""},
      {"metadata", R"({"album": "summer"})", "", ""},
      {"image", photo, "photo.png", "image/png"},
  };
  auto r = client_->Post("/v1/collections/forms/documents", single);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_json(r)["results"][0]["status"], "inserted") << r->body;
  auto img = client_->Get("/v1/collections/forms/documents/m1/image");
  ASSERT_TRUE(img);
  EXPECT_TRUE(img->body == photo);
  EXPECT_EQ(body_json(client_->Get("/v1/collections/forms/documents/m1"))["metadata"]["album"],
            "summer");

  // Several documents, each naming its file part.
  httplib::MultipartFormDataItems many = {
      {"documents",
       R"({"documents": [{"id": "m2", "image_file": "f1"},
                          {"id": "m3", "image_file": "f2", "text": "logo"},
                          {"id": "m4", "image_file": "missing"}]})",
       "", "application/json"},
      {"f1", golden_image("datawhale02.png"), "a.png", "image/png"},
      {"f2", golden_image("wiki_candi_1.jpg"), "b.jpg", "image/jpeg"},
  };
  r = client_->Post("/v1/collections/forms/documents", many);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json res = body_json(r)["results"];
  EXPECT_EQ(res[0]["status"], "inserted");
  EXPECT_EQ(res[1]["status"], "inserted");
  EXPECT_EQ(res[2]["status"], "failed");
  EXPECT_EQ(res[2]["error"]["code"], "malformed_request");

  // A part nobody uses, and a malformed multipart body.
  httplib::MultipartFormDataItems stray = {{"text", "x", "", ""}, {"stray", "y", "", ""}};
  r = client_->Post("/v1/collections/forms/documents", stray);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("stray"), std::string::npos);
  r = client_->Post("/v1/collections/forms/documents", "--b\r\nnot a part",
                    "multipart/form-data; boundary=b");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_EQ(body_json(client_->Get("/v1/collections/forms"))["count"], 3);
}

TEST_F(ApiServerTest, Search) {
  create("find");
  json docs = json::array({
      {{"id", "whale"}, {"text", "blue whale"}, {"metadata", {{"kind", "animal"}, {"year", 2001}}}},
      {{"id", "dragon"}, {"text", "一条龙"}, {"metadata", {{"kind", "myth"}, {"year", 1999}}}},
      {{"id", "cat"}, {"text", "红房子里面住着可爱的猫"}, {"metadata", {{"kind", "animal"}}}},
      {{"id", "photo"},
       {"image", golden_image_b64("cir_candi_1.png")},
       {"metadata", {{"kind", "photo"}}}},
      {{"id", "logo"},
       {"image", golden_image_b64("datawhale02.png")},
       {"metadata", {{"kind", "photo"}}}},
  });
  ASSERT_EQ(add("find", docs)["inserted"], 5);

  // Text: the document with the same text is first, with cosine ~1.
  json r = search("find", {{"text", "blue whale"}, {"k", 3}});
  ASSERT_EQ(r["hits"].size(), 3u);
  EXPECT_EQ(r["hits"][0]["id"], "whale");
  EXPECT_NEAR(r["hits"][0]["score"].get<double>(), 1.0, 1e-4);
  EXPECT_EQ(r["hits"][0]["metadata"]["kind"], "animal");
  EXPECT_EQ(r["hits"][0]["text"], "blue whale");
  EXPECT_TRUE(r["hits"][0]["image"].is_null());
  EXPECT_FALSE(r["hits"][0].contains("vector"));
  EXPECT_EQ(r["truncated"], false);
  EXPECT_TRUE(r["took_ms"].is_number());
  for (size_t i = 1; i < r["hits"].size(); ++i)
    EXPECT_GE(r["hits"][i - 1]["score"].get<double>(), r["hits"][i]["score"].get<double>());

  // Image: the same picture comes first.
  r = search("find", {{"image", golden_image_b64("datawhale02.png")}, {"k", 2}});
  ASSERT_FALSE(r["hits"].empty());
  EXPECT_EQ(r["hits"][0]["id"], "logo");
  EXPECT_NEAR(r["hits"][0]["score"].get<double>(), 1.0, 1e-4);
  EXPECT_EQ(r["hits"][0]["image"], "/v1/collections/find/documents/logo/image");
  EXPECT_TRUE(r["hits"][0]["text"].is_null());

  // More like this: the document itself is left out.
  r = search("find", {{"id", "whale"}, {"k", 10}});
  EXPECT_EQ(r["hits"].size(), 4u);
  for (const auto& h : r["hits"]) EXPECT_NE(h["id"], "whale");

  // A vector, with vectors returned and metadata left out.
  auto emb = post_json(*client_, "/v1/embed", {{"text", "一条龙"}});
  ASSERT_TRUE(emb);
  r = search("find", {{"vector", body_json(emb)["vector"]},
                      {"k", 1},
                      {"with_vector", true},
                      {"with_metadata", false}});
  ASSERT_EQ(r["hits"].size(), 1u);
  EXPECT_EQ(r["hits"][0]["id"], "dragon");
  EXPECT_EQ(r["hits"][0]["vector"].size(), 96u);
  EXPECT_FALSE(r["hits"][0].contains("metadata"));
  EXPECT_FALSE(r["hits"][0].contains("text"));

  // Filters.
  r = search("find", {{"text", "blue whale"}, {"k", 10}, {"filter", {{"kind", "photo"}}}});
  ASSERT_EQ(r["hits"].size(), 2u);
  for (const auto& h : r["hits"]) EXPECT_EQ(h["metadata"]["kind"], "photo");
  r = search("find", {{"text", "x"}, {"k", 10}, {"filter", {{"year", {{"$gte", 2000}}}}}});
  ASSERT_EQ(r["hits"].size(), 1u);
  EXPECT_EQ(r["hits"][0]["id"], "whale");
  search("find", {{"text", "x"}, {"filter", {{"year", {{"$gt", "2000"}}}}}}, 422);
  search("find", {{"text", "x"}, {"filter", {{"$bogus", 1}}}}, 422);
  search("find", {{"text", "x"}, {"params", {{"ef_search", 64}, {"nprobe", 4}}}});
  search("find", {{"text", "x"}, {"params", {{"ef_search", -1}}}}, 422);
  search("find", {{"text", "x"}, {"params", {{"efsearch", 1}}}}, 400);

  // Long texts are truncated to the model's token limit and say so.
  std::string long_text;
  for (int i = 0; i < 700; ++i) long_text += "whale ";
  r = search("find", {{"text", long_text}, {"k", 1}});
  EXPECT_EQ(r["truncated"], true);

  // Invalid values and shapes.
  search("find", {{"text", "x"}, {"k", 0}}, 422);
  search("find", {{"text", "x"}, {"k", 1001}}, 422);
  search("find", {{"text", "x"}, {"k", "10"}}, 400);
  search("find", {{"text", "x"}, {"k", 2.5}}, 400);
  search("find", {{"k", 3}}, 422);                             // no query
  search("find", {{"text", "x"}, {"id", "whale"}}, 422);       // two kinds
  search("find", {{"vector", json::array({1.0, 2.0})}}, 422);  // wrong dimension
  search("find", {{"vector", json::array({"a"})}}, 400);
  search("find", {{"id", "nobody"}}, 404);
  search("find", {{"image", "not base64!"}}, 400);
  search("find", {{"image", api::base64_encode("GIF89a but not really")}}, 422);
  search("find", {{"text", "x"}, {"with_metdata", false}}, 400);
  search("nothere", {{"text", "x"}}, 404);
}

TEST_F(ApiServerTest, EmbedMatchesTheGoldenEmbeddings) {
  const json golden = json::parse(read_bytes(golden_dir() / "golden.json"));
  auto cosine = [](const json& a, const json& b) {
    double dot = 0, na = 0, nb = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      const double x = a[i].get<double>(), y = b[i].get<double>();
      dot += x * y;
      na += x * x;
      nb += y * y;
    }
    return dot / std::sqrt(na * nb);
  };
  for (int i = 0; i < 3; ++i) {
    const auto& t = golden["texts"][i];
    auto r = post_json(*client_, "/v1/embed", {{"text", t["text"]}});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    json out = body_json(r);
    EXPECT_EQ(out["dim"], 96);
    EXPECT_EQ(out["truncated"], false);
    EXPECT_GT(cosine(out["vector"], t["embedding"]), 0.9999) << t["text"];
  }
  const auto& img = golden["images"][0];  // imgs/cir_candi_1.png
  const std::string file = fs::path(img["image"].get<std::string>()).filename().string();
  auto r = post_json(*client_, "/v1/embed", {{"image", golden_image_b64(file)}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_GT(cosine(body_json(r)["vector"], img["image_only"]), 0.9999);

  r = post_json(*client_, "/v1/embed", json::object());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422);
  r = post_json(*client_, "/v1/embed", {{"text", 5}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
}

TEST_F(ApiServerTest, PagingCountingBatchSearchAndBulkDelete) {
  create("bulk");
  json docs = json::array();
  for (int i = 0; i < 12; ++i)
    docs.push_back({{"id", "d" + std::to_string(100 + i)},
                    {"text", "note number " + std::to_string(i)},
                    {"metadata", {{"n", i}, {"even", i % 2 == 0}}}});
  docs[3]["metadata"]["tag"] = "x";
  ASSERT_EQ(add("bulk", docs)["inserted"], 12);

  // Pages of 5 in id order; a document added between pages is not returned twice, and none of
  // the ones present all along is skipped.
  std::vector<std::string> seen;
  std::string cursor;
  for (int page = 0;; ++page) {
    auto r = client_->Get("/v1/collections/bulk/documents?limit=5" +
                          (cursor.empty() ? "" : "&cursor=" + cursor));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    json body = body_json(r);
    for (const auto& d : body["documents"]) seen.push_back(d["id"]);
    if (page == 0) add("bulk", json::array({{{"id", "d000"}, {"text", "before the cursor"}}}));
    if (page == 0) add("bulk", json::array({{{"id", "d999"}, {"text", "after the cursor"}}}));
    if (body["next_cursor"].is_null()) break;
    cursor = body["next_cursor"];
    ASSERT_LT(page, 10);
  }
  ASSERT_EQ(seen.size(), 13u);  // 12 + d999 (d000 sorts before the cursor)
  EXPECT_EQ(seen.front(), "d100");
  EXPECT_EQ(seen.back(), "d999");
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));

  // A filter, and $exists.
  auto r = client_->Get("/v1/collections/bulk/documents?filter=" +
                        api::encode_path_segment(R"({"even": true, "n": {"$gte": 6}})"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_json(r)["documents"].size(), 3u);  // 6, 8, 10
  auto count = [&](const json& body) {
    auto c = post_json(*client_, "/v1/collections/bulk/count", body);
    EXPECT_TRUE(c && c->status == 200) << (c ? c->body : "");
    return c ? body_json(c)["count"].get<int64_t>() : -1;
  };
  EXPECT_EQ(count(json::object()), 14);
  EXPECT_EQ(count({{"filter", {{"even", true}}}}), 6);
  EXPECT_EQ(count({{"filter", {{"tag", {{"$exists", true}}}}}}), 1);
  r = client_->Get("/v1/collections/bulk/documents?cursor=zz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = client_->Get("/v1/collections/bulk/documents?limit=0");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422);

  // Offset pages through the hits of one search.
  json top = search("bulk", {{"text", "note number 4"}, {"k", 6}});
  json second = search("bulk", {{"text", "note number 4"}, {"k", 3}, {"offset", 3}});
  ASSERT_EQ(second["hits"].size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(second["hits"][i]["id"], top["hits"][3 + i]["id"]);
  json like = search("bulk", {{"id", "d104"}, {"k", 2}, {"offset", 1}});
  ASSERT_EQ(like["hits"].size(), 2u);
  EXPECT_NE(like["hits"][0]["id"], "d104");
  search("bulk", {{"text", "x"}, {"offset", -1}}, 422);

  // A batch: one response per search, each equal to the search alone.
  auto batch = post_json(*client_, "/v1/collections/bulk/search/batch",
                         {{"searches",
                           {{{"text", "note number 4"}, {"k", 6}},
                            {{"id", "d104"}, {"k", 2}, {"offset", 1}},
                            {{"text", "note"}, {"k", 2}, {"filter", {{"tag", "x"}}}}}}});
  ASSERT_TRUE(batch);
  ASSERT_EQ(batch->status, 200) << batch->body;
  json results = body_json(batch)["results"];
  ASSERT_EQ(results.size(), 3u);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(results[0]["hits"][i]["id"], top["hits"][i]["id"]);
    EXPECT_NEAR(results[0]["hits"][i]["score"].get<double>(),
                top["hits"][i]["score"].get<double>(), 1e-5);
  }
  EXPECT_EQ(results[1]["hits"], like["hits"]);
  ASSERT_EQ(results[2]["hits"].size(), 1u);
  EXPECT_EQ(results[2]["hits"][0]["id"], "d103");
  batch = post_json(*client_, "/v1/collections/bulk/search/batch",
                    {{"searches", {{{"text", "ok"}}, {{"text", "bad"}, {"k", 0}}}}});
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->status, 422);
  EXPECT_NE(batch->body.find("searches[1]"), std::string::npos) << batch->body;

  // Bulk delete by ids (the missing ones are named) and by filter.
  auto del = post_json(*client_, "/v1/collections/bulk/documents/delete",
                       {{"ids", {"d100", "d101", "nope"}}});
  ASSERT_TRUE(del);
  ASSERT_EQ(del->status, 200) << del->body;
  EXPECT_EQ(body_json(del), json({{"deleted", 2}, {"missing", {"nope"}}}));
  del = post_json(*client_, "/v1/collections/bulk/documents/delete",
                  {{"filter", {{"even", false}}}});
  ASSERT_TRUE(del);
  ASSERT_EQ(del->status, 200) << del->body;
  EXPECT_EQ(body_json(del)["deleted"], 5);  // 103, 105, 107, 109, 111 (101 is gone)
  EXPECT_EQ(count(json::object()), 7);
  del = post_json(*client_, "/v1/collections/bulk/documents/delete",
                  {{"ids", {"a"}}, {"filter", json::object()}});
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 400);
  EXPECT_EQ(count(json::object()), 7);  // a refused call changed nothing

  // The OpenAPI document, and the local-only ingestion endpoint.
  auto spec = client_->Get("/openapi.yaml");
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->status, 200);
  EXPECT_EQ(spec->body.rfind("openapi: ", 0), 0u);
  EXPECT_NE(spec->body.find("/v1/collections/{name}/search/batch"), std::string::npos);
  auto ingest = post_json(*client_, "/v1/collections/bulk/ingest", {{"sources", {"/etc"}}});
  ASSERT_TRUE(ingest);
  EXPECT_EQ(ingest->status, 403);
}

// Pictures indexed from files (a local `vista ingest`) are served with no setting, as long as the
// file still holds the indexed bytes; HTTP callers still cannot name files outside the roots.
TEST_F(ApiServerTest, IndexedFilesAreServedWhileUnchanged) {
  TempDir folder;
  fs::copy_file(golden_dir() / "images/dragon03.png", folder.path() / "dragon.png");
  fs::copy_file(golden_dir() / "images/datawhale01.png", folder.path() / "whale.png");
  engine::Ingestor ingestor(server_->server().engine());
  engine::IngestOptions options;
  options.collection = "local";
  options.sources = {folder.path()};
  auto ran = ingestor.run(options);
  ASSERT_TRUE(ran.is_ok()) << ran.status();
  ASSERT_EQ(ran->inserted, 2);

  json hit = search("local", {{"id", "whale.png"}, {"k", 1}})["hits"][0];
  EXPECT_EQ(hit["image"], "/v1/collections/local/documents/dragon.png/image");
  auto img = client_->Get("/v1/collections/local/documents/dragon.png/image");
  ASSERT_TRUE(img);
  ASSERT_EQ(img->status, 200) << img->body;
  EXPECT_TRUE(img->body == golden_image("dragon03.png"));
  auto thumb = client_->Get("/v1/collections/local/documents/dragon.png/image?size=32");
  ASSERT_TRUE(thumb);
  EXPECT_EQ(thumb->status, 200);
  EXPECT_EQ(thumb->get_header_value("Content-Type"), "image/jpeg");

  // Another file put in its place is not served.
  fs::remove(folder.path() / "dragon.png");
  fs::copy_file(golden_dir() / "images/cir_candi_1.png", folder.path() / "dragon.png");
  img = client_->Get("/v1/collections/local/documents/dragon.png/image");
  ASSERT_TRUE(img);
  EXPECT_EQ(img->status, 404) << img->body;

  // An HTTP caller naming a file outside the roots is still refused.
  json out = add("local", json::array({{{"id", "w"},
                                        {"image_path", (folder.path() / "whale.png").string()}}}));
  EXPECT_EQ(out["results"][0]["error"]["code"], "permission_denied") << out;
}

TEST_F(ApiServerTest, PathConfinement) {
  create("paths");
  const fs::path root = fs::canonical(roots_->path());
  const fs::path outside_dir = fs::canonical(data_->path()) / "outside";
  fs::create_directories(root / "photos");
  fs::create_directories(outside_dir);
  fs::copy_file(golden_dir() / "images/cir_candi_1.png", root / "photos/a.png");
  fs::copy_file(golden_dir() / "images/datawhale02.png", outside_dir / "secret.png");
  fs::create_symlink(outside_dir / "secret.png", root / "photos/escape.png");
  fs::create_directory_symlink(outside_dir, root / "outdir");

  json docs = json::array({
      {{"id", "ok"}, {"image_path", (root / "photos/a.png").string()}},
      {{"id", "dotdot"}, {"image_path", (root / "photos/../../outside/secret.png").string()}},
      {{"id", "absolute"}, {"image_path", (outside_dir / "secret.png").string()}},
      {{"id", "symlink"}, {"image_path", (root / "photos/escape.png").string()}},
      {{"id", "symdir"}, {"image_path", (root / "outdir/secret.png").string()}},
      {{"id", "etc"}, {"image_path", "/etc/passwd"}},
      {{"id", "missing"}, {"image_path", (root / "photos/none.png").string()}},
      {{"id", "relative"}, {"image_path", "photos/a.png"}},
  });
  json out = add("paths", docs);
  const auto& res = out["results"];
  EXPECT_EQ(res[0]["status"], "inserted") << res[0];
  for (size_t i = 1; i <= 5; ++i) {
    EXPECT_EQ(res[i]["status"], "failed") << res[i];
    EXPECT_EQ(res[i]["error"]["code"], "permission_denied") << res[i];
  }
  EXPECT_EQ(res[6]["error"]["code"], "not_found") << res[6];
  EXPECT_EQ(res[7]["error"]["code"], "invalid_argument") << res[7];

  // The image of a path document is served from the file.
  auto img = client_->Get("/v1/collections/paths/documents/ok/image");
  ASSERT_TRUE(img);
  ASSERT_EQ(img->status, 200);
  EXPECT_TRUE(img->body == golden_image("cir_candi_1.png"));

  // Search and embed apply the same rules.
  auto r = post_json(*client_, "/v1/collections/paths/search",
                     {{"image_path", (root / "photos/a.png").string()}, {"k", 1}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_json(r)["hits"][0]["id"], "ok");
  r = post_json(*client_, "/v1/collections/paths/search",
                {{"image_path", (root / "photos/escape.png").string()}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  r = post_json(*client_, "/v1/embed", {{"image_path", (root / "../x.png").string()}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
}

TEST_F(ApiServerTest, RoutingErrorsAndContentTypes) {
  auto r = client_->Get("/v1/nothing");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(error_code(r), "not_found");
  r = client_->Put("/v1/collections", "{}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "GET, POST");
  r = client_->Post("/v1/collections", R"({"name": "x"})", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415);
  EXPECT_EQ(error_code(r), "unsupported_media_type");
  r = client_->Post("/v1/embed", "{\"text\": ", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(error_code(r), "malformed_request");
  r = client_->Post("/v1/embed", "[1,2]", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = client_->Post("/v1/embed", "", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = client_->Post("/v1/embed", "{\"text\": \"\xff\xfe\"}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);  // invalid UTF-8 inside JSON
  std::string deep(1000, '[');
  r = client_->Post("/v1/embed", deep + std::string(1000, ']'), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("nested"), std::string::npos);
  r = client_->Get("/v1/collections/bad%zzname");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
}

TEST_F(ApiServerTest, MalformedBytesAndHugeHeaders) {
  std::mt19937 rng(1234);
  // Random bytes as one line: the server reads all of it, so it closes cleanly after its
  // answer (unread input would make the kernel reset the connection and drop the answer).
  for (int round = 0; round < 5; ++round) {
    std::string junk(2000, '\0');
    for (auto& c : junk) {
      c = static_cast<char>(rng());
      if (c == '\r' || c == '\n') c = 'x';
    }
    const std::string reply = raw_exchange(server_->port(), junk + "\r\n", 5000);
    EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply.substr(0, 80);
  }
  // A header line longer than the parser takes.
  std::string huge =
      "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(70000, 'a') + "\r\n";
  std::string reply = raw_exchange(server_->port(), huge, 5000);
  EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply.substr(0, 80);
  // A body shorter than its Content-Length (the client gives up): no answer, no harm.
  reply = raw_exchange(server_->port(),
                       "POST /v1/embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Content-Length: 100\r\n\r\n{\"text\":",
                       200);
  // Truncated base64 in a valid request.
  auto r = post_json(*client_, "/v1/embed",
                     {{"image", golden_image_b64("cir_candi_1.png").substr(0, 1001)}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("truncated"), std::string::npos) << r->body;
  // The server is still fine.
  auto h = client_->Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
}

TEST_F(ApiServerTest, ParallelClients) {
  create("busy");
  constexpr int kClients = 8, kRounds = 6;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      auto client = server_->client();
      for (int i = 0; i < kRounds; ++i) {
        const std::string id = "c" + std::to_string(c) + "-" + std::to_string(i);
        auto w = post_json(
            *client, "/v1/collections/busy/documents",
            {{"documents",
              json::array(
                  {{{"id", id}, {"text", "document " + id}, {"metadata", {{"client", c}}}}})}});
        if (!w || w->status != 200 || body_json(w)["results"][0]["status"] != "inserted")
          ++failures;
        auto s = post_json(*client, "/v1/collections/busy/search",
                           {{"text", "document " + id}, {"k", 1}});
        if (!s || s->status != 200 || body_json(s)["hits"].empty() ||
            body_json(s)["hits"][0]["id"] != id)
          ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(body_json(client_->Get("/v1/collections/busy"))["count"], kClients * kRounds);

  // Metrics saw it all: per-route counts, encoder batches, documents per collection.
  auto m = client_->Get("/metrics");
  ASSERT_TRUE(m);
  ASSERT_EQ(m->status, 200);
  EXPECT_NE(m->get_header_value("Content-Type").find("text/plain"), std::string::npos);
  const std::string& text = m->body;
  EXPECT_NE(text.find("vista_http_requests_total{route=\"/v1/collections/{name}/search\","
                      "method=\"POST\",status=\"200\"}"),
            std::string::npos);
  EXPECT_NE(text.find("vista_http_request_duration_seconds_bucket{route=\"/v1/collections/"
                      "{name}/documents\",method=\"POST\",status=\"200\",le=\"+Inf\"}"),
            std::string::npos);
  EXPECT_NE(text.find("vista_encoder_batch_size_count"), std::string::npos);
  EXPECT_NE(text.find("vista_encoder_queue_depth"), std::string::npos);
  EXPECT_NE(text.find("vista_collection_documents{collection=\"busy\"} " +
                      std::to_string(kClients * kRounds) + "\n"),
            std::string::npos);
}

// ---- servers with their own settings -------------------------------------------------------

TEST(ApiServerSettingsTest, AuthOnAndOff) {
  VISTA_REQUIRE_GOLDEN();
  TempDir dir;
  auto s = test_settings(dir.path());
  s.api_key = "write-secret";
  s.read_only_api_key = "read-secret";
  TestServer server(s);
  ASSERT_TRUE(server.ok());
  auto c = server.client();
  const httplib::Headers none, writer = {{"Authorization", "Bearer write-secret"}},
                               reader = {{"X-API-Key", "read-secret"}},
                               wrong = {{"Authorization", "Bearer write-secre"}};
  auto status = [&](const httplib::Result& r) { return r ? r->status : -1; };
  EXPECT_EQ(status(c->Get("/health")), 200);
  EXPECT_EQ(status(c->Get("/ready")), 200);
  EXPECT_EQ(status(c->Get("/")), 200);
  auto r = c->Get("/v1/collections", none);
  EXPECT_EQ(status(r), 401);
  EXPECT_EQ(error_code(r), "unauthenticated");
  EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer");
  EXPECT_EQ(status(c->Get("/v1/collections", wrong)), 401);
  EXPECT_EQ(status(c->Get("/metrics", none)), 401);
  EXPECT_EQ(status(c->Get("/metrics", reader)), 200);
  EXPECT_EQ(status(c->Get("/v1/collections", reader)), 200);
  r = post_json(*c, "/v1/collections", {{"name", "keys"}}, reader);
  EXPECT_EQ(status(r), 403);
  EXPECT_EQ(error_code(r), "permission_denied");
  EXPECT_EQ(status(post_json(*c, "/v1/collections", {{"name", "keys"}}, writer)), 201);
  EXPECT_EQ(status(post_json(*c, "/v1/collections/keys/documents",
                             {{"documents", json::array({{{"text", "x"}}})}}, reader)),
            403);
  EXPECT_EQ(status(post_json(*c, "/v1/collections/keys/documents",
                             {{"documents", json::array({{{"id", "d"}, {"text", "x"}}})}}, writer)),
            200);
  EXPECT_EQ(status(post_json(*c, "/v1/collections/keys/search", {{"text", "x"}}, reader)), 200);
  EXPECT_EQ(status(post_json(*c, "/v1/embed", {{"text", "x"}}, reader)), 200);
  EXPECT_EQ(status(c->Get("/v1/collections/keys/documents/d", reader)), 200);
  EXPECT_EQ(status(c->Delete("/v1/collections/keys/documents/d", reader)), 403);
  EXPECT_EQ(status(c->Delete("/v1/collections/keys", reader)), 403);
  EXPECT_EQ(status(c->Delete("/v1/collections/keys", writer)), 200);
  // A refused request with a large body gets its answer, and the connection goes on.
  EXPECT_EQ(status(post_json(*c, "/v1/embed", {{"text", std::string(100000, 'x')}}, wrong)), 401);
  EXPECT_EQ(status(c->Get("/v1/collections", writer)), 200);
}

TEST(ApiServerSettingsTest, LimitsGive413) {
  VISTA_REQUIRE_GOLDEN();
  TempDir dir;
  auto s = test_settings(dir.path());
  s.limits.max_body_bytes = 200000;
  s.limits.max_image_bytes = 100000;
  s.limits.max_image_pixels = 100000;  // 640x480 = 307200 is too many
  s.limits.max_batch_documents = 3;
  s.limits.max_text_bytes = 100;
  s.limits.max_k = 5;
  TestServer server(s);
  ASSERT_TRUE(server.ok());
  auto c = server.client();
  ASSERT_EQ(post_json(*c, "/v1/collections", {{"name", "lim"}})->status, 201);

  auto r = post_json(*c, "/v1/embed", {{"text", std::string(300000, 'a')}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(error_code(r), "too_large");
  r = post_json(*c, "/v1/embed", {{"text", std::string(101, 'a')}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  r = post_json(*c, "/v1/embed", {{"image", golden_image_b64("cir_candi_1.png")}});  // 51 KB
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413) << r->body;                                               // pixels
  r = post_json(*c, "/v1/embed", {{"image", golden_image_b64("wiki_candi_1.jpg")}});  // 104 KB
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413) << r->body;  // bytes
  r = post_json(*c, "/v1/embed", {{"image", golden_image_b64("edge/upscale_100x80.jpg")}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  json four = json::array();
  for (int i = 0; i < 4; ++i) four.push_back({{"text", "t" + std::to_string(i)}});
  r = post_json(*c, "/v1/collections/lim/documents", {{"documents", four}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  r = post_json(*c, "/v1/collections/lim/documents",
                {{"documents", json::array({{{"text", std::string(101, 'b')}}})}});
  ASSERT_TRUE(r);
  EXPECT_EQ(body_json(r)["results"][0]["error"]["code"], "too_large");
  r = post_json(*c, "/v1/collections/lim/search", {{"text", "x"}, {"k", 6}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422);
  EXPECT_EQ(body_json(c->Get("/v1/collections/lim"))["count"], 0);
}

TEST(ApiServerSettingsTest, FullConnectionQueueAnswers503) {
  VISTA_REQUIRE_GOLDEN();
  TempDir dir;
  auto s = test_settings(dir.path());
  s.http_threads = 1;
  s.max_pending_connections = 1;
  s.read_timeout_s = 60;
  s.retry_after_s = 3;
  TestServer server(s);
  ASSERT_TRUE(server.ok());
  // Occupy the only worker with a request whose headers never end.
  int stalled = connect_local(server.port());
  ASSERT_GE(stalled, 0);
  const std::string partial = "GET /health HTTP/1.1\r\nHost: x\r\n";
  ASSERT_EQ(::send(stalled, partial.data(), partial.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(partial.size()));
  // With one connection held by the worker and room for one more, at least one of three more
  // connections must be refused at once, whatever the timing.
  std::vector<std::string> replies(3);
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      replies[i] = raw_exchange(
          server.port(), "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 30000);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Free the worker after the refusals have had their chance (they do not need it).
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ::close(stalled);
  for (auto& t : threads) t.join();
  int refused = 0, served = 0;
  for (const auto& r : replies) {
    if (r.rfind("HTTP/1.1 503", 0) == 0) {
      ++refused;
      EXPECT_NE(r.find("Retry-After: 3"), std::string::npos) << r;
      EXPECT_NE(r.find("\"overloaded\""), std::string::npos) << r;
    } else if (r.rfind("HTTP/1.1 200", 0) == 0) {
      ++served;
    }
  }
  EXPECT_GE(refused, 1);
  EXPECT_EQ(refused + served, 3) << replies[0].substr(0, 200) << "\n--\n"
                                 << replies[1].substr(0, 200) << "\n--\n"
                                 << replies[2].substr(0, 200);
  auto c = server.client();
  auto m = c->Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("vista_http_connections_rejected_total " + std::to_string(refused)),
            std::string::npos);
}

TEST(ApiServerSettingsTest, InternalErrorsHideDetails) {
  VISTA_REQUIRE_GOLDEN();
  TempDir dir;
  const fs::path data = dir.path() / "data";
  {
    TestServer server(test_settings(data));
    ASSERT_TRUE(server.ok());
    ASSERT_EQ(post_json(*server.client(), "/v1/collections", {{"name", "fine"}})->status, 201);
  }
  // A collection whose store is damaged, and an image folder that cannot be created.
  fs::create_directories(data / "broken" / "rocksdb");
  std::ofstream(data / "broken" / "rocksdb" / "CURRENT") << "not a manifest name\n";
  TestServer server(test_settings(data));
  ASSERT_TRUE(server.ok());
  auto c = server.client();
  auto r = c->Get("/v1/collections/broken");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500) << r->body;
  EXPECT_EQ(error_code(r), "internal");
  EXPECT_EQ(r->body.find(data.string()), std::string::npos) << "internals leaked: " << r->body;
  EXPECT_EQ(r->body.find("rocksdb"), std::string::npos) << "internals leaked: " << r->body;
  r = c->Get("/v1/collections/fine");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);

  const json info = body_json(r);
  const fs::path bucket =
      data / "_images" / ("fine@" + std::to_string(info["created_at_ms"].get<int64_t>()));
  fs::create_directories(bucket.parent_path());
  std::ofstream(bucket) << "a file where the folder should be";
  r = post_json(
      *c, "/v1/collections/fine/documents",
      {{"documents", json::array({{{"id", "pic"}, {"image", golden_image_b64("cir_candi_1.png")}},
                                  {{"id", "txt"}, {"text", "still written"}}})}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json out = body_json(r);
  EXPECT_EQ(out["results"][0]["status"], "failed");
  EXPECT_EQ(out["results"][0]["error"]["code"], "internal");
  EXPECT_EQ(r->body.find(data.string()), std::string::npos) << "internals leaked: " << r->body;
  EXPECT_EQ(out["results"][1]["status"], "inserted");
  EXPECT_EQ(body_json(c->Get("/v1/collections/fine"))["count"], 1);
}

TEST(ApiServerSettingsTest, WithoutModelServesStoredDataOnly) {
  VISTA_REQUIRE_GOLDEN();
  TempDir dir;
  {
    TestServer server(test_settings(dir.path()));
    ASSERT_TRUE(server.ok());
    auto c = server.client();
    ASSERT_EQ(post_json(*c, "/v1/collections", {{"name", "kept"}})->status, 201);
    ASSERT_EQ(post_json(*c, "/v1/collections/kept/documents",
                        {{"documents", json::array({{{"id", "a"}, {"text", "blue whale"}}})}})
                  ->status,
              200);
  }
  auto s = test_settings(dir.path());
  s.model_dir.reset();
  TestServer server(s);
  ASSERT_TRUE(server.ok());
  auto c = server.client();
  auto ready = c->Get("/ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  EXPECT_TRUE(body_json(ready)["model"].is_null());
  EXPECT_EQ(body_json(c->Get("/v1/collections/kept"))["count"], 1);
  auto r = post_json(*c, "/v1/collections/kept/search", {{"id", "a"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  r = post_json(*c, "/v1/collections/kept/search", {{"text", "x"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 409);
  EXPECT_NE(r->body.find("no model"), std::string::npos) << r->body;
}

}  // namespace
}  // namespace vista::testing
