// The one UTF-8 rule of the code base: well-formed UTF-8 as Unicode defines it (no overlong
// forms, no surrogates, nothing past U+10FFFF, no truncated sequences), checked with ICU.
#pragma once

#include <cstdint>
#include <string_view>

namespace vista {

// Offset of the first byte of the first ill-formed sequence, or -1 when `text` is valid.
int64_t first_invalid_utf8(std::string_view text);

inline bool is_valid_utf8(std::string_view text) {
  return first_invalid_utf8(text) < 0;
}

}  // namespace vista
