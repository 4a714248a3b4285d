#include "engine/shard.h"

#include <charconv>

#include "engine/sha256.h"

namespace vista::engine {

namespace {

bool parse_u32(std::string_view text, uint32_t* out) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

Result<ShardSpec> ShardSpec::parse(std::string_view text) {
  const size_t slash = text.find('/');
  ShardSpec spec;
  if (slash == std::string_view::npos || !parse_u32(text.substr(0, slash), &spec.index) ||
      !parse_u32(text.substr(slash + 1), &spec.count)) {
    return Status::invalid_argument("shard '" + std::string(text) +
                                    "' is not K/N (two whole numbers, e.g. 0/4)");
  }
  if (spec.count < 1 || spec.count > kMaxShards) {
    return Status::invalid_argument("shard '" + std::string(text) + "': N must be 1.." +
                                    std::to_string(kMaxShards));
  }
  if (spec.index >= spec.count) {
    return Status::invalid_argument("shard '" + std::string(text) + "': K must be 0.." +
                                    std::to_string(spec.count - 1) + " (shards count from 0)");
  }
  return spec;
}

std::string ShardSpec::to_string() const {
  return std::to_string(index) + "/" + std::to_string(count);
}

uint32_t ShardSpec::shard_of(std::string_view key, uint32_t count) {
  Sha256 sha;
  sha.update(key);
  const std::string hex = sha.hex_digest();
  // The first 8 bytes are the first 16 hex digits, most significant first.
  return static_cast<uint32_t>(std::stoull(hex.substr(0, 16), nullptr, 16) % count);
}

}  // namespace vista::engine
