// Base64 (RFC 4648, standard alphabet) for images inside JSON bodies.
//
// Decoding is strict so that a truncated upload is an error, not a silently shorter image:
// the length (after removing whitespace) must be a multiple of 4, padding only at the end, and
// unused bits of the last group must be zero. A "data:<type>;base64," prefix (what browsers'
// FileReader produces) is accepted and skipped. Errors name the offset of the first bad character.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace vista::api {

// InvalidArgument for malformed input.
Result<std::string> base64_decode(std::string_view text);

std::string base64_encode(std::string_view bytes);

}  // namespace vista::api
