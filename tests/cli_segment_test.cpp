// `vista ingest --shard K/N --segment-out` and `vista import` end to end with the tiny model:
// shards imported equal one ingestion, a kill -9 in the middle of an import is finished by
// running the same command again, and a segment of another model is refused.
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "engine/catalog.h"
#include "engine/segment.h"
#include "tests/api_test_util.h"
#include "tests/child_process.h"
#include "tests/collection_compare.h"
#include "tests/test_support.h"

namespace vista {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using vista::testing::ChildExit;
using vista::testing::golden_dir;
using vista::testing::TempDir;

class CliSegmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    VISTA_REQUIRE_GOLDEN();
    VISTA_REQUIRE_VISTA_BINARY();
    model_ = (golden_dir() / "tiny-model").string();
    // A manifest of pictures and texts, one bad row and one picture that does not decode.
    src_ = tmp_.path() / "src";
    fs::create_directories(src_ / "img");
    std::ofstream manifest(src_ / "manifest.jsonl");
    int n = 0;
    for (const char* p : {"cir_candi_1.png", "cir_query.png", "datawhale01.png", "dragon02.png",
                          "dragon04.png", "other01.png", "wiki_candi_1.jpg", "edge/gray_L.png",
                          "edge/tiny_5x3.jpg", "edge/bad_truncated.jpg"}) {
      const std::string name = fs::path(p).filename().string();
      fs::copy_file(golden_dir() / "images" / p, src_ / "img" / name);
      manifest << json{{"id", "doc" + std::to_string(n)},
                       {"image", "img/" + name},
                       {"text", "caption " + std::to_string(n)},
                       {"metadata", {{"n", n}, {"even", n % 2 == 0}}}}
                      .dump()
               << "\n";
      ++n;
    }
    manifest << R"({"id": "words", "text": "only words here", "metadata": {"kind": "text"}})"
             << "\n";
    manifest << R"({"id": "broken", "colour": "a typo'd field"})" << "\n";
  }

  ChildExit vista(std::vector<std::string> args,
                  const vista::testing::ChildEnv& env = {}) {
    args.insert(args.begin(), vista::testing::vista_binary().string());
    return vista::testing::run_child(args, tmp_.path() / "io", "run" + std::to_string(runs_++),
                                     env);
  }

  ChildExit shard(int k, int n, const fs::path& out) {
    return vista({"ingest", "--shard", std::to_string(k) + "/" + std::to_string(n),
                  "--segment-out", out.string(), "--model", model_, "--progress", "none",
                  (src_ / "manifest.jsonl").string()});
  }

  std::unique_ptr<engine::Catalog> catalog(const fs::path& dir) {
    auto c = engine::Catalog::open(dir);
    EXPECT_TRUE(c.is_ok()) << c.status();
    return std::move(c).value();
  }

  TempDir tmp_;
  fs::path src_;
  std::string model_;
  int runs_ = 0;
};

