// Image decoding with Pillow's semantics: what `PIL.Image.open(path).load()` yields, in Pillow's
// own terms (mode, size, 8-bit samples), so that preprocessing can reproduce the reference's
// pixels exactly.
//
// The format is chosen from the leading bytes, never from a file name (the reference data has
// JPEG files named *.png). Supported: JPEG (baseline, progressive, grayscale, CMYK/YCCK with
// Adobe inversion), PNG (1/2/4/8/16-bit; gray, gray+alpha, palette with or without tRNS, RGB,
// RGBA; interlaced), WebP (lossy, lossless, alpha; first frame of an animation), BMP, TIFF (first
// page) and GIF (first frame). EXIF orientation of JPEG, PNG and WebP is deliberately NOT applied,
// as in the reference; a TIFF's Orientation tag is, because Pillow applies it when it loads a
// TIFF. docs/image-decoding.md lists every layout and what becomes of it.
//
// Failure: every problem is a Status, never a crash or an exit():
//   - Corruption: empty input, truncated data ("image file is truncated"), damaged streams;
//   - Unsupported: bytes that are not an image this decoder knows, or a variant of a known
//     format it does not handle (e.g. 12-bit JPEG);
//   - ResourceExhausted: more bytes than DecodeLimits::max_bytes, or a header announcing more
//     pixels than DecodeLimits::max_pixels (checked before any pixel buffer is allocated).
//
// Thread-safety: decode_image() is reentrant; it keeps no global state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace vista::encoder {

struct DecodeLimits {
  uint64_t max_bytes = 64ull << 20;  // encoded input size
  uint64_t max_pixels = 50'000'000;  // width * height, from the header
};

// Pillow's image modes that decoding can produce. The mode decides how an image is resized
// (NEAREST for P and 1, premultiplied alpha for RGBA and LA) and converted to RGB.
enum class PixelMode {
  kL,     // 8-bit gray
  kLA,    // gray + alpha
  kRGB,   // 8-bit RGB
  kRGBA,  // RGB + straight (unassociated) alpha
  kCMYK,  // as Pillow stores it (Adobe JPEGs already un-inverted)
  kP,     // palette; see DecodedImage::samples
  k1,     // bilevel
  kI16,   // 16-bit gray ("I;16"); see DecodedImage::samples16
  kI,     // 32-bit signed gray ("I", from signed 16/32-bit TIFFs); see DecodedImage::samples_i32
  kF,     // 32-bit float gray ("F"); see DecodedImage::samples_f32
};

// Pillow's name for a mode: "L", "LA", "RGB", "RGBA", "CMYK", "P", "1", "I;16", "I", "F".
std::string_view pixel_mode_name(PixelMode mode);

// A decoded image as Pillow holds it after load().
struct DecodedImage {
  PixelMode mode = PixelMode::kRGB;
  int width = 0;
  int height = 0;
  // Samples per pixel: 1 (L, 1, I;16, I, F), 2 (LA), 3 (RGB, P), 4 (RGBA, CMYK).
  int channels = 0;
  // Row-major, interleaved 8-bit samples, width * height * channels bytes.
  //   P: the palette colours already looked up (RGB). Pillow resizes palette images with
  //      NEAREST, which commutes with the lookup, and convert('RGB') ignores transparency.
  //   1: 0 or 255 per pixel.
  std::vector<uint8_t> samples;
  // I;16 only: width * height native 16-bit values.
  std::vector<uint16_t> samples16;
  // I only: width * height 32-bit signed values.
  std::vector<int32_t> samples_i32;
  // F only: width * height 32-bit floats.
  std::vector<float> samples_f32;
  // The container format Pillow would report: "JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF".
  std::string format;
  // True when the file stored 16 bits per sample and `samples` holds the high bytes (Pillow's
  // rule for 16-bit RGB/RGBA/LA PNG and TIFF).
  bool reduced_from_16bit = false;
};

// Identifies the format from the leading bytes; returns "" when no supported signature matches.
std::string_view sniff_image_format(const uint8_t* data, size_t size);

// Decodes `size` bytes at `data`. See the file comment for the failure codes.
Result<DecodedImage> decode_image(const uint8_t* data, size_t size,
                                  const DecodeLimits& limits = {});

}  // namespace vista::encoder
