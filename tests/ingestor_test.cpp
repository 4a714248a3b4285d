// Ingestion: the source walker (folders, JSONL and CSV manifests) and the whole pipeline with the
// tiny model (golden images, errors report, idempotent re-runs, change detection, cancellation and
// resumption).
#include "engine/ingestor.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>

#include "engine/engine.h"
#include "engine/ingest_report.h"
#include "engine/ingest_source.h"
#include "tests/test_support.h"

namespace vista::engine {
namespace {

namespace fs = std::filesystem;
using vista::testing::golden_dir;
using vista::testing::TempDir;

void write_file(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}

std::vector<nlohmann::json> read_jsonl(const fs::path& p) {
  std::vector<nlohmann::json> out;
  std::ifstream in(p);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

struct Walked {
  std::vector<SourceItem> items;
  std::vector<SourceError> errors;
  std::vector<fs::path> skipped;
  Status status;
};

Walked walk(std::vector<fs::path> sources) {
  Walked w;
  auto walker = SourceWalker::create(std::move(sources));
  if (!walker.is_ok()) {
    w.status = walker.status();
    return w;
  }
  w.status = walker->walk(
      [&](SourceItem&& item) {
        w.items.push_back(std::move(item));
        return true;
      },
      [&](SourceError&& e) { w.errors.push_back(std::move(e)); },
      [&](const fs::path& p) { w.skipped.push_back(p); });
  return w;
}

std::vector<std::string> ids_of(const std::vector<SourceItem>& items) {
  std::vector<std::string> ids;
  for (const auto& i : items) ids.push_back(i.id);
  return ids;
}

const std::string kPngSignature = "\x89PNG\r\n\x1a\n rest";
const std::string kJpegSignature = "\xFF\xD8\xFF\xE0 rest";

// ---------------------------------------------------------------- sources (no model needed)

// The stage whose threads were busiest bounds the rate; reading and decoding share threads.
TEST(IngestStagesTest, TheBusiestStageBoundsTheRate) {
  IngestStages st;
  st.wall_seconds = 10;
  st.prepare_threads = 4;
  st.reading_seconds = 4;    // 10% of 4 threads
  st.decoding_seconds = 8;   // 20%
  st.encoding_seconds = 9.5; // 95% of the encoder thread
  st.writing_seconds = 1;
  EXPECT_NEAR(st.busy("decoding"), 0.2, 1e-9);
  EXPECT_EQ(st.bounding_stage(), "encoding");
  st.decoding_seconds = 36;  // 90%, with reading 10%: the preparers are saturated
  EXPECT_EQ(st.bounding_stage(), "decoding");
  st.reading_seconds = 38;
  st.decoding_seconds = 2;
  EXPECT_EQ(st.bounding_stage(), "reading");
  st.reading_seconds = st.decoding_seconds = st.encoding_seconds = 0.1;
  st.writing_seconds = 9;
  EXPECT_EQ(st.bounding_stage(), "writing");
}

TEST(SourceWalkerTest, FolderIsWalkedInOrderSkippingHiddenAndNonImageFiles) {
  TempDir dir;
  write_file(dir.path() / "b.jpg", kJpegSignature);
  write_file(dir.path() / "a" / "z.png", kPngSignature);
  write_file(dir.path() / "a" / "y.webp", "not really a webp");  // promised by its name
  write_file(dir.path() / "noext", kPngSignature);               // recognised by content
  write_file(dir.path() / "notes.txt", "hello");                 // neither: skipped
  write_file(dir.path() / ".hidden.jpg", kJpegSignature);
  write_file(dir.path() / ".cache" / "c.jpg", kJpegSignature);
  auto w = walk({dir.path()});
  ASSERT_TRUE(w.status.is_ok()) << w.status;
  EXPECT_EQ(ids_of(w.items), (std::vector<std::string>{"a/y.webp", "a/z.png", "b.jpg", "noext"}));
  ASSERT_EQ(w.skipped.size(), 1u);
  EXPECT_EQ(w.skipped[0].filename(), "notes.txt");
  EXPECT_TRUE(w.errors.empty());
  EXPECT_EQ(*w.items[0].image_path, dir.path() / "a" / "y.webp");
  EXPECT_EQ(w.items[0].source, (dir.path() / "a" / "y.webp").string());
  EXPECT_FALSE(w.items[0].text.has_value());
  auto walker = SourceWalker::create({dir.path()});
  EXPECT_EQ(walker->count_candidates(), 5);  // every visible file, images or not
}

TEST(SourceWalkerTest, JsonlManifestRowsAndTheirErrors) {
  TempDir dir;
  write_file(dir.path() / "m" / "m.jsonl",
             R"({"id": "p1", "image": "img/x.jpg", "text": "a cat", "metadata": {"year": 2001}}
{"text": "only words"}
{"image": "./img/y.png"}

{"id": 7, "text": "numbered"}
not json
{"id": "p2", "imgae": "typo.jpg"}
{"id": "p3"}
{"id": "p1", "text": "same id again"}
{"id": "p4", "text": "meta", "metadata": [1, 2]}
{"image": "/abs/z.jpg", "metadata": null}
)");
  auto w = walk({dir.path() / "m" / "m.jsonl"});
  ASSERT_TRUE(w.status.is_ok()) << w.status;
  ASSERT_EQ(w.items.size(), 5u);
  EXPECT_EQ(w.items[0].id, "p1");
  EXPECT_EQ(*w.items[0].image_path, dir.path() / "m" / "img/x.jpg");
  EXPECT_EQ(*w.items[0].text, "a cat");
  EXPECT_EQ(w.items[0].metadata, nlohmann::json({{"year", 2001}}));
  EXPECT_EQ(w.items[0].source, (dir.path() / "m" / "m.jsonl").string() + ":1");
  EXPECT_EQ(w.items[1].id, content_id(std::string("only words"), std::nullopt));
  EXPECT_FALSE(w.items[1].image_path.has_value());
  EXPECT_EQ(w.items[2].id, "img/y.png");
  EXPECT_EQ(w.items[3].id, "7");
  EXPECT_EQ(w.items[3].source, (dir.path() / "m" / "m.jsonl").string() + ":5");
  EXPECT_EQ(w.items[4].id, "/abs/z.jpg");
  EXPECT_EQ(*w.items[4].image_path, fs::path("/abs/z.jpg"));
  EXPECT_TRUE(w.items[4].metadata.is_object());

  std::map<std::string, std::string> reasons;  // line -> message
  for (const auto& e : w.errors)
    reasons[e.source.substr(e.source.rfind(':') + 1)] = e.error.message();
  ASSERT_EQ(reasons.size(), 5u);
  EXPECT_NE(reasons["6"].find("not valid JSON"), std::string::npos) << reasons["6"];
  EXPECT_NE(reasons["7"].find("unknown field \"imgae\""), std::string::npos) << reasons["7"];
  EXPECT_NE(reasons["8"].find("neither"), std::string::npos) << reasons["8"];
  EXPECT_NE(reasons["9"].find("duplicate id 'p1'"), std::string::npos) << reasons["9"];
  EXPECT_NE(reasons["9"].find(":1"), std::string::npos) << "names the first use";
  EXPECT_NE(reasons["10"].find("\"metadata\" must be an object"), std::string::npos);
  EXPECT_EQ(SourceWalker::create({dir.path() / "m" / "m.jsonl"})->count_candidates(), 10);
}

TEST(SourceWalkerTest, CsvManifestTypesMetadataCells) {
  TempDir dir;
  write_file(dir.path() / "m.csv",
             "\xEF\xBB\xBFtext,image,id,year,color,score,note,empty\n"
             "\"a cat, sitting\",cat.jpg,c1,1999,true,0.5,\"two\nlines\",\n"
             "words only,,,-3,false,1e3,007x,\n"
             "short,row\n"
             ",,c4,1,1,1,1,\n");
  auto w = walk({dir.path() / "m.csv"});
  ASSERT_TRUE(w.status.is_ok()) << w.status;
  ASSERT_EQ(w.items.size(), 2u);
  const auto& a = w.items[0];
  EXPECT_EQ(a.id, "c1");
  EXPECT_EQ(*a.text, "a cat, sitting");
  EXPECT_EQ(*a.image_path, dir.path() / "cat.jpg");
  EXPECT_EQ(
      a.metadata,
      nlohmann::json({{"year", 1999}, {"color", true}, {"score", 0.5}, {"note", "two\nlines"}}));
  const auto& b = w.items[1];
  EXPECT_EQ(b.id, content_id(std::string("words only"), std::nullopt));
  EXPECT_FALSE(b.image_path.has_value());
  EXPECT_EQ(b.metadata,
            nlohmann::json({{"year", -3}, {"color", false}, {"score", 1000.0}, {"note", "007x"}}));
  ASSERT_EQ(w.errors.size(), 2u);
  EXPECT_NE(w.errors[0].error.message().find("2 fields"), std::string::npos) << w.errors[0].error;
  EXPECT_NE(w.errors[1].error.message().find("neither"), std::string::npos) << w.errors[1].error;
}

TEST(SourceWalkerTest, CsvWithoutImageOrTextColumnIsRejected) {
  TempDir dir;
  write_file(dir.path() / "bad.csv", "id,caption\n1,hello\n");
  write_file(dir.path() / "good.jsonl", R"({"text": "still walked"})");
  auto w = walk({dir.path() / "bad.csv", dir.path() / "good.jsonl"});
  EXPECT_EQ(w.status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(w.status.message().find("\"image\" or a \"text\" column"), std::string::npos)
      << w.status;
  ASSERT_EQ(w.items.size(), 1u);  // the other source is still walked
  EXPECT_EQ(w.errors.size(), 1u);
}

TEST(SourceWalkerTest, MissingSourceFailsUpFront) {
  auto w = walk({"/nonexistent/folder"});
  EXPECT_EQ(w.status.code(), StatusCode::kNotFound);
  EXPECT_NE(w.status.message().find("/nonexistent/folder"), std::string::npos);
}

TEST(SourceWalkerTest, IdsAndTextsAreValidated) {
  EXPECT_TRUE(validate_document_id("ok").is_ok());
  EXPECT_FALSE(validate_document_id("").is_ok());
  EXPECT_FALSE(validate_document_id(std::string(257, 'x')).is_ok());
  EXPECT_TRUE(validate_document_id(std::string(256, 'x')).is_ok());
  EXPECT_FALSE(validate_document_id("bad \xC3\x28").is_ok());
  EXPECT_TRUE(is_valid_utf8("caf\xC3\xA9 \xE4\xB8\x80 \xF0\x9F\x90\x88"));
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));      // overlong
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));  // surrogate
  EXPECT_FALSE(is_valid_utf8("\xE4\xB8"));      // truncated
  EXPECT_NE(content_id(std::string("ab"), std::nullopt), content_id(std::string("a"), "b"));
  EXPECT_NE(content_id(std::string(""), std::nullopt), content_id(std::nullopt, std::nullopt));
  EXPECT_EQ(content_id(std::string("x"), std::nullopt).size(), 32u);
}

