// The api/ building blocks that need no server: settings, base64, API keys, path confinement,
// the Status -> HTTP mapping, metrics text, the image store and thumbnails.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <string>

#include <opencv2/imgcodecs.hpp>

#include "api/auth.h"
#include "api/base64.h"
#include "api/http_errors.h"
#include "api/json_codec.h"
#include "api/metrics.h"
#include "api/path_guard.h"
#include "api/settings.h"
#include "api/thumbnails.h"
#include "tests/test_support.h"

namespace vista::api {
namespace {

namespace fs = std::filesystem;
using vista::testing::TempDir;

void write_file(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out << bytes;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// ---- settings ------------------------------------------------------------------------------

TEST(ApiSettings, CommittedConfigFileEqualsTheBuiltInDefaults) {
  ServerSettings defaults;
  ServerSettings from_file;
  ASSERT_TRUE(
      apply_config_file(vista::testing::source_dir() / "config/server.json", &from_file).is_ok());
  EXPECT_EQ(from_file.host, defaults.host);
  EXPECT_EQ(from_file.port, defaults.port);
  EXPECT_EQ(from_file.http_threads, defaults.http_threads);
  EXPECT_EQ(from_file.max_pending_connections, defaults.max_pending_connections);
  EXPECT_EQ(from_file.limits.max_body_bytes, defaults.limits.max_body_bytes);
  EXPECT_EQ(from_file.limits.max_image_bytes, defaults.limits.max_image_bytes);
  EXPECT_EQ(from_file.limits.max_image_pixels, defaults.limits.max_image_pixels);
  EXPECT_EQ(from_file.limits.max_batch_documents, defaults.limits.max_batch_documents);
  EXPECT_EQ(from_file.limits.max_k, defaults.limits.max_k);
  EXPECT_EQ(from_file.limits.max_text_bytes, defaults.limits.max_text_bytes);
  EXPECT_EQ(from_file.encoder_max_queued, defaults.encoder_max_queued);
  EXPECT_EQ(from_file.encoder_max_batch, defaults.encoder_max_batch);
  EXPECT_EQ(from_file.encoder_device, defaults.encoder_device);
  EXPECT_EQ(from_file.thumbnail_cache_bytes, defaults.thumbnail_cache_bytes);
  EXPECT_EQ(from_file.host, "127.0.0.1");  // never listen on every interface by default
}

TEST(ApiSettings, FileValuesApply) {
  ServerSettings s;
  ASSERT_TRUE(apply_config_json(R"({"server": {"port": 9000, "host": "0.0.0.0"},
                                    "limits": {"max_k": 50},
                                    "security": {"api_key": "k1", "image_roots": ["/tmp"]},
                                    "storage": {"sync_writes": false}})",
                                "test", &s)
                  .is_ok());
  EXPECT_EQ(s.port, 9000);
  EXPECT_EQ(s.host, "0.0.0.0");
  EXPECT_EQ(s.limits.max_k, 50);
  EXPECT_EQ(s.api_key, "k1");
  ASSERT_EQ(s.image_roots.size(), 1u);
  EXPECT_EQ(s.image_roots[0], "/tmp");
  EXPECT_FALSE(s.sync_writes);
}

TEST(ApiSettings, BadFilesNameTheKeyAndChangeNothing) {
  struct Case {
    const char* json;
    const char* expect;
  };
  const Case cases[] = {
      {R"({"server": {"prot": 1}})", "unknown setting 'server.prot'"},
      {R"({"server": {"port": "80"}})", "'server.port' must be an integer"},
      {R"({"server": {"port": 70000}})", "between 0 and 65535"},
      {R"({"server": {"port": -1}})", "between 0 and 65535"},
      {R"({"limits": {"max_k": 1001}})", "'limits.max_k'"},
      {R"({"limits": {"max_k": 1.5}})", "'limits.max_k' must be an integer"},
      {R"({"security": {"image_roots": "/tmp"}})", "array of folder paths"},
      {R"({"storage": {"sync_writes": 1}})", "true or false"},
      {R"({"server": 5})", "section 'server'"},
      {R"([1, 2])", "JSON object of sections"},
      {R"({"server": {)", "not valid JSON"},
  };
  for (const auto& c : cases) {
    ServerSettings s;
    s.port = 1234;
    Status st = apply_config_json(c.json, "cfg.json", &s);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << c.json;
    EXPECT_NE(st.message().find(c.expect), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("cfg.json"), std::string::npos) << st.message();
    EXPECT_EQ(s.port, 1234) << "a failed file must change nothing: " << c.json;
  }
}

TEST(ApiSettings, MissingFileIsNotFound) {
  ServerSettings s;
  EXPECT_EQ(apply_config_file("/nonexistent/server.json", &s).code(), StatusCode::kNotFound);
}

std::map<std::string, std::string> g_env;
const char* fake_getenv(const char* name) {
  auto it = g_env.find(name);
  return it == g_env.end() ? nullptr : it->second.c_str();
}

TEST(ApiSettings, EnvironmentOverridesTheFile) {
  ServerSettings s;
  ASSERT_TRUE(apply_config_json(R"({"server": {"port": 9000}})", "f", &s).is_ok());
  g_env = {{"VISTA_PORT", "0"},
           {"VISTA_API_KEY", "secret"},
           {"VISTA_READ_ONLY_API_KEY", "reader"},
           {"VISTA_IMAGE_ROOTS", "/a:/b"},
           {"VISTA_SYNC_WRITES", "false"},
           {"VISTA_MAX_BODY_BYTES", "2048"}};
  ASSERT_TRUE(apply_environment(&s, fake_getenv).is_ok());
  EXPECT_EQ(s.port, 0);
  EXPECT_EQ(s.api_key, "secret");
  EXPECT_EQ(s.read_only_api_key, "reader");
  EXPECT_EQ(s.image_roots, (std::vector<fs::path>{"/a", "/b"}));
  EXPECT_FALSE(s.sync_writes);
  EXPECT_EQ(s.limits.max_body_bytes, 2048u);

  for (const auto& bad : std::vector<std::pair<std::string, std::string>>{
           {"VISTA_PORT", "80x"}, {"VISTA_PORT", "99999"}, {"VISTA_SYNC_WRITES", "yes"}}) {
    g_env = {bad};
    ServerSettings t;
    Status st = apply_environment(&t, fake_getenv);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << bad.first << "=" << bad.second;
    EXPECT_NE(st.message().find(bad.first), std::string::npos) << st.message();
    EXPECT_EQ(t.port, 8080);
  }
  // Every documented variable names a real key.
  for (const auto& o : kEnvironmentOverrides) {
    g_env = {{std::string(o.variable), "1"}};
    ServerSettings t;
    Status st = apply_environment(&t, fake_getenv);
    EXPECT_EQ(st.message().find("unknown setting"), std::string::npos) << o.variable;
  }
  g_env.clear();
}

TEST(ApiSettings, Validation) {
  TempDir dir;
  ServerSettings s;
  s.data_dir = dir.path();
  EXPECT_TRUE(validate_settings(s).is_ok());
  auto fails = [&](ServerSettings t, const char* what) {
    Status st = validate_settings(t);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << what;
    EXPECT_NE(st.message().find(what), std::string::npos) << st.message();
  };
  ServerSettings t = s;
  t.data_dir.clear();
  fails(t, "--data");
  t = s;
  t.read_only_api_key = "r";
  fails(t, "read_only_api_key");
  t = s;
  t.api_key = t.read_only_api_key = "same";
  fails(t, "are equal");
  t = s;
  t.image_roots = {"relative/dir"};
  fails(t, "absolute");
  t = s;
  t.image_roots = {dir.path() / "missing"};
  fails(t, "existing folder");
  t = s;
  t.encoder_dtype = "fp64";
  fails(t, "encoder.dtype");
  t = s;
  t.encoder_device = "gpu";
  fails(t, "encoder.device");
  t = s;
  t.limits.max_image_bytes = t.limits.max_body_bytes + 1;
  fails(t, "max_image_bytes");
}

// ---- base64 --------------------------------------------------------------------------------

TEST(ApiBase64, RoundTripsEveryLength) {
  std::mt19937 rng(7);
  for (size_t n = 0; n < 70; ++n) {
    std::string bytes(n, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng());
    const std::string text = base64_encode(bytes);
    auto back = base64_decode(text);
    ASSERT_TRUE(back.is_ok()) << n << ": " << back.status();
    EXPECT_EQ(*back, bytes);
  }
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(*base64_decode("Zm9v\nYmE="), "fooba");
  EXPECT_EQ(*base64_decode("data:image/png;base64,Zm9vYg=="), "foob");
}

TEST(ApiBase64, RefusesTruncatedAndMalformedInput) {
  for (const char* bad : {"Zm9vY", "Zm9vYm", "Zm9vYmF", "Zm=v", "Z===", "Zm9v!mFy", "Zm9vYmE=x",
                          "Zh==",  // non-zero unused bits
                          "data:image/png,Zm9v"}) {
    auto r = base64_decode(bad);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  auto r = base64_decode("Zm9vYmF");
  EXPECT_NE(r.status().message().find("truncated"), std::string::npos) << r.status();
}

// ---- API keys ------------------------------------------------------------------------------

TEST(ApiKeys, OffMeansEverythingAllowed) {
  ApiKeys keys("", "");
  EXPECT_FALSE(keys.enabled());
  EXPECT_EQ(keys.check(Access::kWrite, ""), AuthResult::kAllowed);
}

TEST(ApiKeys, ReadWriteAndReadOnly) {
  ApiKeys keys("writer-key", "reader-key");
  EXPECT_EQ(keys.check(Access::kPublic, ""), AuthResult::kAllowed);
  EXPECT_EQ(keys.check(Access::kRead, ""), AuthResult::kMissingOrWrongKey);
  EXPECT_EQ(keys.check(Access::kRead, "writer-ke"), AuthResult::kMissingOrWrongKey);
  EXPECT_EQ(keys.check(Access::kRead, "writer-key "), AuthResult::kMissingOrWrongKey);
  EXPECT_EQ(keys.check(Access::kRead, "writer-key"), AuthResult::kAllowed);
  EXPECT_EQ(keys.check(Access::kWrite, "writer-key"), AuthResult::kAllowed);
  EXPECT_EQ(keys.check(Access::kRead, "reader-key"), AuthResult::kAllowed);
  EXPECT_EQ(keys.check(Access::kWrite, "reader-key"), AuthResult::kReadOnlyKey);
  ApiKeys write_only("w", "");
  EXPECT_EQ(write_only.check(Access::kRead, ""), AuthResult::kMissingOrWrongKey);
  EXPECT_EQ(write_only.check(Access::kRead, "w"), AuthResult::kAllowed);
}

TEST(ApiKeys, PresentedKey) {
  EXPECT_EQ(presented_key("Bearer abc", ""), "abc");
  EXPECT_EQ(presented_key("bearer abc", "x"), "abc");
  EXPECT_EQ(presented_key("", "xyz"), "xyz");
  EXPECT_EQ(presented_key("Basic Zm9v", "xyz"), "xyz");
  EXPECT_EQ(presented_key("", ""), "");
}

// ---- path confinement ----------------------------------------------------------------------

class PathGuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root = fs::canonical(dir.path()) / "root";
    outside = fs::canonical(dir.path()) / "outside";
    write_file(root / "a.jpg", "inside");
    write_file(root / "sub/b.jpg", "deeper");
    write_file(outside / "secret.jpg", "secret");
    fs::create_symlink(outside / "secret.jpg", root / "link_out.jpg");
    fs::create_symlink(root / "a.jpg", root / "link_in.jpg");
    fs::create_directory_symlink(outside, root / "dir_out");
    auto g = PathGuard::create({root});
    ASSERT_TRUE(g.is_ok()) << g.status();
    guard.emplace(std::move(g).value());
  }
  TempDir dir;
  fs::path root, outside;
  std::optional<PathGuard> guard;
};

