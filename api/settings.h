// ServerSettings: everything `vista serve` can be told, in one typed struct.
//
// Sources, later ones winning: the defaults below, the JSON config file (config/server.json is
// the committed, documented default; docs/api.md lists every key), environment variables
// (VISTA_PORT, VISTA_API_KEY, ...: kEnvironmentOverrides), then command-line flags (applied by
// the caller). A key the file does not know, a value of the wrong type or out of range is an
// error naming the key and what was expected: a typo must not silently fall back to a default
// (an API key that is silently ignored would leave the server open).
//
// Thread-safety: plain data; load/validate functions are reentrant.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace vista::api {

// Ids in one POST .../documents/delete (a by-filter delete works in slices of this size).
inline constexpr size_t kMaxIdsPerRequest = 10000;

struct Limits {
  uint64_t max_body_bytes = 32ull << 20;   // whole request body (JSON or multipart) -> 413
  uint64_t max_image_bytes = 16ull << 20;  // one encoded image -> 413
  uint64_t max_image_pixels = 50'000'000;  // width * height from the image header -> 413
  int max_batch_documents = 64;            // documents in one POST .../documents -> 413
  int max_k = 1000;                        // hits per search (1..max_k, at most 1000) -> 422
  int max_text_bytes = 16384;              // UTF-8 bytes of one text -> 413
  int max_thumbnail_size = 1024;           // largest ?size= for document images -> 422
};

struct ServerSettings {
  // Network.
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: an ephemeral port, printed at start
  int http_threads = 16;
  // Accepted connections waiting for a worker; beyond this new connections get 503 at once.
  int max_pending_connections = 64;
  int read_timeout_s = 5;
  int write_timeout_s = 5;
  int keep_alive_timeout_s = 5;
  int keep_alive_max_requests = 100;
  int retry_after_s = 1;  // Retry-After sent with 503
  // Deadlines of one request (api/connection_watch.h): its request line and headers must have
  // arrived this long after the connection opened (or after the previous response on it), its
  // body this long after the headers. A connection past its deadline is closed.
  int request_header_timeout_s = 10;
  int request_body_timeout_s = 60;
  // While connections wait for a worker, one that has been waiting for its headers this long
  // with nothing unread is closed, so that slow or idle clients cannot hold every worker.
  int busy_header_timeout_ms = 1000;
  // After SIGTERM: how long requests in flight may take to finish before they are cut.
  int shutdown_timeout_s = 5;

  // Data and model (command line or environment; not in the file).
  std::filesystem::path data_dir;
  std::optional<std::filesystem::path> model_dir;

  Limits limits;

  // Security. Empty keys: that access level needs no key. With only api_key set, every /v1 call
  // needs it; with read_only_api_key set as well, that key may call the read endpoints.
  std::string api_key;
  std::string read_only_api_key;
  // Host header values (name or name:port) accepted besides the bound address, "localhost" and
  // the loopback addresses; "*" accepts any (behind a reverse proxy that checks Host itself).
  std::vector<std::string> allowed_hosts;
  // Origins (scheme://host[:port]) whose pages may send state-changing requests, besides the
  // server's own; "*" allows any.
  std::vector<std::string> allowed_origins;
  // Folders whose files `image_path` may name; empty: image_path is refused.
  std::vector<std::filesystem::path> image_roots;

  // Encoder and encode queue (engine/encode_queue.h).
  int encoder_threads = 0;  // 0: all cores
  std::string encoder_dtype = "auto";
  std::string encoder_device = "cpu";  // "cpu", "cuda" or "cuda:N"
  int encoder_max_batch = 0;           // 0: the device's usual batch (16 on a CPU, 256 on a GPU)
  int encoder_max_wait_ms = 5;
  int encoder_max_queued = 256;

  // Storage.
  std::string default_index = "Flat";
  bool sync_writes = true;
  uint64_t thumbnail_cache_bytes = 32ull << 20;
};

// The environment variables that override settings, with the key each one sets.
struct EnvironmentOverride {
  std::string_view variable;  // e.g. "VISTA_PORT"
  std::string_view key;       // e.g. "server.port"
};
extern const std::vector<EnvironmentOverride> kEnvironmentOverrides;

// Where `vista serve` looks when --config is not given (relative to the working directory).
inline constexpr const char* kDefaultConfigPath = "config/server.json";

// Applies a JSON config document (the file's text) onto `settings`. InvalidArgument naming the
// key for unknown keys, wrong types and malformed JSON; `origin` names the file in messages.
Status apply_config_json(std::string_view text, std::string_view origin, ServerSettings* settings);

// Reads `path` and applies it. NotFound when the file does not exist.
Status apply_config_file(const std::filesystem::path& path, ServerSettings* settings);

// Applies kEnvironmentOverrides from the process environment. `getenv` is injectable for tests.
Status apply_environment(ServerSettings* settings, const char* (*getenv_fn)(const char*) = nullptr);

// Checks ranges and relations (ports, thread counts, limits, roots exist). InvalidArgument naming
// the key otherwise.
Status validate_settings(const ServerSettings& settings);

}  // namespace vista::api
