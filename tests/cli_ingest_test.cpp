// The `vista` binary end to end: ingest, search, collections, delete; exit codes; an ingest
// killed with SIGKILL and run again ends with the same collection as an uninterrupted one.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "tests/child_process.h"
#include "tests/test_support.h"

namespace vista {
namespace {

namespace fs = std::filesystem;
using vista::testing::golden_dir;
using vista::testing::TempDir;

struct CliRun {
  int exit_code = -1;
  std::string out, err;
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}

// Starts `vista args...` with stdout/stderr going to files in `io_dir`; `pause_at` sets the
// test pause point (common/test_pause.h) the run stops at.
pid_t spawn(const std::vector<std::string>& args, const fs::path& io_dir,
            const std::string& pause_at = "") {
  std::vector<std::string> argv = {vista::testing::vista_binary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  vista::testing::ChildEnv env = {{"VISTA_MODEL", std::nullopt}};
  if (!pause_at.empty()) env.push_back({"VISTA_TEST_PAUSE", pause_at});
  return vista::testing::start_child_with_files(argv, io_dir / "stdout", io_dir / "stderr", env)
      .pid;
}

// Waits until the run started by spawn() stops at its pause point; false when it exits first or
// does not get there in time.
bool wait_for_pause(pid_t pid, const fs::path& io_dir, const std::string& point) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    if (read_file(io_dir / "stderr").find("vista: paused at " + point + "\n") != std::string::npos)
      return true;
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

CliRun finish(pid_t pid, const fs::path& io_dir) {
  CliRun r;
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(io_dir / "stdout");
  r.err = read_file(io_dir / "stderr");
  return r;
}

class CliIngestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    VISTA_REQUIRE_GOLDEN();
    VISTA_REQUIRE_VISTA_BINARY();
    data_ = tmp_.path() / "data";
    model_ = (golden_dir() / "tiny-model").string();
  }

  CliRun vista(const std::vector<std::string>& args) {
    fs::path io = tmp_.path() / ("io" + std::to_string(runs_++));
    fs::create_directories(io);
    return finish(spawn(args, io), io);
  }

  CliRun ingest(const std::string& collection, std::vector<std::string> sources,
                std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"ingest",   "--data",  data_.string(), "--collection",
                                     collection, "--model", model_};
    args.insert(args.end(), extra.begin(), extra.end());
    args.insert(args.end(), sources.begin(), sources.end());
    return vista(args);
  }

