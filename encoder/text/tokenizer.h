// BERT WordPiece tokenizer, id-for-id equal to the reference `BertTokenizer` (do_lower_case=True,
// tokenize_chinese_chars=True, strip_accents=None) that Visualized-BGE feeds its text tower.
//
// What "equal" means here (the encoder contract's tokenization rules, checked against the
// golden token ids):
//   1. The text is cut at the literal special-token strings [CLS] [SEP] [PAD] [MASK] [UNK]; each
//      maps to its own id unchanged.
//   2. Every other character is lowercased on its own (Python `str.lower()` of one character: full
//      mappings such as U+0130 -> "i̇", and a capital sigma always becomes σ, because the reference
//      lowercases character by character before it splits anything).
//   3. U+0000, U+FFFD and every C* character are dropped except \t \n \r; those and every Zs
//      character become a space. CJK ideographs get a space on each side.
//   4. NFD, drop Mn, split on whitespace (Python `str.split()` rules) and on punctuation (ASCII
//      non-alphanumeric printables and Unicode P*).
//   5. Greedy longest-match WordPiece with "##" continuations; a word over 100 code points, or one
//      the vocabulary cannot cover, becomes a single [UNK].
// Character properties and normalization come from ICU; results can differ from the reference
// only for code points whose Unicode properties changed between the two Unicode versions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace vista::encoder {

namespace detail {
struct TokenizerVocab;  // the loaded vocabulary and lookup tables (tokenizer.cpp)
}

struct TokenizedText {
  std::vector<int32_t> ids;  // [CLS] ... [SEP]
  bool truncated = false;    // true when max_tokens cut word pieces off the end
};

// Immutable once loaded; copies share the vocabulary. Every const method is thread-safe.
class Tokenizer {
 public:
  // Longest word, in code points, that WordPiece will try to split; longer words become [UNK].
  static constexpr size_t kMaxWordChars = 100;

  // Reads vocab.txt: one token per line (\n, \r\n or \r), id = zero-based line number; when a
  // token repeats, the later line's id wins, as in the reference. Fails with NotFound (missing
  // file), IOError (unreadable), Corruption (empty file, invalid UTF-8 — the message names the
  // file and line) or InvalidArgument (a directory, or no [CLS], [SEP], [PAD] or [UNK] token).
  static Result<Tokenizer> from_vocab_file(const std::filesystem::path& vocab_txt);

  // Tokenizes UTF-8 text into [CLS] pieces... [SEP]. max_tokens == 0: no limit; otherwise the
  // result holds at most max_tokens ids, [SEP] kept last, and truncated=true if anything was cut
  // (max_tokens == 1 is rejected: [CLS] and [SEP] need two). Invalid UTF-8 fails with
  // InvalidArgument naming the byte offset of the first bad sequence.
  Result<TokenizedText> encode(std::string_view utf8, size_t max_tokens = 0) const;

  // The vocabulary line for `id`; "[UNK]" when id is out of range.
  std::string token(int32_t id) const;

  int32_t cls_id() const;
  int32_t sep_id() const;
  int32_t pad_id() const;
  int32_t unk_id() const;
  int32_t mask_id() const;  // the [UNK] id when the vocabulary has no [MASK], as in the reference
  size_t vocab_size() const;

 private:
  explicit Tokenizer(std::shared_ptr<const detail::TokenizerVocab> vocab)
      : vocab_(std::move(vocab)) {}

  std::shared_ptr<const detail::TokenizerVocab> vocab_;
};

}  // namespace vista::encoder
