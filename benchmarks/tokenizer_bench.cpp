// Tokenizer speed over the 300 corpus strings of the golden texts.json (markdown lines mixing
// English, Chinese, code and URLs). Each iteration tokenizes one string, cycling through the
// corpus, so the reported time is the mean time per string. BM_Utf8DecodeCorpus is the floor it
// is compared against: one pass that only decodes the same strings' code points.
//
// The golden directory defaults to the build's VISTA_DEFAULT_GOLDEN_DIR; VISTA_GOLDEN_DIR
// overrides it.
#include <benchmark/benchmark.h>
#include <unicode/utf8.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "encoder/text/tokenizer.h"

namespace {

struct Corpus {
  std::optional<vista::encoder::Tokenizer> tokenizer;
  std::vector<std::string> texts;
  std::string long_text;  // the 600-word golden edge case
  std::string error;
};

std::filesystem::path golden_dir() {
  if (const char* env = std::getenv("VISTA_GOLDEN_DIR"); env && *env) return env;
  return VISTA_DEFAULT_GOLDEN_DIR;
}

const Corpus& corpus() {
  static const Corpus loaded = [] {
    Corpus c;
    const auto dir = golden_dir();
    auto tokenizer = vista::encoder::Tokenizer::from_vocab_file(dir / "tiny-model" / "vocab.txt");
    if (!tokenizer.is_ok()) {
      c.error = tokenizer.status().to_string() + " (set VISTA_GOLDEN_DIR)";
      return c;
    }
    c.tokenizer.emplace(std::move(tokenizer).value());
    std::ifstream in(dir / "texts.json");
    if (!in) {
      c.error = "cannot open " + (dir / "texts.json").string();
      return c;
    }
    try {
      const auto json = nlohmann::json::parse(in);
      c.texts = json.at("corpus").get<std::vector<std::string>>();
      for (const auto& t : json.at("edge")) {
        const auto s = t.get<std::string>();
        if (s.size() > c.long_text.size()) c.long_text = s;
      }
    } catch (const nlohmann::json::exception& e) {
      c.error = "texts.json: " + std::string(e.what());
    }
    return c;
  }();
  return loaded;
}

bool ready(benchmark::State& state) {
  const Corpus& c = corpus();
  if (!c.error.empty()) {
    state.SkipWithError(c.error.c_str());
    return false;
  }
  return true;
}

void set_counters(benchmark::State& state, size_t bytes, size_t strings) {
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.SetItemsProcessed(static_cast<int64_t>(strings));
}

void BM_Utf8DecodeCorpus(benchmark::State& state) {
  if (!ready(state)) return;
  const auto& texts = corpus().texts;
  size_t i = 0, bytes = 0, strings = 0;
  for (auto _ : state) {
    const std::string& t = texts[i];
    const auto* s = reinterpret_cast<const uint8_t*>(t.data());
    const int32_t n = static_cast<int32_t>(t.size());
    int64_t sum = 0;
    for (int32_t k = 0; k < n;) {
      UChar32 c;
      U8_NEXT(s, k, n, c);
      sum += c;
    }
    benchmark::DoNotOptimize(sum);
    bytes += t.size();
    ++strings;
    if (++i == texts.size()) i = 0;
  }
  set_counters(state, bytes, strings);
}
BENCHMARK(BM_Utf8DecodeCorpus);

void BM_TokenizeCorpus(benchmark::State& state) {
  if (!ready(state)) return;
  const auto& c = corpus();
  const size_t max_tokens = static_cast<size_t>(state.range(0));
  size_t i = 0, bytes = 0, strings = 0;
  for (auto _ : state) {
    auto result = c.tokenizer->encode(c.texts[i], max_tokens);
    benchmark::DoNotOptimize(result);
    bytes += c.texts[i].size();
    ++strings;
    if (++i == c.texts.size()) i = 0;
  }
  set_counters(state, bytes, strings);
}
BENCHMARK(BM_TokenizeCorpus)->Arg(0)->Arg(512);

// The 600-word text: untruncated (602 ids) and cut to the 316 tokens of a text+image query.
void BM_TokenizeLongText(benchmark::State& state) {
  if (!ready(state)) return;
  const auto& c = corpus();
  const size_t max_tokens = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    auto result = c.tokenizer->encode(c.long_text, max_tokens);
    benchmark::DoNotOptimize(result);
  }
  set_counters(state, c.long_text.size() * state.iterations(), state.iterations());
}
BENCHMARK(BM_TokenizeLongText)->Arg(0)->Arg(316);

}  // namespace

BENCHMARK_MAIN();
