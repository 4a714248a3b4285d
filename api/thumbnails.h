// Thumbnails of document images (GET .../documents/{id}/image?size=N), with a bounded LRU cache.
//
// A thumbnail is the image decoded with the project's decoder (so the same formats and the same
// pixel limits as encoding apply), converted to RGB (transparency composited onto white),
// scaled with area averaging so that its longer side is at most N pixels (never enlarged), and
// encoded as JPEG (quality 85).
//
// The cache holds at most `capacity_bytes` of encoded thumbnails, evicting the least recently
// used. Keys are chosen by the caller so that a key always denotes the same image bytes (blob
// names are content hashes; files are keyed by path, size and modification time).
//
// Thread-safety: all methods may be called concurrently; make_thumbnail() is reentrant.
#pragma once

#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "common/status.h"
#include "encoder/image/image_decoder.h"

namespace vista::api {

// Corruption / Unsupported / ResourceExhausted from the decoder; Internal if encoding fails.
Result<std::string> make_thumbnail(std::string_view image_bytes, int size,
                                   const encoder::DecodeLimits& limits);

class ThumbnailCache {
 public:
  explicit ThumbnailCache(uint64_t capacity_bytes) : capacity_(capacity_bytes) {}

  std::optional<std::string> get(const std::string& key);
  void put(const std::string& key, std::string value);

  int64_t hits() const;
  int64_t misses() const;

 private:
  using Entry = std::pair<std::string, std::string>;  // key, jpeg
  mutable std::mutex mutex_;
  uint64_t capacity_;
  uint64_t size_ = 0;
  std::list<Entry> lru_;  // front: most recent
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  int64_t hits_ = 0, misses_ = 0;
};

}  // namespace vista::api
