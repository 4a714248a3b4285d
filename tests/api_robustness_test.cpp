// What a client sends must never crash, exhaust or brick the server: each hole found by trying
// (index specs FAISS crashes on, a broken collection taking the others down, unbounded chunked
// bodies, slow clients, shutdown held by a client, two servers on one port, cross-origin writes,
// ids that cannot be addressed) against a real server on 127.0.0.1.
#include <gtest/gtest.h>

#include <rocksdb/write_batch.h>

#include <atomic>
#include <future>

#include "engine/store.h"
#include "tests/api_test_util.h"

namespace vista::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

void ensure_collection(httplib::Client& c, const std::string& collection) {
  auto r = post_json(c, "/v1/collections", {{"name", collection}});
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->status == 201 || r->status == 409) << r->body;
}

void create_collection(httplib::Client& c, const std::string& name, const std::string& spec) {
  auto r = post_json(c, "/v1/collections", {{"name", name}, {"index", spec}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201) << r->body;
}

json add_texts(httplib::Client& c, const std::string& collection,
               const std::vector<std::string>& texts) {
  ensure_collection(c, collection);
  json docs = json::array();
  for (const auto& t : texts) docs.push_back({{"id", t}, {"text", t}});
  auto r = post_json(c, "/v1/collections/" + collection + "/documents", {{"documents", docs}});
  EXPECT_TRUE(r);
  if (!r) return nullptr;
  EXPECT_EQ(r->status, 200) << r->body;
  return body_json(r);
}

// Every test runs against the tiny golden model in its own data directory.
class ApiRobustnessTest : public ::testing::Test {
 protected:
  void SetUp() override { VISTA_REQUIRE_GOLDEN(); }
  TempDir tmp_;
  const api::ServerSettings base_settings_ = test_settings(tmp_.path() / "data");
};

// Specs that crashed, aborted, hung or exhausted the process get a 422 naming the parameter and
// its range, leave nothing on disk, and the server (and a restart) keeps serving.
TEST_F(ApiRobustnessTest, DangerousIndexSpecsAreRefusedWith422) {
  const auto& settings = base_settings_;
  {
    TestServer server(settings);
    ASSERT_TRUE(server.ok());
    auto c = server.client();
    const std::pair<const char*, const char*> cases[] = {
        {"HNSW0", "HNSW M (links per node) must be 4..128"},
        {"HNSW1", "HNSW M (links per node) must be 4..128"},
        {"IVF0,Flat", "IVF nlist (inverted lists) must be 1..16384"},
        {"IVF100000000,Flat", "IVF nlist (inverted lists) must be 1..16384"},
        {"NSG32", "not a supported index"},
        {"PQ5", "PQ m must divide the dimension"},
    };
    for (const auto& [spec, names] : cases) {
      auto r = post_json(*c, "/v1/collections", {{"name", "c"}, {"index", spec}});
      ASSERT_TRUE(r) << spec;
      EXPECT_EQ(r->status, 422) << spec << ": " << r->body;
      EXPECT_EQ(error_code(r), "invalid_argument") << r->body;
      EXPECT_NE(body_json(r)["error"]["message"].get<std::string>().find(names), std::string::npos)
          << r->body;
      EXPECT_FALSE(fs::exists(settings.data_dir / "c")) << spec;
    }
    ASSERT_NO_FATAL_FAILURE(create_collection(*c, "c", "HNSW16"));
    add_texts(*c, "c", {"one", "two", "three"});
  }
  TestServer again(settings);
  ASSERT_TRUE(again.ok());
  auto r = again.client()->Get("/v1/collections/c");
  ASSERT_TRUE(r);
  EXPECT_EQ(body_json(r)["count"], 3) << r->body;
}

// Replaces the index spec a collection recorded, as an older version that accepted anything would
// have left it.
void set_recorded_spec(const fs::path& collection_dir, const std::string& spec) {
  engine::StoreOptions so;
  auto store = engine::Store::open(collection_dir / "rocksdb", so);
  ASSERT_TRUE(store.is_ok()) << store.status();
  std::string value;
  ASSERT_TRUE((*store)->get(engine::Family::kMeta, "config", &value).is_ok());
  json config = json::parse(value);
  config["index_spec"] = spec;
  rocksdb::WriteBatch batch;
  batch.Put((*store)->handle(engine::Family::kMeta), "config", config.dump());
  ASSERT_TRUE((*store)->write(&batch).is_ok());
}

// A collection that cannot be opened (an old HNSW0 spec, damaged RocksDB files) is reported as
// failed, with the reason, in the list and in /ready; the others are served; it can be dropped.
TEST_F(ApiRobustnessTest, OneBrokenCollectionNeverTakesDownTheOthers) {
  const auto& settings = base_settings_;
  {
    TestServer server(settings);
    ASSERT_TRUE(server.ok());
    auto c = server.client();
    for (const char* name : {"good", "oldspec", "damaged"}) {
      ASSERT_NO_FATAL_FAILURE(create_collection(*c, name, "HNSW16"));
      add_texts(*c, name, {"a cat", "a dog"});
    }
  }
  set_recorded_spec(settings.data_dir / "oldspec", "HNSW0");
  {
    std::ofstream current(settings.data_dir / "damaged" / "rocksdb" / "CURRENT",
                          std::ios::trunc | std::ios::binary);
    current << "garbage-manifest-name\n";
  }
  TestServer server(settings);
  ASSERT_TRUE(server.ok());
  auto c = server.client();

  auto list = c->Get("/v1/collections");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->status, 200) << list->body;
  std::map<std::string, json> by_name;
  const json listed = body_json(list);
  for (const auto& e : listed["collections"]) by_name[e["name"].get<std::string>()] = e;
  ASSERT_EQ(by_name.size(), 3u) << list->body;
  EXPECT_EQ(by_name["good"]["state"], "ready");
  EXPECT_EQ(by_name["oldspec"]["state"], "failed");
  EXPECT_NE(by_name["oldspec"]["error"].get<std::string>().find("HNSW M"), std::string::npos)
      << list->body;
  EXPECT_EQ(by_name["damaged"]["state"], "failed");

  auto ready = c->Get("/ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  EXPECT_EQ(body_json(ready)["status"], "degraded");
  EXPECT_EQ(body_json(ready)["failed_collections"].size(), 2u) << ready->body;

  auto hits = post_json(*c, "/v1/collections/good/search", {{"text", "a cat"}, {"k", 2}});
  ASSERT_TRUE(hits);
  EXPECT_EQ(hits->status, 200) << hits->body;
  EXPECT_EQ(body_json(hits)["hits"].size(), 2u);
  add_texts(*c, "good", {"a bird"});

  auto failed = c->Get("/v1/collections/oldspec");
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->status, 409) << failed->body;
  auto writes = post_json(*c, "/v1/collections/oldspec/documents",
                          {{"documents", json::array({{{"text", "x"}}})}});
  ASSERT_TRUE(writes);
  EXPECT_EQ(writes->status, 409) << writes->body;

  auto dropped = c->Delete("/v1/collections/oldspec");
  ASSERT_TRUE(dropped);
  EXPECT_EQ(dropped->status, 200) << dropped->body;
  EXPECT_FALSE(fs::exists(settings.data_dir / "oldspec"));
  list = c->Get("/v1/collections");
  EXPECT_EQ(body_json(list)["collections"].size(), 2u) << list->body;
}

