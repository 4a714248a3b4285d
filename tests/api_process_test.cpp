// `vista serve` as a real process: acknowledged documents survive SIGKILL, SIGTERM/SIGINT stop
// gracefully (exit 0, index snapshot written), settings come from the config file and the
// environment.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <set>
#include <thread>

#include "engine/engine.h"
#include "tests/api_test_util.h"

namespace vista::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<std::string> serve_args(const fs::path& data) {
  return {"serve",
          "--data",
          data.string(),
          "--model",
          tiny_model().string(),
          "--port",
          "0",
          "--config",
          (source_dir() / "config/server.json").string(),
          "--threads",
          "2"};
}

std::string log_of(const fs::path& log) {
  return read_bytes(log);
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

// Each test starts `vista serve` with the tiny golden model on a data directory of its own and
// keeps the server's log for its failure messages.
class ApiProcessTest : public ::testing::Test {
 protected:
  void SetUp() override { VISTA_REQUIRE_GOLDEN(); }
  TempDir dir_;
  const fs::path data_ = dir_.path() / "data";
  const fs::path log_ = dir_.path() / "serve.log";
};

TEST_F(ApiProcessTest, AcknowledgedDocumentsSurviveKillAndRestart) {
  std::vector<std::string> acknowledged;
  const std::string photo = golden_image("datawhale02.png");
  {
    ServeProcess serve(serve_args(data_), log_);
    const int port = serve.wait_for_port();
    ASSERT_GT(port, 0) << log_of(log_);
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60, 0);
    auto r = post_json(c, "/v1/collections", {{"name", "durable"}});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 201) << r->body;
    for (int batch = 0; batch < 4; ++batch) {
      json docs = json::array();
      for (int i = 0; i < 5; ++i) {
        const std::string id = "b" + std::to_string(batch) + "-" + std::to_string(i);
        docs.push_back({{"id", id}, {"text", "note " + id}, {"metadata", {{"batch", batch}}}});
      }
      if (batch == 2) docs.push_back({{"id", "pic"}, {"image", api::base64_encode(photo)}});
      r = post_json(c, "/v1/collections/durable/documents", {{"documents", docs}});
      ASSERT_TRUE(r);
      ASSERT_EQ(r->status, 200) << r->body;
      const json answer = body_json(r);
      for (const auto& item : answer["results"]) {
        ASSERT_EQ(item["status"], "inserted") << item;
        acknowledged.push_back(item["id"]);
      }
    }
    // No graceful stop: the index snapshot is never written.
    EXPECT_EQ(serve.signal_and_wait(SIGKILL), 128 + SIGKILL);
  }
  ASSERT_EQ(acknowledged.size(), 21u);

  ::setenv("VISTA_API_KEY", "restart-key", 1);
  ServeProcess serve(serve_args(data_), log_);
  ::unsetenv("VISTA_API_KEY");
  const int port = serve.wait_for_port();
  ASSERT_GT(port, 0) << log_of(log_);
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(60, 0);
  // The key from the environment is in force.
  auto denied = c.Get("/v1/collections/durable");
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 401);
  c.set_bearer_token_auth("restart-key");

  auto info = c.Get("/v1/collections/durable");
  ASSERT_TRUE(info);
  EXPECT_EQ(body_json(info)["count"], 21) << info->body;
  for (const auto& id : acknowledged) {
    auto got = c.Get(("/v1/collections/durable/documents/" + id).c_str());
    ASSERT_TRUE(got);
    EXPECT_EQ(got->status, 200) << id;
  }
  auto img = c.Get("/v1/collections/durable/documents/pic/image");
  ASSERT_TRUE(img);
  ASSERT_EQ(img->status, 200);
  EXPECT_TRUE(img->body == photo);
  // The index was rebuilt from the store: searches find the documents.
  auto r = post_json(c, "/v1/collections/durable/search", {{"text", "note b3-4"}, {"k", 1}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(body_json(r)["hits"][0]["id"], "b3-4");

  // A graceful stop writes the snapshot and exits 0.
  EXPECT_EQ(serve.signal_and_wait(SIGTERM), 0) << log_of(log_);
  bool snapshot = false;
  for (const auto& f : fs::directory_iterator(data_ / "durable" / "index"))
    snapshot |= f.path().extension() == ".faiss";
  EXPECT_TRUE(snapshot);
}

// Waits until `log` shows that the server reached the test pause point `name`.
bool wait_for_pause(const fs::path& log, const std::string& name, int timeout_s = 120) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    if (log_of(log).find("vista: paused at " + name + "\n") != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// Sets the pause-point variables for the processes started while it lives.
struct PauseAt {
  PauseAt(const std::string& point, const fs::path& resume_file = {}) {
    ::setenv("VISTA_TEST_PAUSE", point.c_str(), 1);
    if (!resume_file.empty()) ::setenv("VISTA_TEST_PAUSE_RESUME", resume_file.c_str(), 1);
  }
  ~PauseAt() {
    ::unsetenv("VISTA_TEST_PAUSE");
    ::unsetenv("VISTA_TEST_PAUSE_RESUME");
  }
};

// The request is held inside the engine (a test pause point after encoding, before the commit)
// while SIGINT arrives, so it is certainly in flight; it is let go only once the server is seen
// draining (new connections get /ready 503). The shutdown deadline is raised so that a slow
// machine cannot turn the wait into a cut.
TEST_F(ApiProcessTest, SigintFinishesTheRequestInFlight) {
  const fs::path resume = dir_.path() / "resume";
  std::optional<ServeProcess> serve;
  {
    PauseAt pause("images-stored", resume);
    ::setenv("VISTA_SHUTDOWN_TIMEOUT_S", "300", 1);
    serve.emplace(serve_args(data_), log_);
    ::unsetenv("VISTA_SHUTDOWN_TIMEOUT_S");
  }
  const int port = serve->wait_for_port();
  ASSERT_GT(port, 0) << log_of(log_);
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(60, 0);
  ASSERT_EQ(post_json(c, "/v1/collections", {{"name", "inflight"}})->status, 201);
  json docs = json::array();
  for (int i = 0; i < 8; ++i)
    docs.push_back({{"id", "d" + std::to_string(i)},
                    {"image", golden_image_b64("cir_candi_1.png")},
                    {"text", "caption " + std::to_string(i)}});
  int status = -1;
  json answer;
  std::thread writer([&] {
    httplib::Client w("127.0.0.1", port);
    w.set_read_timeout(120, 0);
    auto r = post_json(w, "/v1/collections/inflight/documents", {{"documents", docs}});
    if (r) {
      status = r->status;
      answer = body_json(r);
    }
  });
  const bool in_flight = wait_for_pause(log_, "images-stored");
  if (!in_flight) write_file(resume, "");  // let the writer finish before failing
  ASSERT_TRUE(in_flight) << "the request never reached the engine: " << log_of(log_);
  ASSERT_EQ(::kill(serve->pid(), SIGINT), 0);
  // The server drains: new connections are told it is not ready; the request is still held.
  httplib::Client late("127.0.0.1", port);
  late.set_connection_timeout(1, 0);
  bool draining = false;
  for (int i = 0; i < 600 && !draining; ++i) {
    auto ready = late.Get("/ready");
    draining = ready && ready->status == 503;
    if (!draining) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  write_file(resume, "");
  const int code = serve->signal_and_wait(0, 120);
  writer.join();
  EXPECT_TRUE(draining) << log_of(log_);
  EXPECT_EQ(status, 200) << "the request in flight was cut off: " << answer;
  EXPECT_EQ(code, 0) << log_of(log_);
  EXPECT_EQ(answer["inserted"], 8);
  // Nothing is accepted after the stop.
  EXPECT_FALSE(late.Get("/health"));
}

// Stored images (the uploaded bytes) that a crash leaves without a document naming them are
// removed when the data directory is opened again: an upload killed between storing its image
// and committing its document, and a replacement killed between its commit and unlinking the
// image it replaced.
TEST_F(ApiProcessTest, ImagesOrphanedByAKillAreSweptAtOpen) {
  auto blobs = [&] {
    std::set<std::string> names;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(data_ / "_images", ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      if (it->is_regular_file() && it->path().filename().string().rfind(".tmp-", 0) != 0)
        names.insert(it->path().filename().string());
    return names;
  };
  auto upload = [&](int port, const std::string& picture) {
    httplib::Client w("127.0.0.1", port);
    w.set_read_timeout(120, 0);
    (void)post_json(
        w, "/v1/collections/pics/documents",
        {{"documents", json::array({{{"id", "pic"}, {"image", golden_image_b64(picture)}}})}});
  };
  auto open_plain = [&] {
    engine::EngineOptions o;
    o.data_dir = data_;
    return engine::Engine::open(o);
  };
  const std::string first = engine::ImageStore::blob_name("pic", golden_image("datawhale02.png"));
  const std::string second = engine::ImageStore::blob_name("pic", golden_image("cir_candi_1.png"));

  // 1. Killed after the image is stored, before the document is committed.
  {
    std::optional<ServeProcess> serve;
    {
      PauseAt pause("images-stored");
      serve.emplace(serve_args(data_), log_);
    }
    const int port = serve->wait_for_port();
    ASSERT_GT(port, 0) << log_of(log_);
    httplib::Client c("127.0.0.1", port);
    ASSERT_EQ(post_json(c, "/v1/collections", {{"name", "pics"}})->status, 201);
    std::thread writer([&] { upload(port, "datawhale02.png"); });
    const bool paused = wait_for_pause(log_, "images-stored");
    EXPECT_EQ(serve->signal_and_wait(SIGKILL), 128 + SIGKILL);
    writer.join();
    ASSERT_TRUE(paused) << log_of(log_);
  }
  EXPECT_EQ(blobs(), std::set<std::string>{first});
  {
    auto engine = open_plain();
    ASSERT_TRUE(engine.is_ok()) << engine.status();
    EXPECT_TRUE(blobs().empty());
    EXPECT_EQ((*(*engine)->catalog().get("pics"))->count(), 0);
  }

  // 2. A stored document's image replaced; killed after the commit, before the old image goes.
  {
    ServeProcess serve(serve_args(data_), log_);
    const int port = serve.wait_for_port();
    ASSERT_GT(port, 0) << log_of(log_);
    upload(port, "datawhale02.png");
    EXPECT_EQ(blobs(), std::set<std::string>{first});
    EXPECT_EQ(serve.signal_and_wait(SIGTERM), 0) << log_of(log_);
  }
  {
    std::optional<ServeProcess> serve;
    {
      PauseAt pause("documents-committed");
      serve.emplace(serve_args(data_), log_);
    }
    const int port = serve->wait_for_port();
    ASSERT_GT(port, 0) << log_of(log_);
    std::thread writer([&] { upload(port, "cir_candi_1.png"); });
    const bool paused = wait_for_pause(log_, "documents-committed");
    EXPECT_EQ(serve->signal_and_wait(SIGKILL), 128 + SIGKILL);
    writer.join();
    ASSERT_TRUE(paused) << log_of(log_);
  }
  EXPECT_EQ(blobs(), (std::set<std::string>{first, second}));
  auto engine = open_plain();
  ASSERT_TRUE(engine.is_ok()) << engine.status();
  EXPECT_EQ(blobs(), std::set<std::string>{second});
  auto got = (*(*engine)->catalog().get("pics"))->get({"pic"});
  ASSERT_TRUE(got.is_ok() && (*got)[0]);
  EXPECT_EQ((*got)[0]->source, engine::ImageStore::source_for(second));
}

TEST_F(ApiProcessTest, BadSettingsFailAtStart) {
  {
    std::ofstream cfg(dir_.path() / "bad.json");
    cfg << R"({"server": {"porrt": 1}})";
  }
  ServeProcess serve({"serve", "--data", (dir_.path() / "d").string(), "--config",
                      (dir_.path() / "bad.json").string()},
                     log_);
  EXPECT_EQ(serve.wait_for_port(30), -1);
  EXPECT_EQ(serve.signal_and_wait(0, 30), 4);
  EXPECT_NE(log_of(log_).find("unknown setting 'server.porrt'"), std::string::npos) << log_of(log_);
}

// One door to a data directory: while `vista serve` holds it, every CLI command goes through the
// server (DATA/server.json), during live REST traffic, without losing or duplicating documents.
TEST_F(ApiProcessTest, CliCommandsGoThroughARunningServer) {
  const fs::path pics = dir_.path() / "pics";
  fs::create_directories(pics);
  const std::vector<std::string> names = {"cir_candi_1.png", "datawhale01.png", "dragon02.png",
                                          "dragon03.png", "wiki_candi_2.jpg"};
  for (const auto& n : names) fs::copy_file(golden_dir() / "images" / n, pics / n);
  const std::string d = "--data '" + data_.string() + "'";
  const std::string m = "--model '" + tiny_model().string() + "'";

  ServeProcess serve(serve_args(data_), log_);
  const int port = serve.wait_for_port();
  ASSERT_GT(port, 0) << log_of(log_);
  ASSERT_TRUE(fs::exists(data_ / "server.json"));

  // Live traffic: a REST client adds documents one by one and searches, all along.
  std::atomic<bool> stop{false};
  std::vector<std::string> acknowledged;
  std::atomic<int> searches{0};
  std::thread traffic([&] {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60, 0);
    auto created = post_json(c, "/v1/collections", {{"name", "live"}});
    if (!created || created->status != 201) return;
    for (int i = 0; !stop; ++i) {
      const std::string id = "t" + std::to_string(i);
      auto r = post_json(c, "/v1/collections/live/documents",
                         {{"documents", {{{"id", id}, {"text", "note " + id}}}}});
      if (r && r->status == 200) acknowledged.push_back(id);
      auto s = post_json(c, "/v1/collections/live/search", {{"text", "note"}, {"k", 3}});
      if (s && s->status == 200) ++searches;
    }
  });

  VistaRun ingest = run_vista("ingest " + d + " --collection pics " + m + " '" + pics.string() + "'");
  EXPECT_EQ(ingest.exit_code, 0) << ingest.out << ingest.err;
  EXPECT_NE(ingest.out.find("5 ingested"), std::string::npos) << ingest.out;
  EXPECT_NE(ingest.err.find("a server holds"), std::string::npos) << ingest.err;

  VistaRun search = run_vista("search " + d + " --collection pics " + m +
                              " --image '" + (pics / "dragon03.png").string() + "' --k 2 --json");
  ASSERT_EQ(search.exit_code, 0) << search.err;
  json hits = json::parse(search.out)["hits"];
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0]["id"], "dragon03.png");
  // Thumbnails by default: the server returns the picture a local ingest indexed.
  EXPECT_TRUE(hits[0]["image"].is_string()) << hits[0];

  VistaRun listed = run_vista("collections " + d + " --json");
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(json::parse(listed.out)["collections"].size(), 2u) << listed.out;

  VistaRun del = run_vista("delete " + d + " --collection pics dragon02.png nope --json");
  EXPECT_EQ(del.exit_code, 1) << del.err;  // one id did not exist
  EXPECT_EQ(json::parse(del.out), json({{"deleted", 1}, {"missing", {"nope"}}})) << del.out;

  // Page through the live collection while it grows.
  std::vector<std::string> paged;
  VistaRun page = run_vista("documents " + d + " --collection live --limit 3 --all --json");
  ASSERT_EQ(page.exit_code, 0) << page.err;
  const json paged_docs = json::parse(page.out)["documents"];
  for (const auto& doc : paged_docs) paged.push_back(doc["id"]);
  stop = true;
  traffic.join();
  EXPECT_GT(searches.load(), 0);
  ASSERT_FALSE(acknowledged.empty());

  // Nothing lost, nothing twice: every page during the writes held distinct ids, and the final
  // listing is exactly the acknowledged documents.
  std::set<std::string> unique_paged(paged.begin(), paged.end());
  EXPECT_FALSE(paged.empty());
  EXPECT_EQ(unique_paged.size(), paged.size());
  VistaRun all = run_vista("documents " + d + " --collection live --limit 7 --all --json");
  ASSERT_EQ(all.exit_code, 0) << all.err;
  std::vector<std::string> final_ids;
  const json final_docs = json::parse(all.out)["documents"];
  for (const auto& doc : final_docs) final_ids.push_back(doc["id"]);
  std::vector<std::string> expected = acknowledged;
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(final_ids, expected);
  VistaRun count = run_vista("documents " + d + " --collection pics --count");
  EXPECT_EQ(count.out, "4\n") << count.err;

  VistaRun drop = run_vista("drop " + d + " --collection live");
  EXPECT_EQ(drop.exit_code, 0) << drop.err;
  // The server saw every change made through the CLI.
  httplib::Client c("127.0.0.1", port);
  auto info = c.Get("/v1/collections/pics");
  ASSERT_TRUE(info);
  EXPECT_EQ(body_json(info)["count"], 4);
  EXPECT_EQ(c.Get("/v1/collections/live")->status, 404);

  EXPECT_EQ(serve.signal_and_wait(SIGTERM), 0) << log_of(log_);
  EXPECT_FALSE(fs::exists(data_ / "server.json"));
  // Without a server the same command opens the directory itself.
  VistaRun direct = run_vista("documents " + d + " --collection pics --count");
  EXPECT_EQ(direct.out, "4\n") << direct.err;
  EXPECT_EQ(direct.err.find("a server holds"), std::string::npos) << direct.err;
}

}  // namespace
}  // namespace vista::testing
