#include "api/auth.h"

#include <openssl/sha.h>

namespace vista::api {

ApiKeys::ApiKeys(const std::string& api_key, const std::string& read_only_api_key) {
  if (!api_key.empty()) write_ = digest(api_key);
  if (!read_only_api_key.empty()) read_ = digest(read_only_api_key);
}

ApiKeys::Digest ApiKeys::digest(std::string_view key) {
  Digest d{};
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), d.data());
  return d;
}

bool ApiKeys::equal(const Digest& a, const Digest& b) {
  // Accumulate every byte's difference; no early exit.
  volatile uint8_t diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff = diff | (a[i] ^ b[i]);
  return diff == 0;
}

AuthResult ApiKeys::check(Access needed, std::string_view presented) const {
  if (needed == Access::kLocal) return AuthResult::kMissingOrWrongKey;  // the token decides
  if (needed == Access::kPublic || !write_) return AuthResult::kAllowed;
  const Digest d = digest(presented);
  // Both comparisons always run, so timing does not tell which key matched.
  const bool is_write = equal(d, *write_) && !presented.empty();
  const bool is_read = read_ && equal(d, *read_) && !presented.empty();
  if (is_write) return AuthResult::kAllowed;
  if (is_read) return needed == Access::kRead ? AuthResult::kAllowed : AuthResult::kReadOnlyKey;
  return AuthResult::kMissingOrWrongKey;
}

LocalToken::LocalToken(std::string_view token) {
  if (!token.empty()) digest_ = ApiKeys::digest(token);
}

bool LocalToken::matches(std::string_view presented) const {
  return digest_ && !presented.empty() && ApiKeys::equal(ApiKeys::digest(presented), *digest_);
}

std::string presented_key(std::string_view authorization, std::string_view x_api_key) {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() > kBearer.size()) {
    bool bearer = true;
    for (size_t i = 0; i < kBearer.size(); ++i) {
      char c = authorization[i];
      char e = kBearer[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (e >= 'A' && e <= 'Z') e = static_cast<char>(e - 'A' + 'a');
      bearer &= c == e;
    }
    if (bearer) return std::string(authorization.substr(kBearer.size()));
  }
  return std::string(x_api_key);
}

}  // namespace vista::api