// Sends `head` and then `body` in `chunk`-byte HTTP chunks; returns the whole response.
std::string send_chunked(int port, const std::string& head, const std::string& body,
                         size_t chunk = 64 * 1024) {
  std::string wire = head;
  for (size_t off = 0; off < body.size(); off += chunk) {
    const size_t n = std::min(chunk, body.size() - off);
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", n);
    wire += size + body.substr(off, n) + "\r\n";
  }
  wire += "0\r\n\r\n";
  return raw_exchange(port, wire, 20000);
}

int status_of(const std::string& response) {
  if (response.rfind("HTTP/1.1 ", 0) != 0) return -1;
  return std::stoi(response.substr(9, 3));
}

// The body limit holds for chunked bodies and multipart forms, not only for Content-Length.
TEST_F(ApiRobustnessTest, BodyLimitHoldsForEveryFraming) {
  auto settings = base_settings_;
  settings.limits.max_body_bytes = 1 << 20;
  settings.limits.max_image_bytes = 256 << 10;
  TestServer server(settings);
  ASSERT_TRUE(server.ok());
  ensure_collection(*server.client(), "c");
  const std::string head =
      "POST /v1/collections/c/documents HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  // 2 MiB, chunked: refused, and nothing stored.
  const std::string big =
      json{{"documents", json::array({{{"id", "big"}, {"text", std::string(2 << 20, 'x')}}})}}
          .dump();
  std::string r = send_chunked(server.port(), head, big);
  EXPECT_EQ(status_of(r), 413) << r.substr(0, 300);
  EXPECT_NE(r.find("limits.max_body_bytes"), std::string::npos) << r.substr(0, 300);
  // A small chunked body is accepted as before.
  const std::string small =
      json{{"documents", json::array({{{"id", "small"}, {"text", "a chunked document"}}})}}.dump();
  r = send_chunked(server.port(), head, small, 7);
  EXPECT_EQ(status_of(r), 200) << r;
  auto c = server.client();
  auto got = c->Get("/v1/collections/c/documents/big");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 404);
  got = c->Get("/v1/collections/c/documents/small");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 200);

  // Multipart: a chunked form is refused (its part headers would be unbounded); a form with a
  // Content-Length beyond the limit gets 413.
  const std::string boundary = "XyZ";
  const std::string form = "--" + boundary +
                           "\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\n" +
                           std::string(2 << 20, 'y') + "\r\n--" + boundary + "--\r\n";
  r = send_chunked(server.port(),
                   "POST /v1/collections/c/documents HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Content-Type: multipart/form-data; boundary=" +
                       boundary + "\r\nTransfer-Encoding: chunked\r\n\r\n",
                   form);
  EXPECT_EQ(status_of(r), 411) << r.substr(0, 300);
  httplib::MultipartFormDataItems items = {{"text", std::string(2 << 20, 'y'), "", ""}};
  auto multi = c->Post("/v1/collections/c/documents", items);
  ASSERT_TRUE(multi);
  EXPECT_EQ(multi->status, 413) << multi->body;
  // A request without a body where one could be (PUT with no framing) is routed, not read.
  r = raw_exchange(server.port(), "PUT /v1/collections HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  EXPECT_EQ(status_of(r), 405) << r;
}

