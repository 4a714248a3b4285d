#include "encoder/text/tokenizer.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/test_support.h"

namespace {

using vista::StatusCode;
using vista::encoder::TokenizedText;
using vista::encoder::Tokenizer;

std::filesystem::path golden_vocab() {
  return vista::testing::golden_dir() / "tiny-model" / "vocab.txt";
}

nlohmann::json load_golden_tokens() {
  std::ifstream in(vista::testing::golden_dir() / "tokens.json");
  EXPECT_TRUE(in.good()) << "cannot open tokens.json";
  return nlohmann::json::parse(in);
}

std::string ids_to_string(const std::vector<int32_t>& ids) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < ids.size(); ++i) out << (i ? ", " : "") << ids[i];
  out << "]";
  return out.str();
}

Tokenizer load_real() {
  auto tokenizer = Tokenizer::from_vocab_file(golden_vocab());
  if (!tokenizer.is_ok()) {
    ADD_FAILURE() << tokenizer.status();
    std::abort();
  }
  return std::move(tokenizer).value();
}

std::vector<int32_t> ids_of(const Tokenizer& tokenizer, std::string_view text,
                            size_t max_tokens = 0) {
  auto result = tokenizer.encode(text, max_tokens);
  EXPECT_TRUE(result.is_ok()) << result.status();
  return result.is_ok() ? result->ids : std::vector<int32_t>{};
}