  nlohmann::json search_json(const std::string& collection, std::vector<std::string> query) {
    std::vector<std::string> args = {"search",   "--data",  data_.string(), "--collection",
                                     collection, "--model", model_,         "--json"};
    args.insert(args.end(), query.begin(), query.end());
    CliRun r = vista(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    try {
      return nlohmann::json::parse(r.out);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not JSON: " << r.out << " / " << r.err;
      return {};
    }
  }

  void copy_images(const fs::path& dir, const std::vector<std::string>& names) {
    fs::create_directories(dir);
    for (const auto& n : names)
      fs::copy_file(golden_dir() / "images" / n, dir / fs::path(n).filename());
  }

  TempDir tmp_;
  fs::path data_;
  std::string model_;
  int runs_ = 0;
};

TEST_F(CliIngestTest, IngestsAFolderReportsFailuresAndFindsEachImage) {
  fs::path src = tmp_.path() / "src";
  copy_images(src, {"cir_candi_1.png", "datawhale02.png", "edge/gray_L.png", "edge/tiny_5x3.jpg",
                    "edge/bad_truncated.jpg"});
  write_file(src / ".hidden.png", "hidden");
  write_file(src / "readme.txt", "not an image");
  fs::path errors = tmp_.path() / "errors.jsonl";

  CliRun r = ingest("pics", {src.string()}, {"--errors", errors.string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;  // one item failed
  EXPECT_NE(r.out.find("4 ingested"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 failed"), std::string::npos) << r.out;
  auto report = read_file(errors);
  EXPECT_NE(report.find("bad_truncated.jpg"), std::string::npos) << report;
  EXPECT_EQ(std::count(report.begin(), report.end(), '\n'), 1);
  auto line = nlohmann::json::parse(report.substr(0, report.find('\n')));
  EXPECT_TRUE(line["reason"].is_string());

  for (const std::string name :
       {"cir_candi_1.png", "datawhale02.png", "gray_L.png", "tiny_5x3.jpg"}) {
    auto j = search_json("pics", {"--image", (src / name).string(), "--k", "2"});
    ASSERT_TRUE(j.contains("hits")) << j;
    ASSERT_EQ(j["hits"].size(), 2u) << j;
    EXPECT_EQ(j["hits"][0]["id"], name);
    EXPECT_GE(j["hits"][0]["score"].get<double>(), 0.999);
    EXPECT_TRUE(j["hits"][0]["metadata"].is_object());
    EXPECT_TRUE(j["took_ms"].is_number());
  }

  // Nothing new on a second run (the broken file still fails).
  CliRun again = ingest("pics", {src.string()});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.out.find("0 ingested, 0 updated, 4 unchanged, 1 failed"), std::string::npos)
      << again.out;

  CliRun table = vista({"search", "--data", data_.string(), "--collection", "pics", "--model",
                        model_, "--image", (src / "gray_L.png").string(), "--k", "3"});
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_TRUE(std::regex_search(table.out, std::regex("\\n1 +gray_L\\.png +(1\\.0000|0\\.99)")))
      << table.out;

  CliRun list = vista({"collections", "--data", data_.string()});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_TRUE(std::regex_search(list.out, std::regex("pics +4 +96"))) << list.out;

  CliRun del =
      vista({"delete", "--data", data_.string(), "--collection", "pics", "gray_L.png", "nope"});
  EXPECT_EQ(del.exit_code, 1) << del.err;  // one id did not exist
  EXPECT_NE(del.out.find("removed 1"), std::string::npos) << del.out;
  CliRun json_list = vista({"collections", "--data", data_.string(), "--json"});
  // The REST shape of GET /v1/collections.
  auto listed = nlohmann::json::parse(json_list.out)["collections"];
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["name"], "pics");
  EXPECT_EQ(listed[0]["count"], 3);
  EXPECT_EQ(listed[0]["dim"], 96);
  EXPECT_EQ(listed[0]["metric"], "inner_product");
  EXPECT_GT(listed[0]["created_at_ms"].get<int64_t>(), 0);
}

TEST_F(CliIngestTest, ManifestMetadataComesBackAndFiltersWork) {
  fs::path src = tmp_.path() / "m";
  copy_images(src / "img", {"dragon03.png", "datawhale01.png", "wiki_candi_2.jpg"});
  write_file(
      src / "manifest.jsonl",
      R"({"id": "dragon", "image": "img/dragon03.png", "text": "a dragon", "metadata": {"category": "animal", "year": 2003}}
{"id": "whale", "image": "img/datawhale01.png", "text": "a whale logo", "metadata": {"category": "logo", "year": 2019}}
{"id": "wiki", "image": "img/wiki_candi_2.jpg", "metadata": {"category": "photo", "year": 2010}}
{"id": "words", "text": "a dragon story", "metadata": {"category": "animal", "year": 1990}}
)");
  write_file(src / "extra.csv", "id,text,category,year\ncsv1,\"a whale, swimming\",animal,2021\n");
  CliRun r = ingest("m", {(src / "manifest.jsonl").string(), (src / "extra.csv").string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("5 ingested"), std::string::npos) << r.out;

  auto all = search_json("m", {"--text", "a dragon story", "--k", "10"});
  ASSERT_EQ(all["hits"].size(), 5u) << all;
  EXPECT_EQ(all["hits"][0]["id"], "words");
  std::map<std::string, nlohmann::json> meta;
  for (const auto& h : all["hits"]) meta[h["id"]] = h["metadata"];
  EXPECT_EQ(meta["dragon"], nlohmann::json({{"category", "animal"}, {"year", 2003}}));
  EXPECT_EQ(meta["csv1"], nlohmann::json({{"category", "animal"}, {"year", 2021}}));

  auto animals = search_json("m", {"--text", "dragon", "--k", "10", "--filter",
                                   R"({"category": "animal", "year": {"$gte": 2000}})"});
  std::set<std::string> ids;
  for (const auto& h : animals["hits"]) ids.insert(h["id"]);
  EXPECT_EQ(ids, (std::set<std::string>{"dragon", "csv1"})) << animals;

  auto composed = search_json(
      "m", {"--text", "a dragon", "--image", (src / "img" / "dragon03.png").string(), "--k", "1"});
  EXPECT_EQ(composed["hits"][0]["id"], "dragon") << composed;
  EXPECT_GE(composed["hits"][0]["score"].get<double>(), 0.999);

  auto like = search_json("m", {"--id", "whale", "--k", "10"});
  EXPECT_EQ(like["hits"].size(), 4u);

  CliRun bad_filter = vista({"search", "--data", data_.string(), "--collection", "m", "--model",
                             model_, "--text", "x", "--filter", R"({"year": {"$gt": "soon"}})"});
  EXPECT_EQ(bad_filter.exit_code, 4) << bad_filter.err;
  EXPECT_NE(bad_filter.err.find("filter.year"), std::string::npos) << bad_filter.err;
}

TEST_F(CliIngestTest, UsageAndSetupErrorsHaveDocumentedExitCodes) {
  CliRun no_query = vista({"search", "--data", data_.string(), "--collection", "x"});
  EXPECT_EQ(no_query.exit_code, 2) << no_query.err;  // usage errors are 2 everywhere
  CliRun both =
      vista({"search", "--data", data_.string(), "--collection", "x", "--id", "a", "--text", "b"});
  EXPECT_EQ(both.exit_code, 2) << both.err;
  CliRun no_writes = vista({"ingest", "--data", data_.string(), "--collection", "x",
                            "--write-batch", "0", tmp_.path().string()});
  EXPECT_EQ(no_writes.exit_code, 2) << no_writes.err;
  CliRun missing_data = vista({"collections", "--data", (tmp_.path() / "nowhere").string()});
  EXPECT_EQ(missing_data.exit_code, 3) << missing_data.err;

  fs::path src = tmp_.path() / "one";
  copy_images(src, {"edge/tiny_1x1.png"});
  CliRun no_model = vista({"ingest", "--data", data_.string(), "--collection", "c", "--model",
                           (tmp_.path() / "no-model").string(), src.string()});
  EXPECT_EQ(no_model.exit_code, 3) << no_model.err;
  EXPECT_NE(no_model.err.find("scripts/fetch-model.sh"), std::string::npos) << no_model.err;
  CliRun no_source = ingest("c", {(tmp_.path() / "absent").string()});
  EXPECT_EQ(no_source.exit_code, 3) << no_source.err;
}

// $VISTA_MODEL stands in for every --model, and every --dtype takes auto.
TEST_F(CliIngestTest, EveryModelCommandTakesVistaModelAndDtypeAuto) {
  ::setenv("VISTA_MODEL", model_.c_str(), 1);
  const std::string image = (golden_dir() / "images" / "dragon03.png").string();
  vista::testing::VistaRun embed = vista::testing::run_vista("embed --text 'blue whale' --dtype auto");
  vista::testing::VistaRun compare = vista::testing::run_vista(
      "compare --image '" + image + "' --image '" + image + "' --text dragon --dtype auto --json");
  vista::testing::VistaRun tokenize = vista::testing::run_vista("tokenize --text 'blue whale'");
  ::unsetenv("VISTA_MODEL");
  EXPECT_EQ(embed.exit_code, 0) << embed.err;
  EXPECT_EQ(nlohmann::json::parse(embed.out)["dim"], 96) << embed.out;
  EXPECT_EQ(compare.exit_code, 0) << compare.err;
  EXPECT_EQ(tokenize.exit_code, 0) << tokenize.err;
  EXPECT_NE(tokenize.out.find("\"ids\""), std::string::npos) << tokenize.out;
}

// Failures are named in the summary and written to a report in the data directory; an empty
// source creates nothing; an index spec that conflicts with the collection's is an error.
TEST_F(CliIngestTest, ReportsFailuresEmptySourcesAndSpecConflicts) {
  fs::path src = tmp_.path() / "r";
  copy_images(src, {"cir_candi_1.png", "edge/bad_truncated.jpg"});
  CliRun r = ingest("rep", {src.string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("bad_truncated.jpg"), std::string::npos) << r.out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("every failure is listed in (\\S+)")))
      << r.out;
  const fs::path report = m[1].str();
  EXPECT_EQ(report.parent_path(), data_ / "reports");
  const std::string lines = read_file(report);
  EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 1) << lines;
  EXPECT_NE(lines.find("bad_truncated.jpg"), std::string::npos) << lines;

  fs::create_directories(tmp_.path() / "empty");
  CliRun empty = ingest("nothing", {(tmp_.path() / "empty").string()});
  EXPECT_EQ(empty.exit_code, 0) << empty.err;
  EXPECT_NE(empty.err.find("nothing to ingest"), std::string::npos) << empty.err;
  EXPECT_FALSE(fs::exists(data_ / "nothing"));

  CliRun conflict = ingest("rep", {src.string()}, {"--index", "HNSW32"});
  EXPECT_EQ(conflict.exit_code, 4) << conflict.err;
  EXPECT_NE(conflict.err.find("'Flat'"), std::string::npos) << conflict.err;
  EXPECT_NE(conflict.err.find("'HNSW32'"), std::string::npos) << conflict.err;
}

// The acceptance test for resumability across a crash: SIGKILL in the middle, run again.
TEST_F(CliIngestTest, KilledIngestRerunsToTheSameCollection) {
  fs::path src = tmp_.path() / "many";
  // Many small, distinct images (the same picture under 40 names is still 40 documents).
  const std::vector<std::string> pics = {"edge/tiny_5x3.jpg", "edge/upscale_100x80.jpg",
                                         "edge/palette_P.png", "edge/tiny_1x1.png"};
  std::vector<std::string> ids;
  for (int i = 0; i < 40; ++i) {
    const auto& p = pics[i % pics.size()];
    auto name = "img" + std::to_string(i) + fs::path(p).extension().string();
    fs::create_directories(src);
    fs::copy_file(golden_dir() / "images" / p, src / name);
    ids.push_back(name);
  }
  fs::path reference_data = tmp_.path() / "reference";
  CliRun full = vista({"ingest", "--data", reference_data.string(), "--collection", "c", "--model",
                       model_, src.string()});
  ASSERT_EQ(full.exit_code, 0) << full.err;

  // The run stops (test pause point) right after committing its first write, of one document
  // (--write-batch 1), and is killed there: the interruption is certain, falls between two
  // commits, and leaves 39 documents to the rerun however fast the images were prepared.
  fs::path io = tmp_.path() / "killed";
  fs::create_directories(io);
  pid_t pid = spawn({"ingest", "--data", data_.string(), "--collection", "c", "--model", model_,
                     "--batch", "1", "--write-batch", "1", src.string()},
                    io, "ingest-batch-committed");
  const bool paused = wait_for_pause(pid, io, "ingest-batch-committed");
  kill(pid, SIGKILL);
  const CliRun killed = finish(pid, io);
  ASSERT_TRUE(paused) << killed.out << killed.err;
  ASSERT_EQ(killed.exit_code, 128 + SIGKILL);

  CliRun rest = ingest("c", {src.string()});
  ASSERT_EQ(rest.exit_code, 0) << rest.out << rest.err;
  // What the killed run had committed is kept and not redone; the rest is added.
  EXPECT_NE(rest.out.find(" 39 ingested, 0 updated, 1 unchanged"), std::string::npos) << rest.out;

  auto open_plain = [](const fs::path& dir) {
    engine::EngineOptions o;
    o.data_dir = dir;
    return engine::Engine::open(o);
  };
  auto a = open_plain(reference_data);
  auto b = open_plain(data_);
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  auto ca = (*a)->catalog().get("c");
  auto cb = (*b)->catalog().get("c");
  ASSERT_TRUE(ca.is_ok() && cb.is_ok());
  EXPECT_EQ((*ca)->count(), 40);
  EXPECT_EQ((*cb)->count(), 40);
  auto da = (*ca)->get(ids, true);
  auto db = (*cb)->get(ids, true);
  ASSERT_TRUE(da.is_ok() && db.is_ok());
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSERT_TRUE((*da)[i] && (*db)[i]) << ids[i];
    EXPECT_EQ((*da)[i]->content_hash, (*db)[i]->content_hash) << ids[i];
    ASSERT_EQ((*da)[i]->vector.size(), (*db)[i]->vector.size());
    for (size_t k = 0; k < (*da)[i]->vector.size(); ++k)
      ASSERT_NEAR((*da)[i]->vector[k], (*db)[i]->vector[k], 1e-5) << ids[i];
  }
}

// SIGTERM (like Ctrl-C) stops after the current batch, keeps what was done and says so. The run
// waits at a test pause point after its first commit until the signal has been handled.
TEST_F(CliIngestTest, TerminatedIngestStopsCleanly) {
  fs::path src = tmp_.path() / "term";
  fs::create_directories(src);
  for (int i = 0; i < 40; ++i)
    fs::copy_file(golden_dir() / "images" / "cir_candi_1.png",
                  src / ("p" + std::to_string(i) + ".png"));
  fs::path io = tmp_.path() / "term-io";
  fs::create_directories(io);
  pid_t pid = spawn({"ingest", "--data", data_.string(), "--collection", "t", "--model", model_,
                     "--batch", "1", "--write-batch", "1", "--progress", "bar", src.string()},
                    io, "ingest-batch-committed");
  const bool paused = wait_for_pause(pid, io, "ingest-batch-committed");
  kill(pid, SIGTERM);
  CliRun r = finish(pid, io);
  ASSERT_TRUE(paused) << r.out << r.err;
  EXPECT_EQ(r.exit_code, 130) << r.out << r.err;
  EXPECT_NE(r.out.find("interrupted 't'"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("run the same command again"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("stopping after the current batch"), std::string::npos) << r.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("holds ([0-9]+) documents"))) << r.out;
  const int kept = std::stoi(m[1]);
  EXPECT_GE(kept, 1);
  CliRun rest = ingest("t", {src.string()});
  EXPECT_EQ(rest.exit_code, 0) << rest.err;
  EXPECT_NE(rest.out.find(std::to_string(kept) + " unchanged"), std::string::npos) << rest.out;
  EXPECT_NE(rest.out.find("holds 40 documents"), std::string::npos) << rest.out;
}

}  // namespace
}  // namespace vista