// ---------------------------------------------------------------- the pipeline (tiny model)

class IngestorTest : public ::testing::Test {
 protected:
  void SetUp() override { VISTA_REQUIRE_GOLDEN(); }

  static std::unique_ptr<Engine> open_engine(const fs::path& data) {
    EngineOptions options;
    options.data_dir = data;
    options.model_dir = golden_dir() / "tiny-model";
    options.catalog.collection.sync_writes = false;  // the tests do not pull the power plug
    auto engine = Engine::open(options);
    EXPECT_TRUE(engine.is_ok()) << engine.status();
    return engine.is_ok() ? std::move(engine).value() : nullptr;
  }

  static IngestSummary ingest(Engine& engine, const std::string& collection,
                              std::vector<fs::path> sources,
                              std::optional<fs::path> errors = std::nullopt,
                              const std::atomic<bool>* cancel = nullptr, int batch = 4) {
    IngestOptions options;
    options.collection = collection;
    options.sources = std::move(sources);
    options.errors_path = std::move(errors);
    options.cancel = cancel;
    options.batch_size = batch;
    options.write_batch = batch;
    Ingestor ingestor(engine);
    auto summary = ingestor.run(options);
    EXPECT_TRUE(summary.is_ok()) << summary.status();
    return summary.is_ok() ? *summary : IngestSummary{};
  }

