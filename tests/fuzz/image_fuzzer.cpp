// libFuzzer harness for the untrusted-input path of the image encoder: bytes -> decode_image
// -> preprocess_to_crop -> normalize_to_chw. Any crash, sanitizer report, timeout or broken
// invariant (a successful crop of the wrong size) is a bug. See docs/fuzzing.md.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "encoder/image/image_decoder.h"
#include "encoder/image/preprocess.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Smaller limits than production keep each run fast; the limit checks themselves are
  // exercised all the same.
  vista::encoder::DecodeLimits limits;
  limits.max_bytes = 4u << 20;
  limits.max_pixels = 4'000'000;
  auto decoded = vista::encoder::decode_image(data, size, limits);
  if (!decoded.is_ok()) {
    if (decoded.status().message().empty()) std::abort();
    return 0;
  }
  const vista::encoder::DecodedImage& image = decoded.value();
  if (image.width < 1 || image.height < 1) std::abort();
  // The last input byte picks a crop size, so odd sizes and upscaling get exercised too.
  const int crop_size = size > 0 && (data[size - 1] & 1) ? 1 + data[size - 1] % 61 : 224;
  auto crop = vista::encoder::preprocess_to_crop(image, crop_size);
  if (!crop.is_ok()) return 0;
  if (crop->width != crop_size || crop->height != crop_size ||
      crop->pixels.size() != static_cast<size_t>(crop_size) * crop_size * 3) {
    std::abort();
  }
  std::vector<float> tensor(static_cast<size_t>(crop_size) * crop_size * 3);
  vista::encoder::normalize_to_chw(*crop, tensor.data());
  return 0;
}
