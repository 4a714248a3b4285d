// Engine: the facade the CLI and the HTTP API call (catalog + tiny encoder + encode queue).
#include "engine/engine.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <future>

#include "engine/ingest_source.h"
#include "tests/test_support.h"

namespace vista::engine {
namespace {

namespace fs = std::filesystem;
using vista::testing::golden_dir;
using vista::testing::TempDir;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

fs::path golden_image(const std::string& name) {
  return golden_dir() / "images" / name;
}

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    VISTA_REQUIRE_GOLDEN();
    engine_ = open(true);
    ASSERT_NE(engine_, nullptr);
  }

  std::unique_ptr<Engine> open(bool with_model) {
    EngineOptions options;
    options.data_dir = data_.path();
    if (with_model) options.model_dir = golden_dir() / "tiny-model";
    options.catalog.collection.sync_writes = false;
    options.encode_queue.max_wait_ms = 1;
    auto engine = Engine::open(options);
    EXPECT_TRUE(engine.is_ok()) << engine.status();
    return engine.is_ok() ? std::move(engine).value() : nullptr;
  }

  static NewDocument text_doc(const std::string& id, const std::string& text,
                              nlohmann::json metadata = nlohmann::json::object()) {
    NewDocument d;
    d.id = id;
    d.text = text;
    d.metadata = std::move(metadata);
    return d;
  }
  static NewDocument image_doc(const std::string& id, const std::string& file,
                               std::optional<std::string> text = std::nullopt) {
    NewDocument d;
    d.id = id;
    d.image_bytes = read_file(golden_image(file));
    d.text = std::move(text);
    return d;
  }

