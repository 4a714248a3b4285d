// Sha256: incremental SHA-256 (OpenSSL) for content hashes and content-derived ids.
//
// Thread-safety: one object per thread; the class holds its own digest context.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vista::engine {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, size_t size);
  void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }
  // A tagged, length-prefixed field: absent, empty and present values all hash differently, and
  // no two sequences of fields share an encoding.
  void update_field(const std::optional<std::string>& field);
  void update_field(const std::string& field) { update_field(std::optional<std::string>(field)); }

  // The digest as 64 lowercase hex digits. The object must not be updated afterwards.
  std::string hex_digest();

 private:
  void* ctx_;  // EVP_MD_CTX
};

}  // namespace vista::engine