// Connections that drip their headers are closed at their deadline (and at once while others
// wait for a worker), so they cannot hold the workers: /health is answered while they drip.
TEST_F(ApiRobustnessTest, SlowClientsCannotStarveTheWorkers) {
  auto settings = base_settings_;
  settings.http_threads = 4;
  settings.request_header_timeout_s = 2;
  settings.busy_header_timeout_ms = 300;
  TestServer server(settings);
  ASSERT_TRUE(server.ok());
  constexpr int kDrippers = 12;
  std::atomic<bool> done{false};
  std::atomic<int> cut{0};
  std::vector<std::thread> drippers;
  for (int i = 0; i < kDrippers; ++i) {
    drippers.emplace_back([&, port = server.port()] {
      const int fd = connect_local(port);
      if (fd < 0) return;
      std::string line = "GET /health HTTP/1.1\r\n";
      while (!done) {
        if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) <= 0) {
          ++cut;
          break;
        }
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 200) > 0) {  // the server closed (or answered: it never should)
          char b[64];
          if (::recv(fd, b, sizeof b, 0) <= 0) {
            ++cut;
            break;
          }
        }
        line = "X-Drip: x\r\n";
      }
      ::close(fd);
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto c = server.client();
  c->set_read_timeout(15, 0);
  auto health = c->Get("/health");
  done = true;
  for (auto& t : drippers) t.join();
  ASSERT_TRUE(health) << "no answer while slow clients held the workers";
  EXPECT_EQ(health->status, 200);
  EXPECT_GT(cut.load(), 0) << "no slow connection was closed";
}

