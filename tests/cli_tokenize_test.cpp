// `vista tokenize`, run as a user would: the real binary, its stdout, stderr and exit code.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/test_support.h"

namespace {

using vista::testing::run_vista;

TEST(CliTokenize, PrintsIdsAndTokensAsOneJsonLine) {
  VISTA_REQUIRE_GOLDEN();
  const auto model = vista::testing::golden_dir() / "tiny-model";
  const auto run =
      run_vista("tokenize --model '" + model.string() + "' --text 'Hello, World!'");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  ASSERT_FALSE(run.out.empty());
  EXPECT_EQ(run.out.find('\n'), run.out.size() - 1) << run.out;
  const auto json = nlohmann::json::parse(run.out);
  EXPECT_EQ(json.at("ids"), (std::vector<int>{101, 7592, 1010, 2088, 999, 102}));
  EXPECT_EQ(json.at("tokens"),
            (std::vector<std::string>{"[CLS]", "hello", ",", "world", "!", "[SEP]"}));
}

TEST(CliTokenize, MaxTokensCutsAndSaysSo) {
  VISTA_REQUIRE_GOLDEN();
  const auto model = vista::testing::golden_dir() / "tiny-model";
  const auto run = run_vista("tokenize --model '" + model.string() +
                                   "' --text 'blue whale dragon' --max-tokens 4");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto json = nlohmann::json::parse(run.out);
  EXPECT_EQ(json.at("ids"), (std::vector<int>{101, 2630, 13156, 102}));
  EXPECT_EQ(json.at("truncated"), true);

  const auto bad =
      run_vista("tokenize --model '" + model.string() + "' --text x --max-tokens -2");
  EXPECT_EQ(bad.exit_code, 4);
  EXPECT_NE(bad.err.find("--max-tokens"), std::string::npos) << bad.err;
}

TEST(CliTokenize, MissingVocabularyNamesThePathAndTheFix) {
  vista::testing::TempDir empty;
  const auto run = run_vista("tokenize --model '" + empty.path().string() + "' --text x");
  EXPECT_EQ(run.exit_code, 3);  // not found
  EXPECT_TRUE(run.out.empty()) << run.out;
  EXPECT_NE(run.err.find((empty.path() / "vocab.txt").string()), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("scripts/fetch-model.sh"), std::string::npos) << run.err;
}

TEST(CliTokenize, InvalidUtf8IsAnInputError) {
  VISTA_REQUIRE_GOLDEN();
  const auto model = vista::testing::golden_dir() / "tiny-model";
  const auto run =
      run_vista("tokenize --model '" + model.string() + "' --text \"$(printf 'ab\\377')\"");
  EXPECT_EQ(run.exit_code, 4);
  EXPECT_NE(run.err.find("byte offset 2"), std::string::npos) << run.err;
}

}  // namespace