// A vocabulary written to a temp dir, for rules the golden data cannot isolate.
class SmallVocab {
 public:
  explicit SmallVocab(const std::string& content) : path_(dir_.path() / "vocab.txt") {
    std::ofstream(path_, std::ios::binary) << content;
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  vista::testing::TempDir dir_;
  std::filesystem::path path_;
};

const char* kSmallVocab =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nun\n##aff\n##able\na\n##a\nx\n##x\n,\n";

TEST(TokenizerGolden, EveryCaseMatchesTheReference) {
  VISTA_REQUIRE_GOLDEN();
  const Tokenizer tokenizer = load_real();
  const nlohmann::json golden = load_golden_tokens();
  const auto& cases = golden.at("cases");
  ASSERT_EQ(cases.size(), 336u);
  size_t full_matches = 0, trunc_matches = 0;
  for (const auto& c : cases) {
    const std::string text = c.at("text");
    const auto want = c.at("model").get<std::vector<int32_t>>();
    const auto want512 = c.at("model_trunc512").get<std::vector<int32_t>>();

    auto full = tokenizer.encode(text);
    ASSERT_TRUE(full.is_ok()) << full.status() << " for " << nlohmann::json(text).dump();
    if (full->ids == want) {
      ++full_matches;
    } else {
      ADD_FAILURE() << "text " << nlohmann::json(text).dump() << "\n  want " << ids_to_string(want)
                    << "\n  got  " << ids_to_string(full->ids);
    }
    EXPECT_FALSE(full->truncated);

    auto cut = tokenizer.encode(text, 512);
    ASSERT_TRUE(cut.is_ok()) << cut.status();
    if (cut->ids == want512) {
      ++trunc_matches;
    } else {
      ADD_FAILURE() << "max_tokens 512, text " << nlohmann::json(text).dump() << "\n  want "
                    << ids_to_string(want512) << "\n  got  " << ids_to_string(cut->ids);
    }
    EXPECT_EQ(cut->truncated, want.size() > 512) << nlohmann::json(text).dump();
  }
  std::cout << "golden token cases matched: " << full_matches << "/" << cases.size()
            << " untruncated, " << trunc_matches << "/" << cases.size() << " at 512\n";
  EXPECT_EQ(full_matches, cases.size());
  EXPECT_EQ(trunc_matches, cases.size());
}

TEST(TokenizerGolden, VocabularyAndSpecialIds) {
  VISTA_REQUIRE_GOLDEN();
  const Tokenizer tokenizer = load_real();
  EXPECT_EQ(tokenizer.vocab_size(), 30522u);
  EXPECT_EQ(tokenizer.pad_id(), 0);
  EXPECT_EQ(tokenizer.unk_id(), 100);
  EXPECT_EQ(tokenizer.cls_id(), 101);
  EXPECT_EQ(tokenizer.sep_id(), 102);
  EXPECT_EQ(tokenizer.mask_id(), 103);
  EXPECT_EQ(tokenizer.token(101), "[CLS]");
  EXPECT_EQ(tokenizer.token(13156), "whale");
  EXPECT_EQ(tokenizer.token(-1), "[UNK]");
  EXPECT_EQ(tokenizer.token(30522), "[UNK]");
}

TEST(TokenizerGolden, EmptyAndWhitespaceOnlyGiveClsSep) {
  VISTA_REQUIRE_GOLDEN();
  const Tokenizer tokenizer = load_real();
  const std::vector<int32_t> cls_sep = {101, 102};
  for (std::string_view text : {
           std::string_view(""), std::string_view(" "), std::string_view("\t\n\r  "),
           std::string_view("\xE3\x80\x80\xC2\xA0"),             // U+3000, U+00A0
           std::string_view("\x00\x07\x7F", 3),                  // dropped controls
           std::string_view("\xEF\xBF\xBD\xE2\x80\x8B\xCC\x81")  // U+FFFD, U+200B, lone U+0301
       }) {
    auto result = tokenizer.encode(text);
    ASSERT_TRUE(result.is_ok()) << result.status();
    EXPECT_EQ(result->ids, cls_sep) << nlohmann::json(std::string(text)).dump();
    EXPECT_FALSE(result->truncated);
  }
}

TEST(TokenizerGolden, SpecialTokenStringsMapToTheirIds) {
  VISTA_REQUIRE_GOLDEN();
  const Tokenizer tokenizer = load_real();
  EXPECT_EQ(ids_of(tokenizer, "[CLS]"), (std::vector<int32_t>{101, 101, 102}));
  EXPECT_EQ(ids_of(tokenizer, "[SEP]"), (std::vector<int32_t>{101, 102, 102}));
  EXPECT_EQ(ids_of(tokenizer, "[PAD][MASK][UNK]"), (std::vector<int32_t>{101, 0, 103, 100, 102}));
  // Cut out before anything else, so no spaces are needed around them.
  EXPECT_EQ(ids_of(tokenizer, "blue[SEP]whale"),
            (std::vector<int32_t>{101, 2630, 102, 13156, 102}));
  EXPECT_EQ(ids_of(tokenizer, "blue [MASK] whale"),
            (std::vector<int32_t>{101, 2630, 103, 13156, 102}));
  // Only the exact upper-case strings are special; anything else is ordinary text.
  EXPECT_EQ(ids_of(tokenizer, "[cls]"), ids_of(tokenizer, "[ cls ]"));
  EXPECT_EQ(ids_of(tokenizer, "[CLS ]"), ids_of(tokenizer, "[ cls ]"));
  EXPECT_EQ(ids_of(tokenizer, "[[CLS]]"), (std::vector<int32_t>{101, 1031, 101, 1033, 102}));
}

TEST(TokenizerGolden, InvalidUtf8IsRejectedWithTheOffset) {
  VISTA_REQUIRE_GOLDEN();
  const Tokenizer tokenizer = load_real();
  struct Case {
    std::string text;
    size_t offset;
  };
  const std::vector<Case> cases = {
      {"\xC3\x28", 0},              // lead byte followed by ASCII
      {"abc\xA0\xA1", 3},           // lone continuation bytes
      {"ok \xE2\x28\xA1", 3},       // bad second byte of a 3-byte sequence
      {"\xF0\x28\x8C\xBC", 0},      // bad second byte of a 4-byte sequence
      {"x\xC0\xAF", 1},             // overlong '/'
      {"12345678\xE0\x80\xAF", 8},  // overlong 3-byte form, after an ASCII block
      {"\xED\xA0\x80", 0},          // UTF-16 surrogate U+D800
      {"\xF4\x90\x80\x80", 0},      // above U+10FFFF
      {"\xFF", 0},                  // never valid
      {"caf\xC3\xA9 \xE2\x82", 6},  // truncated at the end, after valid é
  };
  for (const auto& c : cases) {
    auto result = tokenizer.encode(c.text);
    ASSERT_FALSE(result.is_ok()) << "case with a bad byte at offset " << c.offset;
    EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(result.status().message().find("byte offset " + std::to_string(c.offset)),
              std::string::npos)
        << result.status().message();
    EXPECT_NE(result.status().message().find("UTF-8"), std::string::npos);
  }
}

TEST(TokenizerGolden, TruncationKeepsSepLastAndReportsIt) {
  VISTA_REQUIRE_GOLDEN();
  const Tokenizer tokenizer = load_real();
  const std::string text = "blue whale dragon";  // 3 pieces: 2630 13156 5202
  auto fits = tokenizer.encode(text, 5);
  ASSERT_TRUE(fits.is_ok());
  EXPECT_EQ(fits->ids, (std::vector<int32_t>{101, 2630, 13156, 5202, 102}));
  EXPECT_FALSE(fits->truncated);

  auto cut = tokenizer.encode(text, 4);
  ASSERT_TRUE(cut.is_ok());
  EXPECT_EQ(cut->ids, (std::vector<int32_t>{101, 2630, 13156, 102}));
  EXPECT_TRUE(cut->truncated);

  auto bare = tokenizer.encode(text, 2);
  ASSERT_TRUE(bare.is_ok());
  EXPECT_EQ(bare->ids, (std::vector<int32_t>{101, 102}));
  EXPECT_TRUE(bare->truncated);

  auto empty = tokenizer.encode("", 2);
  ASSERT_TRUE(empty.is_ok());
  EXPECT_FALSE(empty->truncated);

  auto one = tokenizer.encode(text, 1);
  ASSERT_FALSE(one.is_ok());
  EXPECT_EQ(one.status().code(), StatusCode::kInvalidArgument);

  // A long text stops early but still yields exactly the untruncated prefix; an invalid byte
  // past the cut is still reported.
  std::string long_text;
  for (int i = 0; i < 20000; ++i) long_text += "whale ";
  auto long_cut = tokenizer.encode(long_text, 316);
  ASSERT_TRUE(long_cut.is_ok());
  ASSERT_EQ(long_cut->ids.size(), 316u);
  EXPECT_TRUE(long_cut->truncated);
  EXPECT_EQ(long_cut->ids.back(), 102);
  EXPECT_EQ(long_cut->ids[314], 13156);
  EXPECT_FALSE(tokenizer.encode(long_text + "\xFF", 316).is_ok());
}

// Cutting to any limit gives the untruncated ids' prefix plus [SEP], including on texts long
// enough to be worked through in several pieces.
TEST(TokenizerGolden, TruncationIsAPrefixOfTheFullEncoding) {
  VISTA_REQUIRE_GOLDEN();
  const Tokenizer tokenizer = load_real();
  const nlohmann::json golden = load_golden_tokens();
  std::vector<std::string> texts;
  std::string joined;
  for (const auto& c : golden.at("cases")) {
    texts.push_back(c.at("text"));
    joined += texts.back() + (joined.size() % 3 ? " " : "\n");
  }
  texts.push_back(joined + joined + joined);
  for (const auto& text : texts) {
    const std::vector<int32_t> full = ids_of(tokenizer, text);
    for (size_t limit : {size_t{2}, size_t{3}, size_t{5}, size_t{17}, size_t{316}, size_t{512},
                         full.size() - 1, full.size(), full.size() + 1}) {
      if (limit < 2) continue;
      auto cut = tokenizer.encode(text, limit);
      ASSERT_TRUE(cut.is_ok()) << cut.status();
      std::vector<int32_t> want = full;
      if (want.size() > limit) {
        want.resize(limit - 1);
        want.push_back(102);
      }
      EXPECT_EQ(cut->ids, want) << "limit " << limit << " text " << nlohmann::json(text).dump();
      EXPECT_EQ(cut->truncated, full.size() > limit);
    }
  }
}

// Behaviours of the reference that the golden strings do not exercise.
TEST(TokenizerGolden, ReferenceQuirks) {
  VISTA_REQUIRE_GOLDEN();
  const Tokenizer tokenizer = load_real();
  // Lowercasing is per character, so a final capital sigma becomes σ, not ς.
  EXPECT_EQ(ids_of(tokenizer, "\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3"),   // ΟΔΟΣ
            ids_of(tokenizer, "\xCE\xBF\xCE\xB4\xCE\xBF\xCF\x83"));  // οδοσ
  // İ lowercases to i + U+0307, and the mark is stripped.
  EXPECT_EQ(ids_of(tokenizer, "\xC4\xB0stanbul"), ids_of(tokenizer, "istanbul"));
  // U+2028 and U+2029 survive cleaning but still split words, as Python's str.split() does.
  EXPECT_EQ(ids_of(tokenizer, "blue\xE2\x80\xA8whale\xE2\x80\xA9sky"),
            ids_of(tokenizer, "blue whale sky"));
  // Private-use and format characters vanish without splitting the word.
  EXPECT_EQ(ids_of(tokenizer,
                   "wh\xEE\x80\x80"
                   "ale"),
            ids_of(tokenizer, "whale"));
  EXPECT_EQ(ids_of(tokenizer,
                   "wh\xE2\x80\x8D"
                   "ale"),
            ids_of(tokenizer, "whale"));
  // Other controls vanish too, but \t \n \r separate words.
  EXPECT_EQ(ids_of(tokenizer,
                   "wh\x0B"
                   "ale\rsky"),
            ids_of(tokenizer, "whale sky"));
  // Decomposed and precomposed input give the same pieces.
  EXPECT_EQ(ids_of(tokenizer, "cafe\xCC\x81"), ids_of(tokenizer, "caf\xC3\xA9"));
  // CJK compatibility ideographs get spaces too and normalise to the unified form.
  EXPECT_EQ(ids_of(tokenizer,
                   "a\xEF\xA4\x80"
                   "b"),
            ids_of(tokenizer, "a \xE8\xB1\x88 b"));
  // Unicode punctuation splits, symbols do not.
  EXPECT_EQ(ids_of(tokenizer, "blue\xE2\x80\x94whale"),
            ids_of(tokenizer, "blue \xE2\x80\x94 whale"));
  // A word of 100 code points is tried; one of 101 is [UNK] outright.
  std::string hundred(100, 'a');
  EXPECT_NE(ids_of(tokenizer, hundred), (std::vector<int32_t>{101, 100, 102}));
  EXPECT_EQ(ids_of(tokenizer, hundred + "a"), (std::vector<int32_t>{101, 100, 102}));
  // Combining marks do not count towards the limit: they are stripped first.
  std::string marked;
  for (int i = 0; i < 100; ++i) marked += "a\xCC\x81";
  EXPECT_EQ(ids_of(tokenizer, marked), ids_of(tokenizer, hundred));
}

TEST(TokenizerGolden, ConcurrentEncodingGivesIdenticalResults) {
  VISTA_REQUIRE_GOLDEN();
  const Tokenizer tokenizer = load_real();
  const nlohmann::json golden = load_golden_tokens();
  std::vector<std::string> texts;
  for (const auto& c : golden.at("cases")) texts.push_back(c.at("text"));
  std::vector<std::vector<int32_t>> expected, expected512;
  for (const auto& t : texts) {
    expected.push_back(ids_of(tokenizer, t));
    expected512.push_back(ids_of(tokenizer, t, 512));
  }

  constexpr int kThreads = 4;
  const Tokenizer shared_copy = tokenizer;  // copies share the vocabulary
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t]() {
      const Tokenizer& tk = (t % 2) ? shared_copy : tokenizer;
      for (int round = 0; round < 4; ++round) {
        const size_t limit = round % 2 ? 512 : 0;
        for (size_t i = 0; i < texts.size(); ++i) {
          const size_t k = (i * (2 * t + 1) + round) % texts.size();  // a different order each
          auto result = tk.encode(texts[k], limit);
          if (!result.is_ok() || result->ids != (limit ? expected512[k] : expected[k])) {
            ++mismatches[t];
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

TEST(TokenizerVocab, WordPieceGreedyLongestMatch) {
  SmallVocab vocab(kSmallVocab);
  auto tokenizer = Tokenizer::from_vocab_file(vocab.path());
  ASSERT_TRUE(tokenizer.is_ok()) << tokenizer.status();
  EXPECT_EQ(tokenizer->vocab_size(), 13u);
  EXPECT_EQ(tokenizer->cls_id(), 2);
  // un ##aff ##able
  EXPECT_EQ(ids_of(*tokenizer, "Unaffable"), (std::vector<int32_t>{2, 5, 6, 7, 3}));
  // "unaffabley" cannot be covered: the whole word is one [UNK], not a partial split.
  EXPECT_EQ(ids_of(*tokenizer, "unaffabley, x"), (std::vector<int32_t>{2, 1, 12, 10, 3}));
  EXPECT_EQ(ids_of(*tokenizer, "aaa"), (std::vector<int32_t>{2, 8, 9, 9, 3}));
}

TEST(TokenizerVocab, LineEndingsAndDuplicates) {
  // CRLF and CR line ends; a repeated token takes the later id, as a Python dict would.
  SmallVocab vocab("[PAD]\r\n[UNK]\r[CLS]\n[SEP]\r\nword\nword");
  auto tokenizer = Tokenizer::from_vocab_file(vocab.path());
  ASSERT_TRUE(tokenizer.is_ok()) << tokenizer.status();
  EXPECT_EQ(tokenizer->vocab_size(), 6u);
  EXPECT_EQ(tokenizer->token(3), "[SEP]");
  EXPECT_EQ(tokenizer->mask_id(), 1);  // no [MASK]: it maps to [UNK]
  EXPECT_EQ(ids_of(*tokenizer, "word [MASK]"), (std::vector<int32_t>{2, 5, 1, 3}));
}

TEST(TokenizerVocab, LoadErrorsNameTheFile) {
  vista::testing::TempDir dir;
  const auto missing = dir.path() / "nope" / "vocab.txt";
  auto result = Tokenizer::from_vocab_file(missing);
  ASSERT_FALSE(result.is_ok());
  EXPECT_EQ(result.status().code(), StatusCode::kNotFound);
  EXPECT_NE(result.status().message().find(missing.string()), std::string::npos);

  auto directory = Tokenizer::from_vocab_file(dir.path());
  ASSERT_FALSE(directory.is_ok());
  EXPECT_EQ(directory.status().code(), StatusCode::kInvalidArgument);

  SmallVocab empty("");
  auto empty_result = Tokenizer::from_vocab_file(empty.path());
  ASSERT_FALSE(empty_result.is_ok());
  EXPECT_EQ(empty_result.status().code(), StatusCode::kCorruption);
  EXPECT_NE(empty_result.status().message().find(empty.path().string()), std::string::npos);
  EXPECT_NE(empty_result.status().message().find("empty"), std::string::npos);

  SmallVocab bad_utf8("[PAD]\n[UNK]\nab\xC3\n[CLS]\n[SEP]\n");
  auto bad = Tokenizer::from_vocab_file(bad_utf8.path());
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kCorruption);
  EXPECT_NE(bad.status().message().find("line 3"), std::string::npos) << bad.status();
  EXPECT_NE(bad.status().message().find(bad_utf8.path().string()), std::string::npos);

  SmallVocab no_cls("[PAD]\n[UNK]\n[SEP]\nword\n");
  auto missing_cls = Tokenizer::from_vocab_file(no_cls.path());
  ASSERT_FALSE(missing_cls.is_ok());
  EXPECT_EQ(missing_cls.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing_cls.status().message().find("[CLS]"), std::string::npos);
}

}  // namespace