// After stop (SIGTERM), /ready answers 503 to new connections, and a client dripping its body
// is cut at the shutdown deadline instead of holding the process.
TEST_F(ApiRobustnessTest, ShutdownHasADeadline) {
  auto settings = base_settings_;
  settings.shutdown_timeout_s = 3;
  settings.request_body_timeout_s = 600;
  auto server = std::make_unique<TestServer>(settings);
  ASSERT_TRUE(server->ok());
  const int port = server->port();
  add_texts(*server->client(), "c", {"kept"});

  const int fd = connect_local(port);
  ASSERT_GE(fd, 0);
  const std::string head =
      "POST /v1/collections/c/documents HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{";
  ASSERT_EQ(::send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  std::atomic<bool> dripper_cut{false};
  std::thread dripper([&] {
    for (int i = 0; i < 600 && !dripper_cut; ++i) {
      if (::send(fd, " ", 1, MSG_NOSIGNAL) <= 0) dripper_cut = true;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) > 0) {
        char b[512];
        if (::recv(fd, b, sizeof b, 0) <= 0) dripper_cut = true;
      }
    }
  });
  // A request whose body arrives within the deadline completes.
  std::string finisher_reply;
  std::thread finisher([&] {
    const std::string body = R"({"documents":[{"id":"late","text":"sent slowly"}]})";
    const std::string req = "POST /v1/collections/c/documents HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                            "Content-Type: application/json\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n";
    const int f = connect_local(port);
    if (f < 0) return;
    ::send(f, req.data(), req.size(), MSG_NOSIGNAL);
    for (size_t i = 0; i < body.size(); ++i) {
      ::send(f, body.data() + i, 1, MSG_NOSIGNAL);
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    char b[4096];
    for (;;) {
      pollfd p{f, POLLIN, 0};
      if (::poll(&p, 1, 20000) <= 0) break;
      const ssize_t n = ::recv(f, b, sizeof b, 0);
      if (n <= 0) break;
      finisher_reply.append(b, static_cast<size_t>(n));
      if (finisher_reply.find("\"results\"") != std::string::npos) break;
    }
    ::close(f);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto stopped = std::async(std::launch::async, [&] { server->shutdown(); });
  bool saw_503 = false;
  for (int i = 0; i < 200 && !saw_503; ++i) {
    const std::string r = raw_exchange(port, "GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    saw_503 = status_of(r) == 503;
    if (!saw_503) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(saw_503) << "/ready never answered 503 during the shutdown";
  ASSERT_EQ(stopped.wait_for(std::chrono::seconds(60)), std::future_status::ready)
      << "the dripping client held the shutdown";
  dripper.join();
  finisher.join();
  ::close(fd);
  EXPECT_TRUE(dripper_cut.load());
  EXPECT_EQ(status_of(finisher_reply), 200) << finisher_reply;
  server.reset();
  TestServer again(settings);
  ASSERT_TRUE(again.ok());
  for (const char* id : {"kept", "late"}) {
    auto got = again.client()->Get(std::string("/v1/collections/c/documents/") + id);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->status, 200) << id;
  }
}

// One server per port and per data directory, each refusal naming what is taken.
TEST_F(ApiRobustnessTest, PortAndDataDirectoryInUseAreStartErrors) {
  auto settings = test_settings(tmp_.path() / "a");
  TestServer first(settings);
  ASSERT_TRUE(first.ok());

  auto same_dir = api::ApiServer::create(settings);
  ASSERT_FALSE(same_dir.is_ok());
  EXPECT_EQ(same_dir.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(same_dir.status().message().find("already served"), std::string::npos)
      << same_dir.status();

  auto other = test_settings(tmp_.path() / "b");
  other.model_dir.reset();
  other.port = first.port();
  auto second = api::ApiServer::create(other);
  ASSERT_TRUE(second.is_ok()) << second.status();
  auto bound = (*second)->bind();
  ASSERT_FALSE(bound.is_ok());
  EXPECT_NE(bound.status().message().find("port " + std::to_string(first.port())),
            std::string::npos)
      << bound.status();
  EXPECT_NE(bound.status().message().find("already in use"), std::string::npos) << bound.status();
}

// Pages of other sites cannot write (foreign Origin) and rebinding names cannot reach the
// server (foreign Host); the server's own page, and configured names, can.
TEST_F(ApiRobustnessTest, BrowserSafeByDefault) {
  auto settings = base_settings_;
  settings.allowed_hosts = {"vista.example"};
  settings.allowed_origins = {"https://app.example"};
  TestServer server(settings);
  ASSERT_TRUE(server.ok());
  auto c = server.client();
  ensure_collection(*c, "c");
  const std::string self = "http://127.0.0.1:" + std::to_string(server.port());

  auto r =
      post_json(*c, "/v1/collections", {{"name", "evil"}}, {{"Origin", "http://evil.example"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403) << r->body;
  httplib::MultipartFormDataItems form = {{"text", "written by another site", "", ""}};
  r = c->Post("/v1/collections/c/documents", {{"Origin", "http://evil.example"}}, form);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403) << r->body;
  r = c->Delete("/v1/collections/c", {{"Origin", "null"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403) << r->body;

  r = c->Post("/v1/collections/c/documents", {{"Origin", self}}, form);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  r = c->Post("/v1/collections/c/documents", {{"Origin", "https://app.example"}}, form);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;

  std::string raw =
      raw_exchange(server.port(), "GET /v1/collections HTTP/1.1\r\nHost: evil.example\r\n\r\n");
  EXPECT_EQ(status_of(raw), 403) << raw;
  raw = raw_exchange(server.port(),
                     "GET /v1/collections HTTP/1.1\r\nHost: vista.example:8080\r\n\r\n");
  EXPECT_EQ(status_of(raw), 200) << raw;
  raw = raw_exchange(server.port(), "GET /v1/collections HTTP/1.1\r\nHost: localhost:1\r\n\r\n");
  EXPECT_EQ(status_of(raw), 200) << raw;
  EXPECT_EQ(body_json(c->Get("/v1/collections"))["collections"].size(), 1u);
}

// Ids that could never be addressed in a URL are refused with the caller's id in the result;
// other odd ids are addressable through the percent-encoded URLs the server returns.
TEST_F(ApiRobustnessTest, EveryStoredIdIsAddressable) {
  TestServer server(base_settings_);
  ASSERT_TRUE(server.ok());
  auto c = server.client();
  ensure_collection(*c, "c");
  json docs = json::array();
  const std::vector<std::string> bad = {"a\nb",    "a\rb",      ".", "..", std::string("nul\0x", 5),
                                        "del\x7f", "c1\xc2\x85"};
  for (const auto& id : bad) docs.push_back({{"id", id}, {"text", "t"}});
  docs.push_back(
      {{"id", "dir/pic 1?#%"}, {"text", "t"}, {"image", golden_image_b64("datawhale02.png")}});
  docs.push_back({{"id", "bad-text"}, {"text", 5}});
  auto r = post_json(*c, "/v1/collections/c/documents", {{"documents", docs}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json results = body_json(r)["results"];
  for (size_t i = 0; i < bad.size(); ++i) {
    EXPECT_EQ(results[i]["status"], "failed") << i;
    EXPECT_EQ(results[i]["error"]["code"], "invalid_argument") << results[i];
    EXPECT_EQ(results[i]["id"], bad[i]) << results[i];
  }
  EXPECT_EQ(results[bad.size()]["status"], "inserted") << results;
  EXPECT_EQ(results[bad.size() + 1]["id"], "bad-text") << results;

  auto got = c->Get("/v1/collections/c/documents/dir%2Fpic%201%3F%23%25");
  ASSERT_TRUE(got);
  ASSERT_EQ(got->status, 200) << got->body;
  const std::string image = body_json(got)["image"];
  EXPECT_EQ(image, "/v1/collections/c/documents/dir%2Fpic%201%3F%23%25/image");
  auto pic = c->Get(image);
  ASSERT_TRUE(pic);
  EXPECT_EQ(pic->status, 200);
  auto del = c->Delete("/v1/collections/c/documents/dir%2Fpic%201%3F%23%25");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200) << del->body;
}

// Listing while other clients create and delete collections never fails.
TEST_F(ApiRobustnessTest, ListingRacesWithDeletes) {
  TestServer server(base_settings_);
  ASSERT_TRUE(server.ok());
  std::atomic<bool> done{false};
  std::thread churn([&] {
    auto c = server.client();
    for (int i = 0; i < 40; ++i) {
      const std::string name = "tmp" + std::to_string(i % 4);
      post_json(*c, "/v1/collections", {{"name", name}});
      c->Delete(("/v1/collections/" + name).c_str());
    }
    done = true;
  });
  auto c = server.client();
  int lists = 0;
  while (!done || lists < 5) {
    auto r = c->Get("/v1/collections");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    ++lists;
  }
  churn.join();
}

}  // namespace
}  // namespace vista::testing