TEST_F(CliSegmentTest, ShardsImportedEqualOneIngestion) {
  const fs::path single = tmp_.path() / "single";
  ChildExit one = vista({"ingest", "--data", single.string(), "--collection", "c", "--model",
                         model_, "--progress", "none", (src_ / "manifest.jsonl").string()});
  ASSERT_EQ(one.exit_code, 1) << one.out << one.err;  // the two bad items
  ASSERT_NE(one.out.find("10 ingested"), std::string::npos) << one.out;

  std::vector<std::string> segments;
  int64_t documents = 0, errors = 0;
  for (int k = 0; k < 3; ++k) {
    const fs::path out = tmp_.path() / "seg" / ("shard-" + std::to_string(k));
    ChildExit r = shard(k, 3, out);
    ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 1) << r.out << r.err;
    EXPECT_FALSE(fs::exists(engine::segment_staging_dir(out))) << "staging left behind";
    auto seg = engine::Segment::open(out);
    ASSERT_TRUE(seg.is_ok()) << seg.status();
    EXPECT_EQ(seg->manifest().shard->to_string(), std::to_string(k) + "/3");
    documents += seg->manifest().count;
    errors += seg->manifest().errors;
    segments.push_back(out.string());
    // Every document of the segment is in this shard.
    auto docs = seg->read();
    ASSERT_TRUE(docs.is_ok()) << docs.status();
    for (const auto& d : *docs) EXPECT_TRUE((engine::ShardSpec{uint32_t(k), 3}.contains(d.id)));
  }
  EXPECT_EQ(documents, 10);
  EXPECT_EQ(errors, 2);  // each bad item reported by exactly one shard

  // A finished shard run again does nothing.
  ChildExit again = shard(0, 3, segments[0]);
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("complete already"), std::string::npos) << again.out;

  const fs::path data = tmp_.path() / "data";
  std::vector<std::string> import = {"import", "--data", data.string(), "--collection", "c",
                                     "--json"};
  import.insert(import.end(), segments.begin(), segments.end());
  ChildExit imported = vista(import);
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  const json summary = json::parse(imported.out);
  EXPECT_EQ(summary["imported"], 3);
  EXPECT_EQ(summary["documents"], 10);
  EXPECT_EQ(summary["count"], 10);

  // Twice: nothing changes.
  ChildExit twice = vista(import);
  ASSERT_EQ(twice.exit_code, 0) << twice.err;
  EXPECT_EQ(json::parse(twice.out)["skipped"], 3);

  auto a = catalog(single), b = catalog(data);
  auto ca = a->get("c"), cb = b->get("c");
  ASSERT_TRUE(ca.is_ok() && cb.is_ok());
  vista::testing::expect_same_documents(**ca, **cb);
}

TEST_F(CliSegmentTest, UsageErrors) {
  ChildExit no_target = vista({"ingest", "--model", model_, src_.string()});
  EXPECT_EQ(no_target.exit_code, 2) << no_target.err;
  ChildExit shard_alone = vista({"ingest", "--data", (tmp_.path() / "d").string(), "--collection",
                                 "c", "--shard", "0/2", "--model", model_, src_.string()});
  EXPECT_EQ(shard_alone.exit_code, 2) << shard_alone.err;
  ChildExit bad_shard = shard(2, 2, tmp_.path() / "s");
  EXPECT_EQ(bad_shard.exit_code, 4) << bad_shard.err;
  EXPECT_NE(bad_shard.err.find("K must be 0..1"), std::string::npos) << bad_shard.err;
  ChildExit not_segment = vista({"import", "--data", (tmp_.path() / "d").string(),
                                 "--collection", "c", src_.string()});
  EXPECT_EQ(not_segment.exit_code, 3) << not_segment.err;
  EXPECT_NE(not_segment.err.find("not a segment"), std::string::npos) << not_segment.err;
}