  TempDir data_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(EngineTest, DescribesItsModel) {
  ASSERT_TRUE(engine_->has_model());
  EXPECT_EQ(*engine_->dimension(), 96);
  auto id = engine_->model_identity();
  ASSERT_TRUE(id.is_ok());
  EXPECT_EQ(id->name, "tiny-model");
  EXPECT_EQ(id->checkpoint_hash.size(), 16u);
  EXPECT_NE(engine_->encoder(), nullptr);
  EXPECT_NE(engine_->encode_queue(), nullptr);
}

TEST_F(EngineTest, AddDocumentsReportsEachItem) {
  std::vector<NewDocument> docs = {text_doc("t", "a blue whale", {{"kind", "text"}}),
                                   image_doc("i", "dragon02.png"),
                                   image_doc("b", "datawhale01.png", "a whale logo")};
  NewDocument broken;
  broken.id = "broken";
  broken.image_bytes = "definitely not an image";
  docs.push_back(broken);
  docs.push_back(text_doc("t", "same id twice"));
  NewDocument anonymous;
  anonymous.text = "no id given";
  docs.push_back(anonymous);

  auto r = engine_->add_documents("c", docs);
  ASSERT_TRUE(r.is_ok()) << r.status();
  ASSERT_EQ(r->items.size(), 6u);
  EXPECT_EQ(r->items[0].status, ItemStatus::kInserted);
  EXPECT_EQ(r->items[1].status, ItemStatus::kInserted);
  EXPECT_EQ(r->items[2].status, ItemStatus::kInserted);
  EXPECT_EQ(r->items[3].status, ItemStatus::kFailed);
  EXPECT_EQ(r->items[3].error.code(), StatusCode::kUnsupported) << r->items[3].error;
  EXPECT_EQ(r->items[4].status, ItemStatus::kFailed);
  EXPECT_NE(r->items[4].error.message().find("more than once"), std::string::npos);
  EXPECT_EQ(r->items[5].status, ItemStatus::kInserted);
  EXPECT_EQ(r->items[5].id, content_id(std::string("no id given"), std::nullopt));
  EXPECT_EQ(r->inserted, 4);
  EXPECT_EQ(r->failed, 2);
  auto coll = engine_->catalog().get("c");
  ASSERT_TRUE(coll.is_ok());
  EXPECT_EQ((*coll)->count(), 4);
  EXPECT_EQ((*coll)->info().model, *engine_->model_identity());

  // Again: unchanged; new metadata: updated without re-encoding; new text: re-encoded.
  auto before = (*coll)->get({"t", "i"}, true);
  std::vector<NewDocument> again = {text_doc("t", "a blue whale", {{"kind", "text"}}),
                                    image_doc("i", "dragon02.png")};
  again[1].metadata = {{"kind", "picture"}};
  auto r2 = engine_->add_documents("c", again);
  ASSERT_TRUE(r2.is_ok()) << r2.status();
  EXPECT_EQ(r2->items[0].status, ItemStatus::kUnchanged);
  EXPECT_EQ(r2->items[1].status, ItemStatus::kUpdated);
  auto after = (*coll)->get({"t", "i"}, true);
  EXPECT_EQ((*after)[1]->vector, (*before)[1]->vector);
  EXPECT_EQ((*after)[1]->metadata["kind"], "picture");
  auto r3 = engine_->add_documents("c", {text_doc("t", "a red whale", {{"kind", "text"}})});
  ASSERT_TRUE(r3.is_ok());
  EXPECT_EQ(r3->items[0].status, ItemStatus::kUpdated);
  auto changed = (*coll)->get({"t"}, true);
  EXPECT_NE((*changed)[0]->vector, (*before)[0]->vector);
  EXPECT_EQ((*coll)->count(), 4);
}

TEST_F(EngineTest, AddingOnlyFailuresChangesNothing) {
  ASSERT_TRUE(engine_->add_documents("c", {text_doc("keep", "kept")}).is_ok());
  NewDocument bad;
  bad.id = "bad";
  bad.image_path = data_.path() / "missing.png";
  NewDocument empty;
  empty.id = "empty";
  auto r = engine_->add_documents("c", {bad, empty});
  ASSERT_TRUE(r.is_ok()) << r.status();
  EXPECT_EQ(r->failed, 2);
  EXPECT_EQ(r->items[0].error.code(), StatusCode::kNotFound);
  EXPECT_EQ((*engine_->catalog().get("c"))->count(), 1);
  AddOptions no_create;
  no_create.create_collection = false;
  EXPECT_EQ(engine_->add_documents("absent", {text_doc("x", "y")}, no_create).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(engine_->add_documents("bad name!", {text_doc("x", "y")}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(EngineTest, SearchesByTextImageBothIdAndVector) {
  std::vector<NewDocument> docs = {
      image_doc("dragon", "dragon02.png"), image_doc("whale", "datawhale01.png"),
      image_doc("query", "cir_query.png"), text_doc("note", "a dragon flying over a castle")};
  ASSERT_TRUE(engine_->add_documents("s", docs).is_ok());

  SearchOptions options;
  options.k = 2;
  Query by_image;
  by_image.image_bytes = read_file(golden_image("datawhale01.png"));
  auto r = engine_->search("s", by_image, options);
  ASSERT_TRUE(r.is_ok()) << r.status();
  ASSERT_EQ(r->hits.size(), 2u);
  EXPECT_EQ(r->hits[0].document.id, "whale");
  EXPECT_GE(r->hits[0].score, 0.999f);
  EXPECT_GE(r->took_ms, 0.0);

  Query by_path;
  by_path.image_path = golden_image("dragon02.png");
  r = engine_->search("s", by_path, options);
  ASSERT_TRUE(r.is_ok()) << r.status();
  EXPECT_EQ(r->hits[0].document.id, "dragon");

  Query by_text;
  by_text.text = "a dragon flying over a castle";
  r = engine_->search("s", by_text, options);
  ASSERT_TRUE(r.is_ok()) << r.status();
  EXPECT_EQ(r->hits[0].document.id, "note");
  EXPECT_GE(r->hits[0].score, 0.999f);

  Query both;
  both.text = "a whale";
  both.image_path = golden_image("datawhale01.png");
  r = engine_->search("s", both, options);
  ASSERT_TRUE(r.is_ok()) << r.status();
  EXPECT_EQ(r->hits.size(), 2u);

  Query like;
  like.id = "whale";
  options.k = 10;
  r = engine_->search("s", like, options);
  ASSERT_TRUE(r.is_ok()) << r.status();
  EXPECT_EQ(r->hits.size(), 3u);  // everything but the document itself
  for (const auto& h : r->hits) EXPECT_NE(h.document.id, "whale");

  // A raw vector is normalised first: twice the stored vector scores like the vector itself.
  auto stored = (*engine_->catalog().get("s"))->get({"dragon"}, true);
  Query by_vector;
  by_vector.vector = (*stored)[0]->vector;
  for (float& v : *by_vector.vector) v *= 2;
  options.k = 1;
  r = engine_->search("s", by_vector, options);
  ASSERT_TRUE(r.is_ok()) << r.status();
  EXPECT_EQ(r->hits[0].document.id, "dragon");
  EXPECT_NEAR(r->hits[0].score, 1.0f, 1e-4);
}

// The one change-detection rule (classify_change) on the engine's path; ingestor_test pins the
// same rule on the ingestion path.
TEST_F(EngineTest, SameContentWithNewMetadataOrSourceIsRewrittenNotReencoded) {
  NewDocument d = text_doc("t", "a blue whale");
  d.source = "/notes/a.txt";
  ASSERT_EQ(engine_->add_documents("s", {d})->items[0].status, ItemStatus::kInserted);
  auto coll = *engine_->catalog().get("s");
  const auto before = (*coll->get({"t"}, true))[0];
  const int64_t encoded = engine_->encode_queue()->stats().items;

  d.source = "/moved/a.txt";  // same content, new source: rewritten
  ASSERT_EQ(engine_->add_documents("s", {d})->items[0].status, ItemStatus::kUpdated);
  auto after = (*coll->get({"t"}, true))[0];
  EXPECT_EQ(after->source, "/moved/a.txt");
  EXPECT_EQ(after->vector, before->vector);
  d.source.reset();  // no source given: the stored one stays
  ASSERT_EQ(engine_->add_documents("s", {d})->items[0].status, ItemStatus::kUnchanged);
  d.metadata = {{"k", 1}};
  ASSERT_EQ(engine_->add_documents("s", {d})->items[0].status, ItemStatus::kUpdated);
  after = (*coll->get({"t"}, true))[0];
  EXPECT_EQ(after->source, "/moved/a.txt");
  EXPECT_EQ(after->metadata, nlohmann::json({{"k", 1}}));
  EXPECT_EQ(engine_->encode_queue()->stats().items, encoded);  // nothing re-encoded

  Document stored;
  stored.content_hash = "h";
  stored.metadata = nlohmann::json::object();
  stored.source = "/a";
  EXPECT_EQ(classify_change(std::nullopt, "h", {}, std::nullopt), Change::kInsert);
  EXPECT_EQ(classify_change(stored, "other", {}, "/a"), Change::kReencode);
  EXPECT_EQ(classify_change(stored, "h", nullptr, "/a"), Change::kUnchanged);
  EXPECT_EQ(classify_change(stored, "h", nlohmann::json::object(), std::nullopt),
            Change::kUnchanged);
  EXPECT_EQ(classify_change(stored, "h", {{"x", 1}}, "/a"), Change::kRewrite);
  EXPECT_EQ(classify_change(stored, "h", nlohmann::json::object(), "/b"), Change::kRewrite);
}

TEST_F(EngineTest, BadQueriesAreRefused) {
  ASSERT_TRUE(engine_->add_documents("q", {text_doc("a", "alpha")}).is_ok());
  Query none;
  EXPECT_EQ(engine_->search("q", none).status().code(), StatusCode::kInvalidArgument);
  Query two;
  two.text = "x";
  two.id = "a";
  EXPECT_EQ(engine_->search("q", two).status().code(), StatusCode::kInvalidArgument);
  Query wrong_dim;
  wrong_dim.vector = std::vector<float>(5, 1.0f);
  EXPECT_EQ(engine_->search("q", wrong_dim).status().code(), StatusCode::kInvalidArgument);
  Query nan;
  nan.vector = std::vector<float>(96, 1.0f);
  nan.vector->at(7) = NAN;
  auto refused_nan = engine_->search("q", nan);
  EXPECT_EQ(refused_nan.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused_nan.status().message().find("component 7 is NaN"), std::string::npos)
      << refused_nan.status();
  Query missing_id;
  missing_id.id = "nope";
  EXPECT_EQ(engine_->search("q", missing_id).status().code(), StatusCode::kNotFound);
  Query text;
  text.text = "alpha";
  EXPECT_EQ(engine_->search("absent", text).status().code(), StatusCode::kNotFound);
  // k is checked before the query is encoded.
  const int64_t encoded_before = engine_->encode_queue()->stats().requests;
  SearchOptions zero_k;
  zero_k.k = 0;
  EXPECT_EQ(engine_->search("q", text, zero_k).status().code(), StatusCode::kInvalidArgument);
  zero_k.k = kMaxSearchK + 1;
  EXPECT_EQ(engine_->search("q", text, zero_k).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(engine_->encode_queue()->stats().requests, encoded_before);
  Query bad_image;
  bad_image.image_bytes = "garbage";
  EXPECT_EQ(engine_->search("q", bad_image).status().code(), StatusCode::kUnsupported);
  Query bad_text;
  bad_text.text = "\xff\xfe";
  EXPECT_EQ(engine_->search("q", bad_text).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(EngineTest, CollectionsOfAnotherModelAreRefused) {
  CollectionConfig config;
  config.dimension = 96;
  config.model = ModelIdentity{"someone-else", "ffffffffffffffff"};
  ASSERT_TRUE(engine_->catalog().create("foreign", config).is_ok());
  auto add = engine_->add_documents("foreign", {text_doc("a", "b")});
  EXPECT_EQ(add.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(add.status().message().find("someone-else"), std::string::npos) << add.status();
  Query q;
  q.text = "b";
  EXPECT_EQ(engine_->search("foreign", q).status().code(), StatusCode::kFailedPrecondition);

  // The same weights under another folder name are the same model.
  config.model = *engine_->model_identity();
  config.model.name = "renamed-folder";
  ASSERT_TRUE(engine_->catalog().create("renamed", config).is_ok());
  auto ok = engine_->add_documents("renamed", {text_doc("a", "b")});
  ASSERT_TRUE(ok.is_ok()) << ok.status();
  auto found = engine_->search("renamed", q);
  ASSERT_TRUE(found.is_ok()) << found.status();
  EXPECT_EQ(found->hits[0].document.id, "a");
}

TEST_F(EngineTest, WithoutAModelStoredVectorsStillServe) {
  ASSERT_TRUE(engine_->add_documents("n", {text_doc("a", "alpha"), text_doc("b", "beta")}).is_ok());
  ASSERT_TRUE(engine_->close().is_ok());
  engine_.reset();
  auto plain = open(false);
  ASSERT_NE(plain, nullptr);
  EXPECT_FALSE(plain->has_model());
  EXPECT_EQ(plain->model_identity().status().code(), StatusCode::kFailedPrecondition);
  Query text;
  text.text = "alpha";
  auto refused = plain->search("n", text);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("--model"), std::string::npos);
  Query like;
  like.id = "a";
  auto r = plain->search("n", like);
  ASSERT_TRUE(r.is_ok()) << r.status();
  ASSERT_EQ(r->hits.size(), 1u);
  EXPECT_EQ(r->hits[0].document.id, "b");
  auto removed = plain->delete_documents("n", {"a", "zzz"});
  ASSERT_TRUE(removed.is_ok());
  EXPECT_EQ(removed->removed, 1);
  EXPECT_EQ(removed->missing.size(), 1u);
  EXPECT_EQ(plain->add_documents("n", {text_doc("c", "gamma")}).status().code(),
            StatusCode::kFailedPrecondition);
}

TEST_F(EngineTest, ConcurrentEmbedsAgreeWithSequentialOnes) {
  const std::vector<std::string> texts = {
      "one", "two dogs", "three red cars", "four", "five birds on a wire", "six"};
  std::vector<std::vector<float>> expected;
  for (const auto& t : texts) {
    auto e = engine_->embed(Content{t, std::nullopt, std::nullopt});
    ASSERT_TRUE(e.is_ok()) << e.status();
    expected.push_back(e->vector);
  }
  std::vector<std::future<Result<Embedding>>> futures;
  for (int round = 0; round < 3; ++round)
    for (const auto& t : texts)
      futures.push_back(std::async(std::launch::async, [&, t] {
        return engine_->embed(Content{t, std::nullopt, std::nullopt});
      }));
  for (size_t i = 0; i < futures.size(); ++i) {
    auto r = futures[i].get();
    ASSERT_TRUE(r.is_ok()) << r.status();
    const auto& want = expected[i % texts.size()];
    double dot = 0;
    for (size_t k = 0; k < want.size(); ++k) dot += double(want[k]) * r->vector[k];
    EXPECT_GT(dot, 0.99999) << texts[i % texts.size()];
  }
}

TEST_F(EngineTest, MissingModelDirectorySaysHowToGetIt) {
  EngineOptions options;
  options.data_dir = data_.path();
  options.model_dir = data_.path() / "no-such-model";
  auto r = Engine::open(options);
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("scripts/fetch-model.sh"), std::string::npos) << r.status();
}

TEST_F(EngineTest, CallsAfterCloseFail) {
  ASSERT_TRUE(engine_->close().is_ok());
  ASSERT_TRUE(engine_->close().is_ok());  // idempotent
  Query q;
  q.text = "x";
  EXPECT_EQ(engine_->search("c", q).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(engine_->embed(Content{std::string("x"), std::nullopt, std::nullopt}).status().code(),
            StatusCode::kFailedPrecondition);
}

TEST(ContentHashTest, DependsOnEveryInputAndOnlyOnTheWeights) {
  ModelIdentity a{"a", "1111"}, renamed{"b", "1111"}, other{"a", "2222"};
  std::optional<std::string> text = "t", image = std::string("img");
  const auto h = document_content_hash(a, text, image);
  EXPECT_EQ(h.size(), 64u);
  EXPECT_EQ(h, document_content_hash(renamed, text, image));
  EXPECT_NE(h, document_content_hash(other, text, image));
  EXPECT_NE(h, document_content_hash(a, std::nullopt, image));
  EXPECT_NE(h, document_content_hash(a, text, std::nullopt));
  EXPECT_NE(h, document_content_hash(a, std::string("timg"), std::string("")));
}

}  // namespace
}  // namespace vista::engine
