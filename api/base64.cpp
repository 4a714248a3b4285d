#include "api/base64.h"

#include <array>
#include <cstdint>

namespace vista::api {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<int8_t, 256> make_table() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i) t[static_cast<uint8_t>(kAlphabet[i])] = static_cast<int8_t>(i);
  return t;
}
constexpr std::array<int8_t, 256> kTable = make_table();

bool is_space(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

Status bad(size_t offset, const std::string& what) {
  return Status::invalid_argument("invalid base64 at offset " + std::to_string(offset) + ": " +
                                  what);
}

}  // namespace

Result<std::string> base64_decode(std::string_view text) {
  size_t start = 0;
  if (text.substr(0, 5) == "data:") {
    const size_t comma = text.find(',');
    if (comma == std::string_view::npos ||
        text.substr(0, comma).find(";base64") == std::string_view::npos)
      return Status::invalid_argument("a data: URL must be of the form data:<type>;base64,<data>");
    start = comma + 1;
  }
  std::string out;
  out.reserve((text.size() - start) / 4 * 3);
  uint32_t group = 0;
  int filled = 0;   // sextets in the current group
  int padding = 0;  // '=' seen
  size_t symbols = 0;
  for (size_t i = start; i < text.size(); ++i) {
    const char c = text[i];
    if (is_space(c)) continue;
    ++symbols;
    if (c == '=') {
      if (filled < 2) return bad(i, "unexpected '='");
      ++padding;
      if (padding > 2) return bad(i, "too much padding");
      group <<= 6;
      if (++filled == 4) {
        if (padding == 2) {
          if (group & 0xFFFF) return bad(i, "non-zero bits in the last group");
          out.push_back(static_cast<char>(group >> 16));
        } else {
          if (group & 0xFF) return bad(i, "non-zero bits in the last group");
          out.push_back(static_cast<char>(group >> 16));
          out.push_back(static_cast<char>((group >> 8) & 0xFF));
        }
        group = 0;
        filled = 0;
      }
      continue;
    }
    if (padding > 0) return bad(i, "data after padding");
    const int8_t v = kTable[static_cast<uint8_t>(c)];
    if (v < 0) return bad(i, "character is not in the base64 alphabet");
    group = (group << 6) | static_cast<uint32_t>(v);
    if (++filled == 4) {
      out.push_back(static_cast<char>(group >> 16));
      out.push_back(static_cast<char>((group >> 8) & 0xFF));
      out.push_back(static_cast<char>(group & 0xFF));
      group = 0;
      filled = 0;
    }
  }
  if (filled != 0)
    return bad(text.size(), "the data ends in the middle of a group (" + std::to_string(symbols) +
                                " symbols; truncated?)");
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t g = (static_cast<uint8_t>(bytes[i]) << 16) |
                       (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                       static_cast<uint8_t>(bytes[i + 2]);
    out.push_back(kAlphabet[g >> 18]);
    out.push_back(kAlphabet[(g >> 12) & 63]);
    out.push_back(kAlphabet[(g >> 6) & 63]);
    out.push_back(kAlphabet[g & 63]);
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t g = static_cast<uint8_t>(bytes[i]) << 16;
    if (rest == 2) g |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out.push_back(kAlphabet[g >> 18]);
    out.push_back(kAlphabet[(g >> 12) & 63]);
    out.push_back(rest == 2 ? kAlphabet[(g >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

}  // namespace vista::api