// kill -9 while the second of two segments is being committed: the first stays, the second is
// wholly absent, and the same command finishes the job without duplicates.
TEST_F(CliSegmentTest, KilledImportFinishesOnRerun) {
  std::vector<std::string> segments;
  std::set<std::string> first_ids, all_ids;
  for (int k = 0; k < 2; ++k) {
    const fs::path out = tmp_.path() / "seg" / ("shard-" + std::to_string(k));
    ChildExit r = shard(k, 2, out);
    ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 1) << r.err;
    segments.push_back(out.string());
    auto docs = engine::Segment::open(out)->read();
    ASSERT_TRUE(docs.is_ok()) << docs.status();
    for (const auto& d : *docs) {
      all_ids.insert(d.id);
      if (k == 0) first_ids.insert(d.id);
    }
  }
  ASSERT_FALSE(first_ids.empty());
  ASSERT_GT(all_ids.size(), first_ids.size());

  const fs::path data = tmp_.path() / "data";
  const fs::path paused = tmp_.path() / "paused";
  std::vector<std::string> args = {vista::testing::vista_binary().string(),
                                   "import", "--data", data.string(), "--collection", "c"};
  args.insert(args.end(), segments.begin(), segments.end());
  auto child = vista::testing::start_child(args, tmp_.path() / "io", "killed",
                                           {{"VISTA_TEST_IMPORT_PAUSE", "2:" + paused.string()}});
  const bool reached = vista::testing::wait_until([&] { return fs::exists(paused); },
                                                  std::chrono::seconds(120));
  if (!reached) kill(child.pid, SIGKILL);
  ASSERT_TRUE(reached) << "the import never reached its second commit: "
                       << vista::testing::read_text_file(child.err);
  ASSERT_EQ(kill(child.pid, SIGKILL), 0);
  ChildExit killed = vista::testing::wait_child(child);
  ASSERT_TRUE(killed.killed_by_signal);
  ASSERT_EQ(killed.signal, SIGKILL);  // it died at the pause point, mid-import

  {
    auto cat = catalog(data);
    auto c = cat->get("c");
    ASSERT_TRUE(c.is_ok()) << c.status();
    const auto ids = (*c)->document_ids();
    EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()), first_ids);
  }

  std::vector<std::string> rerun(args.begin() + 1, args.end());
  ChildExit finished = vista(rerun);
  ASSERT_EQ(finished.exit_code, 0) << finished.err;
  EXPECT_NE(finished.out.find(segments[0] + ": imported before; skipped"), std::string::npos)
      << finished.out;
  auto cat = catalog(data);
  auto c = cat->get("c");
  ASSERT_TRUE(c.is_ok());
  const auto ids = (*c)->document_ids();
  EXPECT_EQ(ids.size(), all_ids.size());
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()), all_ids);
  EXPECT_EQ((*c)->count(), static_cast<int64_t>(all_ids.size()));
}

// A shard killed after encoding everything but before its segment exists: the same command
// finds every document in its staging collection (nothing is encoded again) and writes the
// segment. (A kill in the middle of encoding is the ordinary ingestion case, cli_ingest_test.)
TEST_F(CliSegmentTest, KilledShardResumesFromItsStagingCollection) {
  const fs::path out = tmp_.path() / "seg";
  const fs::path paused = tmp_.path() / "paused";
  auto child = vista::testing::start_child(
      {vista::testing::vista_binary().string(), "ingest", "--shard", "1/2", "--segment-out",
       out.string(), "--model", model_, "--progress", "none", (src_ / "manifest.jsonl").string()},
      tmp_.path() / "io", "killed", {{"VISTA_TEST_SEGMENT_PAUSE", "1:" + paused.string()}});
  const bool reached = vista::testing::wait_until([&] { return fs::exists(paused); },
                                                  std::chrono::seconds(120));
  if (!reached) kill(child.pid, SIGKILL);
  ASSERT_TRUE(reached) << vista::testing::read_text_file(child.err);
  ASSERT_EQ(kill(child.pid, SIGKILL), 0);
  ChildExit killed = vista::testing::wait_child(child);
  ASSERT_TRUE(killed.killed_by_signal && killed.signal == SIGKILL);
  EXPECT_FALSE(fs::exists(out / "segment.json"));
  EXPECT_TRUE(fs::exists(engine::segment_staging_dir(out)));
  EXPECT_EQ(engine::Segment::open(out).status().code(), StatusCode::kNotFound);

  ChildExit resumed = shard(1, 2, out);
  ASSERT_LE(resumed.exit_code, 1) << resumed.err;
  EXPECT_NE(resumed.out.find(" 0 ingested, 0 updated, "), std::string::npos) << resumed.out;
  auto seg = engine::Segment::open(out);
  ASSERT_TRUE(seg.is_ok()) << seg.status();
  EXPECT_GT(seg->manifest().count, 0);
  EXPECT_FALSE(fs::exists(engine::segment_staging_dir(out)));
}

