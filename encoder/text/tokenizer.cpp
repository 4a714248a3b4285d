#include "encoder/text/tokenizer.h"

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#include <array>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>

#include "common/utf8.h"

namespace vista::encoder {

namespace detail {

// Open-addressing hash table from byte strings to ids, built once. std::unordered_map spends
// most of a lookup chasing node pointers; WordPiece does several lookups per word.
class PieceTable {
 public:
  // Every key is a slice of `arena`, which must outlive the table. A repeated key keeps the last
  // id, as a Python dict would.
  void build(const std::vector<std::pair<std::string_view, int32_t>>& entries,
             std::string_view arena) {
    arena_ = arena;
    size_t capacity = 16;
    while (capacity < entries.size() * 2) capacity *= 2;
    slots_.assign(capacity, Slot{});
    mask_ = capacity - 1;
    for (const auto& [key, id] : entries) {
      const uint64_t h = hash(key);
      for (size_t i = h & mask_;; i = (i + 1) & mask_) {
        Slot& slot = slots_[i];
        if (slot.id < 0) {
          slot =
              Slot{static_cast<uint32_t>(h >> 32), static_cast<uint32_t>(key.data() - arena.data()),
                   static_cast<uint32_t>(key.size()), id};
          break;
        }
        if (matches(slot, h, key)) {
          slot.id = id;
          break;
        }
      }
    }
  }

  // The id of `key`, or -1.
  int32_t find(std::string_view key) const {
    const uint64_t h = hash(key);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.id < 0) return -1;
      if (matches(slot, h, key)) return slot.id;
    }
  }

 private:
  struct Slot {
    uint32_t tag = 0;  // high half of the hash
    uint32_t offset = 0;
    uint32_t size = 0;
    int32_t id = -1;  // -1: empty
  };

  static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDULL;
    x ^= x >> 33;
    x *= 0xC4CEB9FE1A85EC53ULL;
    x ^= x >> 33;
    return x;
  }

  static uint64_t hash(std::string_view key) {
    const char* p = key.data();
    size_t n = key.size();
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ n;
    while (n >= 8) {
      uint64_t v;
      std::memcpy(&v, p, 8);
      h = (h ^ v) * 0x9FB21C651E98DF25ULL;
      h ^= h >> 29;
      p += 8;
      n -= 8;
    }
    // The tail is read with overlapping loads, not copied byte by byte into a word, which would
    // stall on store forwarding.
    if (n >= 4) {
      uint32_t lo, hi;
      std::memcpy(&lo, p, 4);
      std::memcpy(&hi, p + n - 4, 4);
      h ^= (static_cast<uint64_t>(hi) << 32) | lo;
    } else if (n > 0) {
      const auto* u = reinterpret_cast<const unsigned char*>(p);
      h ^= (static_cast<uint64_t>(u[0]) << 16) | (static_cast<uint64_t>(u[n >> 1]) << 8) | u[n - 1];
    }
    return mix(h);
  }

  bool matches(const Slot& slot, uint64_t h, std::string_view key) const {
    return slot.tag == static_cast<uint32_t>(h >> 32) && slot.size == key.size() &&
           std::memcmp(arena_.data() + slot.offset, key.data(), key.size()) == 0;
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  std::string_view arena_;
};

struct TokenizerVocab {
  std::vector<std::string> tokens;  // by id
  std::string arena;                // every token's bytes, back to back; the tables point here
  // Whole-word pieces, and "##" continuations keyed without their "##", so that a lookup is a
  // slice of the word and never a copy.
  PieceTable pieces;
  PieceTable continuations;
  size_t max_piece_bytes = 0;
  size_t max_continuation_bytes = 0;
  int32_t cls = -1, sep = -1, pad = -1, unk = -1, mask = -1;
  const icu::Normalizer2* nfd = nullptr;
};

}  // namespace detail

