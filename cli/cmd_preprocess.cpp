// `vista preprocess`: decode an image and write the exact 224x224 RGB crop the encoder sees
// (Resize + CenterCrop + convert('RGB'), before normalisation), to check preprocessing by eye
// or byte for byte against another implementation.
#include <iostream>
#include <memory>
#include <string>

#include "cli/command.h"
#include "encoder/image/preprocess.h"

namespace {

struct PreprocessOptions {
  std::string image;
  std::string out;
  int size = 224;
  uint64_t max_pixels = vista::encoder::DecodeLimits{}.max_pixels;
  uint64_t max_bytes = vista::encoder::DecodeLimits{}.max_bytes;
};

vista::cli::CommandRunner setup_preprocess(CLI::App& sub) {
  auto opts = std::make_shared<PreprocessOptions>();
  sub.add_option("--image", opts->image, "input image (JPEG, PNG, WebP, BMP, TIFF or GIF)")
      ->required();
  sub.add_option("--out", opts->out, "output PNG file")->required();
  sub.add_option("--size", opts->size, "crop side in pixels")
      ->capture_default_str()
      ->check(CLI::Range(1, 8192));
  sub.add_option("--max-pixels", opts->max_pixels, "refuse images with more pixels")
      ->capture_default_str();
  sub.add_option("--max-bytes", opts->max_bytes, "refuse files larger than this")
      ->capture_default_str();
  return [opts]() {
    vista::encoder::DecodeLimits limits;
    limits.max_pixels = opts->max_pixels;
    limits.max_bytes = opts->max_bytes;
    auto crop = vista::encoder::load_crop(opts->image, opts->size, limits);
    if (!crop.is_ok()) return vista::cli::report_failure(crop.status());
    vista::Status written = vista::encoder::save_png(*crop, opts->out);
    if (!written.is_ok()) return vista::cli::report_failure(written);
    std::cout << opts->out << "\n";
    return 0;
  };
}

}  // namespace

VISTA_REGISTER_COMMAND(preprocess, "preprocess",
                       "Write the 224x224 RGB crop the image encoder sees (before normalisation)",
                       setup_preprocess);
