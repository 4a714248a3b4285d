#include "common/utf8.h"

#include <unicode/utf8.h>

#include <algorithm>
#include <cstring>

namespace vista {

int64_t first_invalid_utf8(std::string_view text) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
  const int64_t length = static_cast<int64_t>(text.size());
  int64_t i = 0;
  while (i < length) {
    // Skip ASCII eight bytes at a time.
    while (i + 8 <= length) {
      uint64_t block;
      std::memcpy(&block, bytes + i, 8);
      if (block & 0x8080808080808080ULL) break;
      i += 8;
    }
    if (i >= length) break;
    if (bytes[i] < 0x80) {
      ++i;
      continue;
    }
    int32_t pos = 0;
    const int32_t avail = static_cast<int32_t>(std::min<int64_t>(length - i, 4));
    UChar32 c;
    U8_NEXT(bytes + i, pos, avail, c);
    if (c < 0) return i;
    i += pos;
  }
  return -1;
}

}  // namespace vista
