// The reference's image preprocessing, reproduced byte for byte:
//   torchvision Resize(224, BICUBIC) -> CenterCrop(224) -> convert('RGB') -> ToTensor ->
//   Normalize(CLIP mean, CLIP std), applied to a Pillow image.
//
// Resize follows Pillow's Image.resize exactly: the shorter side becomes `size`, the longer
// int(size * long / short); bicubic (a = -0.5) is a separable convolution whose support widens
// by the scale factor when shrinking, with fixed-point accumulation (22 fractional bits) and
// rounding/clipping after each pass; P and 1 images use NEAREST; RGBA/LA are resized
// premultiplied and un-premultiplied with Pillow's integer formulas; I;16, I and F are resized
// in double precision per pass. The crop offset is int(round((W - size) / 2.0)) with Python's
// half-to-even rounding. convert('RGB') drops alpha (no compositing), replicates gray (I;16
// and I clipped to 0..255, F clipped and truncated through L), and maps CMYK with Pillow's
// formula. docs/image-decoding.md has the table of modes.
//
// Thread-safety: all functions are reentrant and keep no global state.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <vector>

#include "common/status.h"
#include "encoder/image/image_decoder.h"

namespace vista::encoder {

// CLIP's normalisation constants (the reference's Normalize()).
inline constexpr std::array<float, 3> kClipMean = {0.48145466f, 0.4578275f, 0.40821073f};
inline constexpr std::array<float, 3> kClipStd = {0.26862954f, 0.26130258f, 0.27577711f};

// An 8-bit RGB image, row-major HWC (pixels.size() == width * height * 3).
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;
};

// Resize (shorter side -> size) + CenterCrop(size) + convert('RGB'), exactly as Pillow does.
// Fails with InvalidArgument when size < 1 or the image is empty or malformed.
Result<RgbImage> preprocess_to_crop(const DecodedImage& image, int size = 224);

// decode_image() + preprocess_to_crop().
Result<RgbImage> load_crop(const uint8_t* data, size_t bytes, int size = 224,
                           const DecodeLimits& limits = {});

// Reads a file and returns its crop; every error message names the file. A file larger than
// limits.max_bytes is refused before it is read (ResourceExhausted).
Result<RgbImage> load_crop(const std::filesystem::path& file, int size = 224,
                           const DecodeLimits& limits = {});

// Writes an RGB image as a lossless 8-bit PNG (e.g. a crop, for inspection or comparison).
// Fails with IOError naming the file when it cannot be written.
Status save_png(const RgbImage& image, const std::filesystem::path& file);

// Writes (x / 255 - mean[c]) / std[c] as planar CHW floats: out must hold 3 * height * width.
// The arithmetic follows ToTensor + Normalize in float32.
void normalize_to_chw(const RgbImage& crop, float* out,
                      const std::array<float, 3>& mean = kClipMean,
                      const std::array<float, 3>& std = kClipStd);

}  // namespace vista::encoder