  // Copies golden images into `dir` under their own names.
  static void copy_images(const fs::path& dir, const std::vector<std::string>& names) {
    fs::create_directories(dir);
    for (const auto& n : names)
      fs::copy_file(golden_dir() / "images" / n, dir / fs::path(n).filename());
  }

  static std::map<std::string, Document> documents(Engine& engine, const std::string& collection,
                                                   const std::vector<std::string>& ids) {
    auto coll = engine.catalog().get(collection);
    EXPECT_TRUE(coll.is_ok()) << coll.status();
    std::map<std::string, Document> out;
    if (!coll.is_ok()) return out;
    auto docs = (*coll)->get(ids, /*include_vectors=*/true);
    EXPECT_TRUE(docs.is_ok()) << docs.status();
    for (auto& d : *docs)
      if (d) out[d->id] = *d;
    return out;
  }
};

TEST_F(IngestorTest, GoldenImagesAreStoredAndTheBadFilesReported) {
  TempDir data;
  auto engine = open_engine(data.path());
  ASSERT_NE(engine, nullptr);
  const fs::path errors = data.path() / "errors.jsonl";
  const fs::path source = golden_dir() / "images";
  auto s = ingest(*engine, "golden", {source}, errors);

  std::set<std::string> bad;
  for (const auto& line : read_jsonl(errors)) {
    EXPECT_TRUE(line.contains("reason") && line["reason"].is_string()) << line;
    bad.insert(fs::path(line["source"].get<std::string>()).lexically_relative(source).string());
  }
  EXPECT_EQ(bad, (std::set<std::string>{"edge/bad_empty.jpg", "edge/bad_not_an_image.png",
                                        "edge/bad_truncated.jpg"}));

  // Every other file below golden/images is a decodable image and must be stored.
  std::vector<std::string> expected;
  for (const auto& e : fs::recursive_directory_iterator(source)) {
    if (!e.is_regular_file()) continue;
    auto rel = e.path().lexically_relative(source).generic_string();
    if (!bad.count(rel)) expected.push_back(rel);
  }
  ASSERT_GE(expected.size(), 30u);
  EXPECT_EQ(s.inserted, static_cast<int64_t>(expected.size()));
  EXPECT_EQ(s.failed, 3);
  EXPECT_EQ(s.unchanged + s.updated, 0);
  EXPECT_EQ(s.collection_count, static_cast<int64_t>(expected.size()));
  EXPECT_FALSE(s.cancelled);
  // Every stage did work, and the time each took is accounted for.
  EXPECT_GT(s.stages.reading_seconds, 0);
  EXPECT_GT(s.stages.decoding_seconds, 0);
  EXPECT_GT(s.stages.encoding_seconds, 0);
  EXPECT_GT(s.stages.writing_seconds, 0);
  EXPECT_GE(s.stages.prepare_threads, 1);
  EXPECT_LE(s.stages.busy("encoding"), 1.01);
  const std::set<std::string> stages = {"reading", "decoding", "encoding", "writing"};
  EXPECT_TRUE(stages.count(s.stages.bounding_stage())) << s.stages.bounding_stage();
  // The summary a server streams to `vista ingest` carries the stage times: the command names
  // the same bounding stage and thread count as an in-process run.
  const nlohmann::json sent = ingest_summary_json(s);
  ASSERT_TRUE(sent.contains("stages")) << sent;
  auto received = ingest_summary_from_json(nlohmann::json::parse(sent.dump()));
  ASSERT_TRUE(received.is_ok()) << received.status();
  EXPECT_EQ(received->stages.prepare_threads, s.stages.prepare_threads);
  EXPECT_EQ(received->stages.bounding_stage(), s.stages.bounding_stage());
  EXPECT_DOUBLE_EQ(received->stages.busy("decoding"), s.stages.busy("decoding"));
  EXPECT_DOUBLE_EQ(received->stages.busy("encoding"), s.stages.busy("encoding"));

  // Querying with any stored image finds that image first.
  SearchOptions options;
  options.k = 3;
  for (const auto& rel : expected) {
    Query q;
    q.image_path = source / rel;
    auto r = engine->search("golden", q, options);
    ASSERT_TRUE(r.is_ok()) << rel << ": " << r.status();
    ASSERT_FALSE(r->hits.empty()) << rel;
    EXPECT_EQ(r->hits[0].document.id, rel);
    EXPECT_GE(r->hits[0].score, 0.999f) << rel;
    // Stored as an absolute, normalised path (the server reads thumbnails from it).
    EXPECT_EQ(r->hits[0].document.source, fs::absolute(source / rel).lexically_normal().string());
  }
}

