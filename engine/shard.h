// ShardSpec: which of N deterministic parts of a set of sources one machine ingests
// (`vista ingest --shard K/N`).
//
// An item belongs to shard K of N when shard_of(key, N) == K, where key is the item's document
// id (engine/ingest_source.h) and
//   shard_of(key, N) = (first 8 bytes of SHA-256(key), read as a big-endian uint64) mod N.
// The rule depends only on the id's bytes: every machine, every build and every run splits the
// same sources the same way, and the N shards are disjoint and together cover every item.
// Source entries that never became an item (a bad manifest row) are assigned by the same rule
// applied to their source string ("<manifest>:<line>"), so each is reported by one shard only.
//
// K is 0-based (0 <= K < N, like a Slurm array index 0..N-1); N is 1..kMaxShards.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace vista::engine {

inline constexpr uint32_t kMaxShards = 1u << 20;

struct ShardSpec {
  uint32_t index = 0;  // K
  uint32_t count = 1;  // N

  // "K/N" -> spec. InvalidArgument saying what is wrong (format, N out of range, K >= N).
  static Result<ShardSpec> parse(std::string_view text);
  std::string to_string() const;  // "K/N"

  bool contains(std::string_view key) const { return shard_of(key, count) == index; }
  static uint32_t shard_of(std::string_view key, uint32_t count);

  bool operator==(const ShardSpec& o) const { return index == o.index && count == o.count; }
};

}  // namespace vista::engine