TEST_F(PathGuardTest, ReadsFilesInsideTheRoot) {
  auto f = guard->read((root / "sub/b.jpg").string(), 1 << 20);
  ASSERT_TRUE(f.is_ok()) << f.status();
  EXPECT_EQ(f->bytes, "deeper");
  EXPECT_EQ(f->canonical_path, root / "sub/b.jpg");
  // A symlink that stays inside the root is fine; the canonical target is recorded.
  auto l = guard->read((root / "link_in.jpg").string(), 1 << 20);
  ASSERT_TRUE(l.is_ok()) << l.status();
  EXPECT_EQ(l->canonical_path, root / "a.jpg");
}

TEST_F(PathGuardTest, RefusesEscapes) {
  const std::vector<std::string> escapes = {
      (root / "../outside/secret.jpg").string(),
      (root / "sub/../a.jpg").string(),  // ".." is refused even when it stays inside
      (outside / "secret.jpg").string(),
      (root / "link_out.jpg").string(),
      (root / "dir_out/secret.jpg").string(),
      "/etc/passwd",
      root.string() + "x/a.jpg",  // a sibling whose name starts like the root
  };
  for (const auto& p : escapes) {
    auto f = guard->read(p, 1 << 20);
    EXPECT_EQ(f.status().code(), StatusCode::kPermissionDenied) << p << ": " << f.status();
  }
}

