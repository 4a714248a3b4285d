// `vista compare`: the similarity table of the Visualized-BGE demo for two images and a text.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "cli/engine_args.h"
#include "encoder/image/preprocess.h"
#include "encoder/model/encoder.h"

namespace {

using vista::Status;
using vista::encoder::EncodeInput;

struct CompareArgs {
  std::string model;
  std::vector<std::string> images;
  std::string text;
  std::string dtype = "auto";
  int threads = 0;
  bool json = false;
};

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += double(a[i]) * b[i];
  return sum;
}

vista::cli::CommandRunner setup_compare(CLI::App& sub) {
  auto args = std::make_shared<CompareArgs>();
  vista::cli::add_model_option(sub, args->model);
  sub.add_option("--image", args->images, "image A, then image B")->required();
  sub.add_option("--text", args->text, "text combined with each image")->required();
  vista::cli::add_dtype_option(sub, args->dtype);
  sub.add_option("--threads", args->threads, "intra-op threads (0: libtorch's default)")
      ->capture_default_str();
  sub.add_flag("--json", args->json, "print one JSON object");
  return [args]() {
    if (args->images.size() != 2) {  // a usage error: exit 2, like CLI11's own
      std::cerr << "error: give exactly two images: --image A --image B\n";
      return 2;
    }
    auto mode = vista::encoder::parse_compute_mode(vista::cli::concrete_dtype(args->dtype));
    if (!mode.is_ok()) return vista::cli::report_failure(mode.status());
    vista::encoder::EncoderOptions options;
    options.mode = *mode;
    options.threads = args->threads;
    auto encoder = vista::encoder::Encoder::load(vista::cli::model_or_default(args->model), options);
    if (!encoder.is_ok()) return vista::cli::report_failure(encoder.status());
    const auto& enc = **encoder;

    std::vector<vista::encoder::RgbImage> crops;
    for (const auto& path : args->images) {
      auto crop = vista::encoder::load_crop(path, enc.image_size());
      if (!crop.is_ok()) return vista::cli::report_failure(crop.status());
      crops.push_back(std::move(*crop));
    }
    auto out = enc.encode({EncodeInput{std::nullopt, crops[0]}, EncodeInput{std::nullopt, crops[1]},
                           EncodeInput{args->text, std::nullopt}, EncodeInput{args->text, crops[0]},
                           EncodeInput{args->text, crops[1]}});
    if (!out.is_ok()) return vista::cli::report_failure(out.status());
    const auto& a = (*out)[0].vector;
    const auto& b = (*out)[1].vector;
    const auto& t = (*out)[2].vector;
    const auto& at = (*out)[3].vector;
    const auto& bt = (*out)[4].vector;
    const double image_image = dot(a, b);
    const double mm_image = dot(at, a);
    const double mm_text = dot(at, t);
    const double mm_mm = dot(at, bt);
    if (args->json) {
      std::cout << nlohmann::ordered_json{{"image_a_image_b", image_image},
                                          {"a_text_image_a", mm_image},
                                          {"a_text_text", mm_text},
                                          {"a_text_b_text", mm_mm},
                                          {"dim", a.size()},
                                          {"model_id", enc.model_id()}}
                       .dump()
                << "\n";
      return 0;
    }
    std::printf("A = %s\nB = %s\nT = \"%s\"\n\n", args->images[0].c_str(), args->images[1].c_str(),
                args->text.c_str());
    std::printf("%-24s %8s\n", "pair", "cosine");
    std::printf("%-24s %8.4f\n", "image A . image B", image_image);
    std::printf("%-24s %8.4f\n", "(A+T) . image A", mm_image);
    std::printf("%-24s %8.4f\n", "(A+T) . text T", mm_text);
    std::printf("%-24s %8.4f\n", "(A+T) . (B+T)", mm_mm);
    std::printf("\nvector dimension %zu (%s)\n", a.size(), enc.model_id().c_str());
    return 0;
  };
}

}  // namespace

VISTA_REGISTER_COMMAND(compare, "compare",
                       "Similarity table for two images and a text (image, text, image+text)",
                       setup_compare);