TEST_F(IngestorTest, RerunsSkipUnchangedItemsAndReembedOnlyChangedOnes) {
  TempDir data, src;
  copy_images(src.path(), {"cir_candi_1.png", "datawhale02.png", "edge/tiny_5x3.jpg",
                           "edge/upscale_100x80.jpg"});
  auto engine = open_engine(data.path());
  ASSERT_NE(engine, nullptr);
  auto first = ingest(*engine, "c", {src.path()});
  EXPECT_EQ(first.inserted, 4);
  const std::vector<std::string> ids = {"cir_candi_1.png", "datawhale02.png", "tiny_5x3.jpg",
                                        "upscale_100x80.jpg"};
  auto before = documents(*engine, "c", ids);
  ASSERT_EQ(before.size(), 4u);

  auto second = ingest(*engine, "c", {src.path()});
  EXPECT_EQ(second.inserted, 0);
  EXPECT_EQ(second.updated, 0);
  EXPECT_EQ(second.unchanged, 4);
  EXPECT_EQ(second.collection_count, 4);

  // Replace one file's bytes with another picture: exactly that document is re-embedded.
  fs::copy_file(golden_dir() / "images" / "edge" / "palette_P.png", src.path() / "tiny_5x3.jpg",
                fs::copy_options::overwrite_existing);
  auto third = ingest(*engine, "c", {src.path()});
  EXPECT_EQ(third.updated, 1);
  EXPECT_EQ(third.unchanged, 3);
  EXPECT_EQ(third.inserted, 0);
  auto after = documents(*engine, "c", ids);
  for (const auto& id : ids) {
    if (id == "tiny_5x3.jpg") {
      EXPECT_NE(after[id].content_hash, before[id].content_hash);
      EXPECT_NE(after[id].vector, before[id].vector);
    } else {
      EXPECT_EQ(after[id].content_hash, before[id].content_hash) << id;
      EXPECT_EQ(after[id].vector, before[id].vector) << id;
      EXPECT_EQ(after[id].updated_at_ms, before[id].updated_at_ms) << id;
    }
  }
  Query q;
  q.image_path = golden_dir() / "images" / "edge" / "palette_P.png";
  auto r = engine->search("c", q);
  ASSERT_TRUE(r.is_ok()) << r.status();
  EXPECT_EQ(r->hits[0].document.id, "tiny_5x3.jpg");
  EXPECT_GE(r->hits[0].score, 0.999f);
}

