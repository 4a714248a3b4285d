// `vista embed`: vectors for a text, an image, an image with text, or a JSONL batch of them.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "cli/engine_args.h"
#include "cli/device_option.h"
#include "encoder/image/preprocess.h"
#include "encoder/model/encoder.h"

namespace {

using vista::Result;
using vista::Status;
using vista::encoder::EncodeInput;
using vista::encoder::EncodeOutput;
using vista::encoder::Encoder;

struct EmbedArgs {
  std::string model;
  std::string text;
  std::string image;
  std::string batch;
  std::string dtype = "auto";
  std::string device = "cpu";
  int threads = 0;
};

// One input as given on the command line or on a batch line; the image is decoded here.
Result<EncodeInput> make_input(const Encoder& encoder, const std::optional<std::string>& text,
                               const std::optional<std::string>& image_path) {
  EncodeInput input;
  input.text = text;
  if (image_path) {
    VISTA_ASSIGN_OR_RETURN(auto crop, vista::encoder::load_crop(*image_path, encoder.image_size()));
    input.image = std::move(crop);
  }
  if (!input.text && !input.image) return Status::invalid_argument("give a text, an image or both");
  return input;
}

nlohmann::ordered_json output_json(const EncodeOutput& out) {
  return {{"vector", out.vector}, {"dim", out.vector.size()}, {"truncated", out.truncated}};
}

// Reads FILE.jsonl: one {"text": ..., "image": ...} object per line (blank lines skipped).
// Prints one line per input, in order; an input that fails prints {"error": ..., "line": N}
// and the command exits with 1 after the rest.
int run_batch(const Encoder& encoder, const std::string& file) {
  std::ifstream in(file);
  if (!in) return vista::cli::report_failure(Status::not_found("cannot open batch file " + file));
  struct Item {
    size_t line = 0;
    Result<EncodeInput> input = Status::internal("unset");
  };
  std::vector<Item> items;
  std::string text;
  for (size_t line_no = 1; std::getline(in, text); ++line_no) {
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    Item item;
    item.line = line_no;
    try {
      auto j = nlohmann::json::parse(text);
      if (!j.is_object()) throw std::invalid_argument("expected a JSON object");
      std::optional<std::string> t, image;
      if (j.contains("text") && !j["text"].is_null()) t = j["text"].get<std::string>();
      if (j.contains("image") && !j["image"].is_null()) image = j["image"].get<std::string>();
      item.input = make_input(encoder, t, image);
    } catch (const std::exception& e) {
      item.input =
          Status::invalid_argument(std::string("not a {\"text\", \"image\"} object: ") + e.what());
    }
    items.push_back(std::move(item));
  }

  constexpr size_t kChunk = 32;
  bool any_failed = false;
  for (size_t begin = 0; begin < items.size(); begin += kChunk) {
    const size_t end = std::min(items.size(), begin + kChunk);
    std::vector<EncodeInput> inputs;
    std::vector<size_t> which;
    for (size_t i = begin; i < end; ++i) {
      if (items[i].input.is_ok()) {
        inputs.push_back(*items[i].input);
        which.push_back(i);
      }
    }
    std::vector<Result<EncodeOutput>> results(end - begin, Status::internal("unset"));
    for (size_t i = begin; i < end; ++i) {
      if (!items[i].input.is_ok()) results[i - begin] = items[i].input.status();
    }
    auto together = encoder.encode(inputs);
    for (size_t k = 0; k < which.size(); ++k) {
      // A failed batch is retried one by one so that one bad input fails alone.
      results[which[k] - begin] =
          together.is_ok() ? Result<EncodeOutput>((*together)[k]) : encoder.encode(inputs[k]);
    }
    for (size_t i = begin; i < end; ++i) {
      const auto& r = results[i - begin];
      if (r.is_ok()) {
        std::cout << output_json(*r).dump() << "\n";
      } else {
        any_failed = true;
        std::cout << nlohmann::ordered_json{{"error", r.status().message()},
                                            {"line", items[i].line}}
                         .dump()
                  << "\n";
      }
    }
  }
  return any_failed ? 1 : 0;
}

vista::cli::CommandRunner setup_embed(CLI::App& sub) {
  auto args = std::make_shared<EmbedArgs>();
  vista::cli::add_model_option(sub, args->model);
  sub.add_option("--text", args->text, "text to embed (with --image: the text describing it)");
  sub.add_option("--image", args->image, "image file to embed");
  sub.add_option("--batch", args->batch,
                 "JSONL file, one {\"text\": ..., \"image\": ...} per line; one output line each");
  vista::cli::add_dtype_option(sub, args->dtype);
  vista::cli::add_device_option(sub, args->device);
  sub.add_option("--threads", args->threads, "intra-op threads (0: libtorch's default)")
      ->capture_default_str();
  return [args, &sub]() {
    const bool has_text = sub.count("--text") > 0;
    const bool has_image = sub.count("--image") > 0;
    const bool has_batch = sub.count("--batch") > 0;
    // Usage errors exit with 2, like CLI11's own.
    if (has_batch && (has_text || has_image)) {
      std::cerr << "error: --batch cannot be combined with --text or --image\n";
      return 2;
    }
    if (!has_batch && !has_text && !has_image) {
      std::cerr << "error: give --text, --image, both, or --batch FILE.jsonl\n";
      return 2;
    }
    // Inputs that do not exist fail before the model is loaded.
    const std::string* file = has_image ? &args->image : has_batch ? &args->batch : nullptr;
    std::error_code ec;
    if (file && !std::filesystem::is_regular_file(*file, ec))
      return vista::cli::report_failure(Status::not_found(
          std::string(has_image ? "image " : "batch file ") + *file + " does not exist"));
    auto mode = vista::encoder::parse_compute_mode(vista::cli::concrete_dtype(args->dtype));
    if (!mode.is_ok()) return vista::cli::report_failure(mode.status());
    vista::encoder::EncoderOptions options;
    options.mode = *mode;
    options.device = *vista::encoder::parse_device(args->device);  // checked by the option
    options.max_batch = vista::encoder::default_max_batch(options.device);
    options.threads = args->threads;
    auto encoder = Encoder::load(vista::cli::model_or_default(args->model), options);
    if (!encoder.is_ok()) return vista::cli::report_failure(encoder.status());
    if (has_batch) return run_batch(**encoder, args->batch);

    std::optional<std::string> text, image;
    if (has_text) text = args->text;
    if (has_image) image = args->image;
    auto input = make_input(**encoder, text, image);
    if (!input.is_ok()) return vista::cli::report_failure(input.status());
    auto out = (*encoder)->encode(*input);
    if (!out.is_ok()) return vista::cli::report_failure(out.status());
    std::cout << output_json(*out).dump() << "\n";
    return 0;
  };
}

}  // namespace

VISTA_REGISTER_COMMAND(embed, "embed", "Embed a text, an image, or both (or a JSONL batch)",
                       setup_embed);