// While `vista serve` holds the data directory, `vista import` goes through it (the one door,
// with the local token, so the segment need not lie under security.image_roots, which this
// server does not set); a REST client without the token may not name a path there.
TEST_F(CliSegmentTest, ImportGoesThroughTheServerHoldingTheDirectory) {
  const fs::path first = tmp_.path() / "seg" / "shard-0";
  const fs::path second = tmp_.path() / "seg" / "shard-1";
  ASSERT_LE(shard(0, 2, first).exit_code, 1);
  ASSERT_LE(shard(1, 2, second).exit_code, 1);
  const int64_t first_count = engine::Segment::open(first)->manifest().count;
  const int64_t second_count = engine::Segment::open(second)->manifest().count;
  ASSERT_GT(first_count, 0);
  ASSERT_GT(second_count, 0);
  const fs::path data = tmp_.path() / "data";
  ChildExit alone = vista({"import", "--data", data.string(), "--collection", "c", first.string()});
  ASSERT_EQ(alone.exit_code, 0) << alone.err;
  EXPECT_EQ(alone.out.find(" through "), std::string::npos) << alone.out;

  const fs::path log = tmp_.path() / "serve.log";
  vista::testing::ServeProcess serve(
      {"serve", "--data", data.string(), "--model", model_, "--port", "0"}, log);
  const int port = serve.wait_for_port();
  ASSERT_GT(port, 0) << vista::testing::read_text_file(log);
  httplib::Client client("127.0.0.1", port);
  auto held = client.Get("/v1/collections/c");  // the server opens the collection
  ASSERT_TRUE(held);
  ASSERT_EQ(held->status, 200) << held->body;

  ChildExit r = vista({"import", "--data", data.string(), "--collection", "c", "--json",
                       second.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json summary = json::parse(r.out);
  EXPECT_EQ(summary["server"], "http://127.0.0.1:" + std::to_string(port)) << r.out;
  EXPECT_EQ(summary["imported"], 1) << r.out;
  EXPECT_EQ(summary["count"], first_count + second_count) << r.out;
  auto info = client.Get("/v1/collections/c");
  ASSERT_TRUE(info);
  EXPECT_EQ(vista::testing::body_json(info)["count"], first_count + second_count);

  // Importing both again changes nothing.
  ChildExit again = vista({"import", "--data", data.string(), "--collection", "c",
                           first.string(), second.string()});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find(first.string() + ": imported before; skipped"), std::string::npos)
      << again.out;
  EXPECT_NE(again.out.find(second.string() + ": imported before; skipped"), std::string::npos)
      << again.out;
  info = client.Get("/v1/collections/c");
  ASSERT_TRUE(info);
  EXPECT_EQ(vista::testing::body_json(info)["count"], first_count + second_count);

  // Without the local token a path needs image roots.
  auto foreign = vista::testing::post_json(client, "/v1/collections/c/import",
                                           {{"segment", second.string()}});
  ASSERT_TRUE(foreign);
  EXPECT_EQ(foreign->status, 403) << foreign->body;
  EXPECT_EQ(serve.signal_and_wait(SIGTERM), 0) << vista::testing::read_text_file(log);
}

TEST_F(CliSegmentTest, SegmentOfAnotherModelIsRefusedNamingBoth) {
  const fs::path out = tmp_.path() / "seg";
  ASSERT_LE(shard(0, 1, out).exit_code, 1);
  const fs::path data = tmp_.path() / "data";
  ASSERT_EQ(vista({"import", "--data", data.string(), "--collection", "c", out.string()}).exit_code,
            0);
  // The same files, claimed by other weights.
  const fs::path other = tmp_.path() / "other";
  fs::copy(out, other);
  std::ifstream in(other / "segment.json");
  json m = json::parse(in);
  in.close();
  const std::string ours = m["model"]["checkpoint_hash"];
  m["model"] = {{"name", "another-model"}, {"checkpoint_hash", "0123456789abcdef"}};
  std::ofstream(other / "segment.json") << m.dump();
  ChildExit r = vista({"import", "--data", data.string(), "--collection", "c", other.string()});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("another-model"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("0123456789abcdef"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(ours), std::string::npos) << r.err;
}

}  // namespace
}  // namespace vista