// The change-detection rule of add_documents (classify_change) holds here too: a moved folder
// (same content and metadata, new source) rewrites the source and keeps the vectors.
TEST_F(IngestorTest, AMovedFolderUpdatesSourcesWithoutReencoding) {
  TempDir data, src, moved;
  copy_images(src.path(), {"datawhale02.png", "edge/tiny_5x3.jpg"});
  auto engine = open_engine(data.path());
  ASSERT_NE(engine, nullptr);
  ASSERT_EQ(ingest(*engine, "m", {src.path()}).inserted, 2);
  const std::vector<std::string> ids = {"datawhale02.png", "tiny_5x3.jpg"};
  auto before = documents(*engine, "m", ids);
  copy_images(moved.path(), {"datawhale02.png", "edge/tiny_5x3.jpg"});
  auto again = ingest(*engine, "m", {moved.path()});
  EXPECT_EQ(again.updated, 2);
  EXPECT_EQ(again.inserted + again.unchanged, 0);
  auto after = documents(*engine, "m", ids);
  for (const auto& id : ids) {
    EXPECT_EQ(after[id].vector, before[id].vector) << id;
    EXPECT_EQ(fs::path(*after[id].source).parent_path(), fs::absolute(moved.path())) << id;
  }
  EXPECT_EQ(ingest(*engine, "m", {moved.path()}).unchanged, 2);
}

