// ServerAdvert: how `vista serve` tells the other `vista` commands on the same data directory
// where it is.
//
// RocksDB lets one process at a time open a collection, so while a server holds a data
// directory the CLI must not open it too. Instead, the server writes DATA/server.json (mode
// 0600, atomically) once it listens:
//
//   {"url": "http://127.0.0.1:8080", "pid": 4242, "token": "<64 hex digits>"}
//
// and removes it when it stops. A command that finds the file, a live process with that pid and
// a server answering GET /health at the url sends its work there (cli/server_client.h). The
// token proves that the caller can read the data directory, which is the same trust as opening
// it directly: a request carrying it in the X-Vista-Local-Token header may call everything,
// API keys notwithstanding, including the endpoints that read server-side files by path (local
// ingestion). A leftover file from a killed server names a dead pid (or a port nobody answers)
// and is ignored; the next server overwrites it.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "common/status.h"

namespace vista::api {

inline constexpr const char* kServerAdvertFile = "server.json";
inline constexpr const char* kLocalTokenHeader = "X-Vista-Local-Token";

struct ServerAdvert {
  std::string url;  // "http://127.0.0.1:8080": an address a local client can connect to
  int64_t pid = 0;
  std::string token;
};

// 32 random bytes from the operating system, as hex. IOError when none can be read.
Result<std::string> make_local_token();

// The url a local client should use for a server bound to `host`:`port` (a wildcard address
// becomes the loopback address of its family).
std::string local_url(const std::string& host, int port);

// Writes DATA/server.json atomically with mode 0600. IOError on failure.
Status write_server_advert(const std::filesystem::path& data_dir, const ServerAdvert& advert);

// The advert of a server whose process is alive, or nullopt when there is no file, the file is
// not an advert, or its process is gone. Does not check that the server answers.
std::optional<ServerAdvert> read_server_advert(const std::filesystem::path& data_dir);

// Removes DATA/server.json if it still holds `token` (a newer server's advert is left alone).
void remove_server_advert(const std::filesystem::path& data_dir, const std::string& token);

}  // namespace vista::api