namespace {

using detail::TokenizerVocab;

// The reference cuts its input at these literal strings before anything else.
constexpr std::array<std::string_view, 5> kSpecialTokens = {"[CLS]", "[SEP]", "[PAD]", "[MASK]",
                                                            "[UNK]"};

// Work is done in pieces of about this many bytes, cut at ASCII whitespace, so that a long text
// with a token limit stops early. Whitespace always ends a word, so the cut changes nothing.
constexpr size_t kChunkBytes = 4096;

bool is_utf8_continuation(char b) {
  return (static_cast<unsigned char>(b) & 0xC0) == 0x80;
}

// The ranges of the reference's _is_chinese_char (CJK Unified Ideographs, extensions A-E and the
// two compatibility blocks), not a Unicode property: Hiragana, Katakana and Hangul stay words.
bool is_cjk_ideograph(UChar32 c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// Every printable ASCII character that is not a letter or digit counts as punctuation.
bool is_ascii_punctuation(UChar32 c) {
  return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
         (c >= 123 && c <= 126);
}

// Python's str.isspace(): category Zs or bidirectional class WS, B or S.
bool is_python_space(UChar32 c) {
  if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
  if (u_charType(c) == U_SPACE_SEPARATOR) return true;
  const UCharDirection dir = u_charDirection(c);
  return dir == U_WHITE_SPACE_NEUTRAL || dir == U_BLOCK_SEPARATOR || dir == U_SEGMENT_SEPARATOR;
}

void append_utf8(std::string& out, UChar32 c) {
  char buf[4];
  int32_t n = 0;
  U8_APPEND_UNSAFE(buf, n, c);
  out.append(buf, static_cast<size_t>(n));
}

void append_utf16(std::u16string& out, UChar32 c) {
  if (c <= 0xFFFF) {
    out.push_back(static_cast<char16_t>(c));
  } else {
    out.push_back(static_cast<char16_t>(U16_LEAD(c)));
    out.push_back(static_cast<char16_t>(U16_TRAIL(c)));
  }
}

// Python's str.lower() of a single character (full case mapping, root locale; a lone capital
// sigma has no final-sigma context). Writes up to 3 code points; returns how many.
int lower_one(UChar32 c, UChar32 out[3]) {
  if (u_tolower(c) == c && !u_hasBinaryProperty(c, UCHAR_CHANGES_WHEN_LOWERCASED)) {
    out[0] = c;
    return 1;
  }
  UChar src[2];
  int32_t src_len = 0;
  U16_APPEND_UNSAFE(src, src_len, c);
  UChar dst[8];
  UErrorCode ec = U_ZERO_ERROR;
  const int32_t dst_len = u_strToLower(dst, 8, src, src_len, "", &ec);
  if (U_FAILURE(ec) || dst_len <= 0) {
    out[0] = u_tolower(c);
    return 1;
  }
  int n = 0;
  for (int32_t i = 0; i < dst_len && n < 3;) {
    UChar32 d;
    U16_NEXT_UNSAFE(dst, i, d);
    out[n++] = d;
  }
  return n;
}

// Cleans one (already lowercased) character into the normalisation buffer: drops NUL, U+FFFD
// and C* except \t \n \r; maps those and Zs to a space; pads CJK ideographs with spaces.
// Sets needs_nfd when a character that NFD might change was written.
void push_clean(UChar32 d, std::u16string& buf, bool& needs_nfd) {
  if (d < 0x80) {
    if (d >= 0x20 && d != 0x7F) {
      buf.push_back(static_cast<char16_t>(d));
    } else if (d == '\t' || d == '\n' || d == '\r') {
      buf.push_back(u' ');
    }
    return;
  }
  if (d == 0xFFFD) return;
  const uint32_t mask = U_GET_GC_MASK(d);
  if (mask & U_GC_C_MASK) return;
  if (mask & U_GC_ZS_MASK) {
    buf.push_back(u' ');
    return;
  }
  if (is_cjk_ideograph(d)) {
    buf.push_back(u' ');
    append_utf16(buf, d);
    buf.push_back(u' ');
    needs_nfd = true;  // the compatibility ideographs decompose
    return;
  }
  append_utf16(buf, d);
  // Nothing below U+00C0 has a canonical decomposition or is a combining mark.
  if (d >= 0xC0) needs_nfd = true;
}

// Per-call working memory, reused across the chunks of one call.
struct Scratch {
  std::u16string cleaned;
  icu::UnicodeString decomposed;
  std::string word;
};

class Encoder {
 public:
  Encoder(const TokenizerVocab& vocab, std::vector<int32_t>& ids) : vocab_(vocab), ids_(ids) {}

  // Runs the whole pipeline on text that contains no special-token string.
  void encode_segment(std::string_view text) {
    if (is_ascii(text)) {
      encode_ascii(text);
      return;
    }
    Scratch& s = scratch_;
    s.cleaned.clear();
    bool needs_nfd = false;
    const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
    const int32_t length = static_cast<int32_t>(text.size());
    for (int32_t i = 0; i < length;) {
      const uint8_t b = bytes[i];
      if (b < 0x80) {
        ++i;
        push_clean(b >= 'A' && b <= 'Z' ? b + 32 : b, s.cleaned, needs_nfd);
        continue;
      }
      UChar32 c;
      U8_NEXT_UNSAFE(bytes, i, c);  // validated by the caller
      UChar32 lowered[3];
      const int n = lower_one(c, lowered);
      for (int k = 0; k < n; ++k) push_clean(lowered[k], s.cleaned, needs_nfd);
    }

    const char16_t* chars = s.cleaned.data();
    int32_t count = static_cast<int32_t>(s.cleaned.size());
    if (needs_nfd) {
      // NFC-then-NFD (reference order) equals NFD; lowercasing again between them is a no-op
      // on text that is already lowercase.
      UErrorCode ec = U_ZERO_ERROR;
      const icu::UnicodeString alias(false, chars, count);
      const int32_t span = vocab_.nfd->spanQuickCheckYes(alias, ec);
      if (U_SUCCESS(ec) && span < count) {
        s.decomposed.setTo(alias, 0, span);
        vocab_.nfd->normalizeSecondAndAppend(s.decomposed, alias.tempSubString(span), ec);
        if (U_SUCCESS(ec)) {
          chars = reinterpret_cast<const char16_t*>(s.decomposed.getBuffer());
          count = s.decomposed.length();
        }
      }
    }
    split_words(chars, count);
  }

 private:
  static bool is_ascii(std::string_view text) {
    size_t i = 0;
    uint64_t any = 0;
    for (; i + 8 <= text.size(); i += 8) {
      uint64_t block;
      std::memcpy(&block, text.data() + i, 8);
      any |= block;
    }
    for (; i < text.size(); ++i) any |= static_cast<unsigned char>(text[i]);
    return (any & 0x8080808080808080ULL) == 0;
  }

  // The whole pipeline for ASCII text, which needs no case tables and no normalization: the same
  // rules as push_clean() followed by split_words(), in one pass.
  void encode_ascii(std::string_view text) {
    std::string& word = scratch_.word;
    word.clear();
    for (const char ch : text) {
      const auto b = static_cast<unsigned char>(ch);
      if ((b >= 'a' && b <= 'z') || (b >= '0' && b <= '9')) {
        word.push_back(ch);
      } else if (b >= 'A' && b <= 'Z') {
        word.push_back(static_cast<char>(b + 32));
      } else if (b == ' ' || b == '\t' || b == '\n' || b == '\r') {
        if (!word.empty()) wordpiece(word, word.size());
        word.clear();
      } else if (b < 0x20 || b == 0x7F) {
        // Other controls are dropped without splitting the word.
      } else {  // every other printable ASCII character is punctuation
        if (!word.empty()) wordpiece(word, word.size());
        word.assign(1, ch);
        wordpiece(word, 1);
        word.clear();
      }
    }
    if (!word.empty()) wordpiece(word, word.size());
  }

  // Whitespace ends a word, Mn disappears, punctuation is a word of its own.
  void split_words(const char16_t* chars, int32_t count) {
    std::string& word = scratch_.word;
    word.clear();
    size_t word_chars = 0;
    auto flush = [&]() {
      if (!word.empty()) wordpiece(word, word_chars);
      word.clear();
      word_chars = 0;
    };
    for (int32_t i = 0; i < count;) {
      UChar32 c;
      U16_NEXT_UNSAFE(chars, i, c);
      if (c < 0x80) {
        if (c == ' ') {
          flush();
        } else if (is_ascii_punctuation(c)) {
          flush();
          word.push_back(static_cast<char>(c));
          word_chars = 1;
          flush();
        } else {
          word.push_back(static_cast<char>(c));
          ++word_chars;
        }
        continue;
      }
      if (is_python_space(c)) {
        flush();
        continue;
      }
      const uint32_t mask = U_GET_GC_MASK(c);
      if (mask & U_GC_MN_MASK) continue;
      if (mask & U_GC_P_MASK) {
        flush();
        append_utf8(word, c);
        word_chars = 1;
        flush();
        continue;
      }
      append_utf8(word, c);
      ++word_chars;
    }
    flush();
  }

  // Greedy longest-match-first; a word that cannot be covered becomes one [UNK].
  void wordpiece(std::string_view word, size_t word_chars) {
    if (word_chars > Tokenizer::kMaxWordChars) {
      ids_.push_back(vocab_.unk);
      return;
    }
    const size_t first = ids_.size();
    size_t start = 0;
    while (start < word.size()) {
      const bool continuation = start > 0;
      const auto& table = continuation ? vocab_.continuations : vocab_.pieces;
      const size_t longest = continuation ? vocab_.max_continuation_bytes : vocab_.max_piece_bytes;
      size_t end = word.size();
      if (end - start > longest) {
        end = start + longest;
        while (end > start && is_utf8_continuation(word[end])) --end;
      }
      int32_t found = -1;
      while (end > start) {
        found = table.find(word.substr(start, end - start));
        if (found >= 0) break;
        do {
          --end;
        } while (end > start && is_utf8_continuation(word[end]));
      }
      if (found < 0) {
        ids_.resize(first);
        ids_.push_back(vocab_.unk);
        return;
      }
      ids_.push_back(found);
      start = end;
    }
  }

  const TokenizerVocab& vocab_;
  std::vector<int32_t>& ids_;
  Scratch scratch_;
};

std::string describe_bytes(std::string_view text, size_t at) {
  std::ostringstream out;
  const size_t end = std::min(text.size(), at + 4);
  for (size_t i = at; i < end; ++i) {
    static const char* kHex = "0123456789ABCDEF";
    const auto b = static_cast<unsigned char>(text[i]);
    out << (i == at ? "" : " ") << "0x" << kHex[b >> 4] << kHex[b & 15];
  }
  return out.str();
}

// Length of the special-token string at text[pos] (which is '['), or 0.
size_t special_at(std::string_view text, size_t pos, const TokenizerVocab& vocab, int32_t* id) {
  for (size_t k = 0; k < kSpecialTokens.size(); ++k) {
    const std::string_view special = kSpecialTokens[k];
    if (text.compare(pos, special.size(), special) == 0) {
      const int32_t ids[] = {vocab.cls, vocab.sep, vocab.pad, vocab.mask, vocab.unk};
      *id = ids[k];
      return special.size();
    }
  }
  return 0;
}

}  // namespace

Result<Tokenizer> Tokenizer::from_vocab_file(const std::filesystem::path& vocab_txt) {
  const std::string where = vocab_txt.string();
  std::error_code ec;
  if (!std::filesystem::exists(vocab_txt, ec)) {
    return Status::not_found("vocabulary file " + where + " does not exist");
  }
  if (std::filesystem::is_directory(vocab_txt, ec)) {
    return Status::invalid_argument("vocabulary path " + where +
                                    " is a directory; expected vocab.txt");
  }
  std::ifstream in(vocab_txt, std::ios::binary);
  if (!in) return Status::io_error("cannot open vocabulary file " + where);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Status::io_error("cannot read vocabulary file " + where);
  if (content.empty()) return Status::corruption("vocabulary file " + where + " is empty");

  auto vocab = std::make_shared<TokenizerVocab>();
  // Lines end at \n, \r\n or \r (the reference reads the file with universal newlines).
  size_t pos = 0;
  while (pos < content.size()) {
    size_t end = content.find_first_of("\r\n", pos);
    if (end == std::string::npos) end = content.size();
    std::string_view line(content.data() + pos, end - pos);
    if (const int64_t bad = first_invalid_utf8(line); bad >= 0) {
      return Status::corruption("vocabulary file " + where + " line " +
                                std::to_string(vocab->tokens.size() + 1) +
                                ": invalid UTF-8 at byte " + std::to_string(bad) + " of the line");
    }
    vocab->tokens.emplace_back(line);
    pos = end;
    if (pos < content.size()) {
      pos += (content[pos] == '\r' && pos + 1 < content.size() && content[pos + 1] == '\n') ? 2 : 1;
    }
  }
  if (vocab->tokens.size() > static_cast<size_t>(INT32_MAX)) {
    return Status::corruption("vocabulary file " + where + " has too many lines");
  }

  size_t arena_bytes = 0;
  for (const auto& t : vocab->tokens) arena_bytes += t.size();
  if (arena_bytes > UINT32_MAX) {
    return Status::corruption("vocabulary file " + where + " is too large");
  }
  vocab->arena.reserve(arena_bytes);
  std::vector<std::pair<std::string_view, int32_t>> pieces, continuations;
  pieces.reserve(vocab->tokens.size());
  for (size_t id = 0; id < vocab->tokens.size(); ++id) {
    const std::string_view t = vocab->tokens[id];
    const std::string_view stored(vocab->arena.data() + vocab->arena.size(), t.size());
    vocab->arena.append(t);  // never reallocates: reserved above
    const auto i = static_cast<int32_t>(id);
    pieces.emplace_back(stored, i);
    vocab->max_piece_bytes = std::max(vocab->max_piece_bytes, t.size());
    if (t.size() > 2 && t.compare(0, 2, "##") == 0) {
      continuations.emplace_back(stored.substr(2), i);
      vocab->max_continuation_bytes = std::max(vocab->max_continuation_bytes, t.size() - 2);
    }
  }
  vocab->pieces.build(pieces, vocab->arena);
  vocab->continuations.build(continuations, vocab->arena);
  auto require = [&](std::string_view name, int32_t& id) -> Status {
    id = vocab->pieces.find(name);
    if (id < 0) {
      return Status::invalid_argument("vocabulary file " + where + " has no " + std::string(name) +
                                      " token; is it a BERT vocab.txt?");
    }
    return Status::ok();
  };
  VISTA_RETURN_IF_ERROR(require("[CLS]", vocab->cls));
  VISTA_RETURN_IF_ERROR(require("[SEP]", vocab->sep));
  VISTA_RETURN_IF_ERROR(require("[PAD]", vocab->pad));
  VISTA_RETURN_IF_ERROR(require("[UNK]", vocab->unk));
  vocab->mask = vocab->pieces.find("[MASK]");
  if (vocab->mask < 0) vocab->mask = vocab->unk;

  UErrorCode uec = U_ZERO_ERROR;
  vocab->nfd = icu::Normalizer2::getNFDInstance(uec);
  if (U_FAILURE(uec) || vocab->nfd == nullptr) {
    return Status::internal(std::string("ICU NFD normalizer unavailable: ") + u_errorName(uec));
  }
  return Tokenizer(std::move(vocab));
}

Result<TokenizedText> Tokenizer::encode(std::string_view utf8, size_t max_tokens) const {
  if (max_tokens == 1) {
    return Status::invalid_argument("max_tokens must be 0 (no limit) or at least 2, got 1");
  }
  if (const int64_t bad = first_invalid_utf8(utf8); bad >= 0) {
    return Status::invalid_argument("text is not valid UTF-8: ill-formed sequence at byte offset " +
                                    std::to_string(bad) + " (" +
                                    describe_bytes(utf8, static_cast<size_t>(bad)) + ")");
  }
  const TokenizerVocab& vocab = *vocab_;
  TokenizedText out;
  out.ids.reserve(std::min<size_t>(utf8.size() / 3 + 8, max_tokens ? max_tokens + 8 : SIZE_MAX));
  out.ids.push_back(vocab.cls);
  // Body pieces allowed between [CLS] and [SEP].
  const size_t body_limit = max_tokens == 0 ? SIZE_MAX : max_tokens - 2;
  auto over_limit = [&]() { return out.ids.size() - 1 > body_limit; };

  Encoder encoder(vocab, out.ids);
  auto encode_text = [&](std::string_view text) {
    size_t pos = 0;
    while (pos < text.size() && !over_limit()) {
      size_t end = text.size();
      if (end - pos > kChunkBytes) {
        end = text.find_first_of(" \t\n\r", pos + kChunkBytes);
        end = end == std::string_view::npos ? text.size() : end + 1;
      }
      encoder.encode_segment(text.substr(pos, end - pos));
      pos = end;
    }
  };

  size_t pos = 0;
  while (pos < utf8.size() && !over_limit()) {
    size_t bracket = utf8.find('[', pos);
    int32_t special_id = -1;
    size_t special_len = 0;
    while (bracket != std::string_view::npos &&
           (special_len = special_at(utf8, bracket, vocab, &special_id)) == 0) {
      bracket = utf8.find('[', bracket + 1);
    }
    const size_t text_end = bracket == std::string_view::npos ? utf8.size() : bracket;
    encode_text(utf8.substr(pos, text_end - pos));
    if (bracket == std::string_view::npos) break;
    out.ids.push_back(special_id);
    pos = bracket + special_len;
  }

  if (over_limit()) {
    out.ids.resize(1 + body_limit);
    out.truncated = true;
  }
  out.ids.push_back(vocab.sep);
  return out;
}

std::string Tokenizer::token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= vocab_->tokens.size()) return "[UNK]";
  return vocab_->tokens[static_cast<size_t>(id)];
}

int32_t Tokenizer::cls_id() const {
  return vocab_->cls;
}
int32_t Tokenizer::sep_id() const {
  return vocab_->sep;
}
int32_t Tokenizer::pad_id() const {
  return vocab_->pad;
}
int32_t Tokenizer::unk_id() const {
  return vocab_->unk;
}
int32_t Tokenizer::mask_id() const {
  return vocab_->mask;
}
size_t Tokenizer::vocab_size() const {
  return vocab_->tokens.size();
}

}  // namespace vista::encoder