TEST_F(IngestorTest, ManifestRoundTripsMetadataAndMetadataOnlyChangesKeepVectors) {
  TempDir data, src;
  copy_images(src.path() / "pics", {"dragon04.png", "wiki_candi_1.jpg"});
  write_file(
      src.path() / "m.jsonl",
      R"({"id": "d", "image": "pics/dragon04.png", "text": "a green dragon", "metadata": {"kind": "dragon", "year": 2004}}
{"id": "w", "image": "pics/wiki_candi_1.jpg", "metadata": {"kind": "photo", "year": 1999}}
{"id": "t", "text": "a note about whales", "metadata": {"kind": "note"}}
{"id": "missing", "image": "pics/nope.png"}
)");
  auto engine = open_engine(data.path());
  ASSERT_NE(engine, nullptr);
  const fs::path errors = data.path() / "errors.jsonl";
  auto s = ingest(*engine, "m", {src.path() / "m.jsonl"}, errors);
  EXPECT_EQ(s.inserted, 3);
  EXPECT_EQ(s.failed, 1);
  auto lines = read_jsonl(errors);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["id"], "missing");
  EXPECT_EQ(lines[0]["source"], (src.path() / "m.jsonl").string() + ":4");
  EXPECT_EQ(lines[0]["code"], "NotFound");

  auto docs = documents(*engine, "m", {"d", "w", "t"});
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_EQ(docs["d"].text, "a green dragon");
  EXPECT_EQ(docs["d"].metadata["year"], 2004);
  EXPECT_FALSE(docs["w"].text.has_value());
  // Documents with a picture point at the file (the server reads thumbnails from it); others
  // at their manifest line.
  EXPECT_EQ(docs["d"].source, (src.path() / "pics" / "dragon04.png").lexically_normal().string());
  EXPECT_EQ(docs["t"].source, (src.path() / "m.jsonl").string() + ":3");

  // Metadata in results, and a filter.
  SearchOptions options;
  options.k = 10;
  auto filtered = Filter::parse(R"({"year": {"$gte": 2000}})");
  ASSERT_TRUE(filtered.is_ok());
  options.filter = *filtered;
  Query q;
  q.text = "dragon";
  auto r = engine->search("m", q, options);
  ASSERT_TRUE(r.is_ok()) << r.status();
  ASSERT_EQ(r->hits.size(), 1u);
  EXPECT_EQ(r->hits[0].document.id, "d");
  EXPECT_EQ(r->hits[0].document.metadata["kind"], "dragon");

  // Same content, new metadata: updated, vector kept bit for bit.
  write_file(
      src.path() / "m.jsonl",
      R"({"id": "d", "image": "pics/dragon04.png", "text": "a green dragon", "metadata": {"kind": "dragon", "year": 2005}}
{"id": "w", "image": "pics/wiki_candi_1.jpg", "metadata": {"kind": "photo", "year": 1999}}
{"id": "t", "text": "a note about whales, edited", "metadata": {"kind": "note"}}
)");
  auto again = ingest(*engine, "m", {src.path() / "m.jsonl"});
  EXPECT_EQ(again.updated, 2);
  EXPECT_EQ(again.unchanged, 1);
  auto now = documents(*engine, "m", {"d", "w", "t"});
  EXPECT_EQ(now["d"].metadata["year"], 2005);
  EXPECT_EQ(now["d"].vector, docs["d"].vector);
  EXPECT_EQ(now["t"].text, "a note about whales, edited");
  EXPECT_NE(now["t"].vector, docs["t"].vector);
}