TEST_F(PathGuardTest, OtherFailures) {
  EXPECT_EQ(guard->read((root / "missing.jpg").string(), 100).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(guard->read("a.jpg", 100).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(guard->read((root / "sub").string(), 100).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(guard->read((root / "a.jpg").string(), 3).status().code(),
            StatusCode::kResourceExhausted);
  auto off = PathGuard::create({});
  ASSERT_TRUE(off.is_ok());
  EXPECT_EQ(off->read((root / "a.jpg").string(), 100).status().code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(PathGuard::create({root / "nope"}).status().code(), StatusCode::kInvalidArgument);
}

// ---- errors --------------------------------------------------------------------------------

TEST(ApiErrors, StatusMapping) {
  struct Case {
    Status status;
    bool client_image;
    int http;
    const char* code;
  };
  const Case cases[] = {
      {Status::invalid_argument("x"), false, 422, "invalid_argument"},
      {Status::not_found("x"), false, 404, "not_found"},
      {Status::already_exists("x"), false, 409, "conflict"},
      {Status::failed_precondition("x"), false, 409, "conflict"},
      {Status::unsupported("x"), true, 415, "unsupported_media_type"},
      {Status::resource_exhausted("image is 9 pixels"), true, 413, "too_large"},
      // The subcode decides, not the text: a full queue is 503 whatever its message says.
      {Status::resource_exhausted("queue of 256 inputs", StatusSubCode::kQueueFull), false, 503,
       "overloaded"},
      {Status::resource_exhausted("encode queue full, says a size limit"), false, 413, "too_large"},
      {Status::cancelled("x"), false, 503, "overloaded"},
      {Status::unauthenticated("x"), false, 401, "unauthenticated"},
      {Status::permission_denied("x"), false, 403, "permission_denied"},
      {Status::corruption("image file is truncated"), true, 422, "invalid_argument"},
      {Status::corruption("/data/c/rocksdb: bad block"), false, 500, "internal"},
      {Status::io_error("/data/x: disk full"), false, 500, "internal"},
      {Status::internal("invariant"), false, 500, "internal"},
  };
  for (const auto& c : cases) {
    ErrorContext ctx;
    ctx.client_image = c.client_image;
    ctx.retry_after_s = 7;
    ApiError e = status_to_error(c.status, ctx, "test");
    EXPECT_EQ(e.http_status, c.http) << c.status;
    EXPECT_EQ(e.code, c.code) << c.status;
    EXPECT_EQ(e.retry_after_s.has_value(), c.http == 503) << c.status;
    if (c.http == 503) {
      EXPECT_EQ(*e.retry_after_s, 7);
    }
    if (c.http == 500) {
      EXPECT_EQ(e.message.find("/data"), std::string::npos) << "internals leaked: " << e.message;
    }
  }
}

// ---- metrics -------------------------------------------------------------------------------

TEST(ApiMetrics, PrometheusText) {
  Metrics m;
  m.observe_request("/v1/collections/{name}/search", "POST", 200, 0.003);
  m.observe_request("/v1/collections/{name}/search", "POST", 200, 0.2);
  m.observe_request("/v1/collections/{name}/search", "POST", 503, 0.0001);
  m.connection_rejected();
  engine::EncodeQueueStats q;
  q.batches = 3;
  q.items = 7;
  q.queued = 2;
  q.batch_sizes = {0, 1, 1, 0, 1};  // one batch each of 1, 2 and 4 inputs
  q.encode_seconds_total = 0.5;
  const std::string text = m.render(&q, {{"photos", 12}, {"we\"ird", 1}});
  auto has = [&](const std::string& line) {
    EXPECT_NE(text.find(line), std::string::npos) << "missing: " << line << "\n" << text;
  };
  const std::string labels =
      "route=\"/v1/collections/{name}/search\",method=\"POST\",status=\"200\"";
  has("vista_http_requests_total{" + labels + "} 2\n");
  has("vista_http_request_duration_seconds_bucket{" + labels + ",le=\"0.001\"} 0\n");
  has("vista_http_request_duration_seconds_bucket{" + labels + ",le=\"0.005\"} 1\n");
  has("vista_http_request_duration_seconds_bucket{" + labels + ",le=\"0.25\"} 2\n");
  has("vista_http_request_duration_seconds_bucket{" + labels + ",le=\"+Inf\"} 2\n");
  has("vista_http_request_duration_seconds_count{" + labels + "} 2\n");
  has("status=\"503\"} 1\n");
  has("vista_http_connections_rejected_total 1\n");
  has("vista_encoder_batch_size_bucket{le=\"1\"} 1\n");
  has("vista_encoder_batch_size_bucket{le=\"2\"} 2\n");
  has("vista_encoder_batch_size_bucket{le=\"4\"} 3\n");
  has("vista_encoder_batch_size_sum 7\n");
  has("vista_encoder_batch_size_count 3\n");
  has("vista_encoder_batch_duration_seconds_sum 0.5\n");
  has("vista_encoder_queue_depth 2\n");
  has("vista_collection_documents{collection=\"photos\"} 12\n");
  has("vista_collection_documents{collection=\"we\\\"ird\"} 1\n");
  // Every sample line is "name{labels} value" or "name value"; comments start with '#'.
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    EXPECT_NE(line.rfind(' '), std::string::npos) << line;
    EXPECT_EQ(line.rfind("vista_", 0), 0u) << line;
  }
}

// ---- thumbnails ----------------------------------------------------------------------------

TEST(ApiThumbnails, ScalesDownKeepsAspectNeverEnlarges) {
  VISTA_REQUIRE_GOLDEN();
  const auto images = vista::testing::golden_dir() / "images";
  struct Case {
    const char* file;
    int size;
    int want_w, want_h;
  };
  const Case cases[] = {
      {"cir_candi_1.png", 64, 64, 48},         // 640x480 RGB
      {"edge/wide_1000x20.jpg", 100, 100, 2},  // extreme aspect
      {"edge/tiny_5x3.jpg", 64, 5, 3},         // never enlarged
      {"edge/gray_alpha_LA.png", 32, -1, -1},  // modes: any size, must decode
      {"edge/cmyk.jpg", 32, -1, -1},          {"edge/anim.gif", 32, -1, -1},
      {"edge/rgb16.png", 32, -1, -1},         {"edge/palette_P.png", 32, -1, -1},
  };
  for (const auto& c : cases) {
    const std::string bytes = read_file(images / c.file);
    auto thumb = make_thumbnail(bytes, c.size, {});
    ASSERT_TRUE(thumb.is_ok()) << c.file << ": " << thumb.status();
    cv::Mat m = cv::imdecode(std::vector<uchar>(thumb->begin(), thumb->end()), cv::IMREAD_COLOR);
    ASSERT_FALSE(m.empty()) << c.file;
    EXPECT_LE(std::max(m.cols, m.rows), c.size) << c.file;
    if (c.want_w > 0) {
      EXPECT_EQ(m.cols, c.want_w) << c.file;
      EXPECT_EQ(m.rows, c.want_h) << c.file;
    }
  }
  EXPECT_EQ(make_thumbnail(read_file(images / "edge/bad_truncated.jpg"), 32, {}).status().code(),
            StatusCode::kCorruption);
  EXPECT_EQ(make_thumbnail("not an image at all", 32, {}).status().code(),
            StatusCode::kUnsupported);
  encoder::DecodeLimits small;
  small.max_pixels = 1000;
  EXPECT_EQ(make_thumbnail(read_file(images / "cir_candi_1.png"), 32, small).status().code(),
            StatusCode::kResourceExhausted);
}

TEST(ApiThumbnails, CacheIsBoundedLru) {
  ThumbnailCache cache(100);
  cache.put("a", std::string(40, 'a'));
  cache.put("b", std::string(40, 'b'));
  EXPECT_TRUE(cache.get("a").has_value());  // a is now the most recent
  cache.put("c", std::string(40, 'c'));     // evicts b
  EXPECT_TRUE(cache.get("a").has_value());
  EXPECT_FALSE(cache.get("b").has_value());
  EXPECT_TRUE(cache.get("c").has_value());
  cache.put("huge", std::string(500, 'h'));  // larger than the cache: not kept
  EXPECT_FALSE(cache.get("huge").has_value());
  EXPECT_EQ(cache.hits(), 3);
  EXPECT_EQ(cache.misses(), 2);
}

// ---- path segments -------------------------------------------------------------------------

TEST(ApiJson, PathSegments) {
  EXPECT_EQ(encode_path_segment("cats/tom 1.jpg"), "cats%2Ftom%201.jpg");
  std::string out;
  ASSERT_TRUE(decode_path_segment("cats%2Ftom%201.jpg", &out));
  EXPECT_EQ(out, "cats/tom 1.jpg");
  EXPECT_FALSE(decode_path_segment("bad%2", &out));
  EXPECT_FALSE(decode_path_segment("bad%zz", &out));
  EXPECT_FALSE(decode_path_segment("%", &out));
}

TEST(ApiJson, DepthAndShapeChecks) {
  std::string deep(200, '[');
  deep += std::string(200, ']');
  try {
    parse_json(deep, "body");
    FAIL() << "deep JSON accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.http_status, 400);
    EXPECT_NE(e.message.find("nested"), std::string::npos);
  }
  nlohmann::json j = {{"k", "ten"}, {"extra", 1}};
  ObjectReader r(j, "search");
  try {
    r.integer("k");
    FAIL() << "string accepted as integer";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.http_status, 400);
    EXPECT_NE(e.message.find("search.k must be an integer"), std::string::npos) << e.message;
  }
  try {
    r.finish();
    FAIL() << "unknown field accepted";
  } catch (const ApiError& e) {
    EXPECT_NE(e.message.find("'extra'"), std::string::npos) << e.message;
  }
}

}  // namespace
}  // namespace vista::api
