// API keys: who may call what.
//
// Two optional keys. With none configured every call is allowed (the server binds 127.0.0.1 by
// default for that reason). With `api_key` set, /v1 calls and /metrics need a key; the read-write
// key may call everything, the read-only key only the read endpoints (GET, search, embed).
// /, /health and /ready never need a key (the page asks for one; probes must work without).
//
// Clients send the key as "Authorization: Bearer <key>" or "X-API-Key: <key>".
//
// Comparison runs in constant time with respect to the presented key: both sides are hashed
// (SHA-256) and the digests are compared with a branch-free loop, so neither the key's content
// nor its length leaks through timing.
//
// Thread-safety: immutable after construction; check() may be called from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vista::api {

// kLocal: only requests carrying the data directory's local token (api/server_advert.h), i.e.
// `vista` commands on the server's machine that can read its data directory.
enum class Access { kPublic, kRead, kWrite, kLocal };

enum class AuthResult { kAllowed, kMissingOrWrongKey, kReadOnlyKey };

class ApiKeys {
 public:
  ApiKeys(const std::string& api_key, const std::string& read_only_api_key);

  bool enabled() const { return write_.has_value(); }

  // `presented`: the key from the request (empty when none was sent).
  AuthResult check(Access needed, std::string_view presented) const;

  using Digest = std::array<uint8_t, 32>;
  static Digest digest(std::string_view key);
  static bool equal(const Digest& a, const Digest& b);

 private:
  std::optional<Digest> write_;
  std::optional<Digest> read_;
};

// The data directory's local token (api/server_advert.h). A request presenting it may call
// every endpoint, whatever the API keys; compared in constant time like the keys.
class LocalToken {
 public:
  explicit LocalToken(std::string_view token);  // empty: nothing matches
  bool matches(std::string_view presented) const;

 private:
  std::optional<std::array<uint8_t, 32>> digest_;
};

// The key a request carries: "Authorization: Bearer <key>" wins over "X-API-Key".
std::string presented_key(std::string_view authorization, std::string_view x_api_key);

}  // namespace vista::api