TEST_F(IngestorTest, CancelledRunResumesToTheSameCollectionAsAnUninterruptedOne) {
  TempDir data, src;
  const std::vector<std::string> names = {
      "edge/tiny_5x3.jpg", "edge/upscale_100x80.jpg", "edge/palette_P.png",
      "edge/gray_L.png",   "edge/wide_1000x20.jpg",   "edge/tall_15x900.png",
      "edge/tiny_1x1.png", "edge/exact_224.png",      "edge/anim.gif",
      "cir_candi_1.png",   "datawhale02.png",         "edge/exif_orientation6.jpg"};
  copy_images(src.path(), names);
  write_file(src.path() / "captions.csv",
             "text,id,n\nfirst caption,t1,1\nsecond caption,t2,2\nthird caption,t3,3\n");
  auto engine = open_engine(data.path());
  ASSERT_NE(engine, nullptr);

  auto full = ingest(*engine, "full", {src.path(), src.path() / "captions.csv"});
  ASSERT_EQ(full.inserted, 15);

  // Cancel as soon as the first documents are committed.
  std::atomic<bool> cancel{false};
  IngestOptions options;
  options.collection = "resumed";
  options.sources = {src.path(), src.path() / "captions.csv"};
  options.cancel = &cancel;
  options.batch_size = 1;
  options.write_batch = 1;
  Ingestor ingestor(*engine);
  ingestor.set_progress_callback(
      [&](const IngestProgress& p) {
        if (p.done >= 1) cancel = true;
      },
      std::chrono::milliseconds(1));
  auto partial = ingestor.run(options);
  ASSERT_TRUE(partial.is_ok()) << partial.status();
  EXPECT_TRUE(partial->cancelled);
  EXPECT_GE(partial->inserted, 1);
  EXPECT_EQ(partial->failed, 0);
  EXPECT_EQ(partial->collection_count, partial->inserted);

  auto rest = ingest(*engine, "resumed", {src.path(), src.path() / "captions.csv"});
  EXPECT_EQ(rest.unchanged, partial->inserted);
  EXPECT_EQ(rest.inserted + rest.unchanged, 15);
  EXPECT_EQ(rest.collection_count, 15);

  std::vector<std::string> ids = {"t1", "t2", "t3"};
  for (const auto& n : names) ids.push_back(fs::path(n).filename().string());
  auto a = documents(*engine, "full", ids);
  auto b = documents(*engine, "resumed", ids);
  ASSERT_EQ(a.size(), 15u);
  ASSERT_EQ(b.size(), 15u);
  for (const auto& id : ids) {
    EXPECT_EQ(a[id].content_hash, b[id].content_hash) << id;
    EXPECT_EQ(a[id].metadata, b[id].metadata) << id;
    EXPECT_EQ(a[id].text, b[id].text) << id;
    ASSERT_EQ(a[id].vector.size(), b[id].vector.size());
    for (size_t i = 0; i < a[id].vector.size(); ++i)
      EXPECT_NEAR(a[id].vector[i], b[id].vector[i], 1e-5) << id << "[" << i << "]";
  }
}

TEST_F(IngestorTest, RefusesACollectionOfAnotherModel) {
  TempDir data, src;
  copy_images(src.path(), {"edge/tiny_5x3.jpg"});
  auto engine = open_engine(data.path());
  ASSERT_NE(engine, nullptr);
  CollectionConfig config;
  config.dimension = 96;
  config.model = ModelIdentity{"other-model", "0123456789abcdef"};
  ASSERT_TRUE(engine->catalog().create("other", config).is_ok());
  IngestOptions options;
  options.collection = "other";
  options.sources = {src.path()};
  Ingestor ingestor(*engine);
  auto r = ingestor.run(options);
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("other-model"), std::string::npos) << r.status();
  EXPECT_EQ((*engine->catalog().get("other"))->count(), 0);
}

}  // namespace
}  // namespace vista::engine
