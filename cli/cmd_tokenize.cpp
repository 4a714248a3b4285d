// `vista tokenize`: the token ids and pieces the text encoder would see for a string.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "cli/command.h"
#include "cli/engine_args.h"
#include "encoder/text/tokenizer.h"

namespace {

struct TokenizeOptions {
  std::string model_dir;
  std::string text;
  int64_t max_tokens = 0;
};

int run_tokenize(const TokenizeOptions& options) {
  if (options.max_tokens < 0) {
    return vista::cli::report_failure(vista::Status::invalid_argument(
        "--max-tokens must be 0 (no limit) or a positive count, got " +
        std::to_string(options.max_tokens)));
  }
  const std::filesystem::path vocab_path = std::filesystem::path(options.model_dir) / "vocab.txt";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(vocab_path, ec)) {
    return vista::cli::report_failure(vista::Status::not_found(
        "no vocabulary at " + vocab_path.string() +
        " (--model must be a model directory holding vocab.txt; scripts/fetch-model.sh "
        "downloads one)"));
  }
  auto tokenizer = vista::encoder::Tokenizer::from_vocab_file(vocab_path);
  if (!tokenizer.is_ok()) return vista::cli::report_failure(tokenizer.status());
  auto encoded = tokenizer->encode(options.text, static_cast<size_t>(options.max_tokens));
  if (!encoded.is_ok()) return vista::cli::report_failure(encoded.status());

  nlohmann::json tokens = nlohmann::json::array();
  for (int32_t id : encoded->ids) tokens.push_back(tokenizer->token(id));
  nlohmann::json out = {{"ids", encoded->ids}, {"tokens", std::move(tokens)}};
  if (options.max_tokens != 0) out["truncated"] = encoded->truncated;
  std::cout << out.dump() << "\n";
  return 0;
}

vista::cli::CommandRunner setup_tokenize(CLI::App& sub) {
  auto options = std::make_shared<TokenizeOptions>();
  vista::cli::add_model_option(sub, options->model_dir);
  sub.add_option("--text", options->text, "UTF-8 text to tokenize")->required();
  sub.add_option("--max-tokens", options->max_tokens,
                 "keep at most N ids, [SEP] last (0 = no limit)");
  return [options]() {
    options->model_dir = vista::cli::model_or_default(options->model_dir);
    return run_tokenize(*options);
  };
}

}  // namespace

VISTA_REGISTER_COMMAND(tokenize, "tokenize", "Print the token ids and pieces of a text as JSON",
                       setup_tokenize);
