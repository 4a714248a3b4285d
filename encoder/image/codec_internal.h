// Internal to vista_image: one decoder per container format, sharing the limit checks.
// Each decoder is called with a buffer whose signature already matched and whose size is
// within DecodeLimits::max_bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "common/status.h"
#include "encoder/image/image_decoder.h"

namespace vista::encoder::internal {

// Pillow's message for data that ends before the image does.
inline constexpr const char* kTruncatedMessage = "image file is truncated";

// The encoded bytes as a codec library reads them through its callbacks. A read past the end
// stops there and is remembered, so that the decoder can report a truncated file as such.
struct MemoryReader {
  const uint8_t* data = nullptr;
  size_t size = 0;
  size_t offset = 0;  // may lie past the end after a seek; reads there return nothing
  bool ran_out = false;

  // Copies up to `n` bytes to `out`; fewer at the end (then ran_out). Returns how many.
  size_t read(void* out, size_t n) {
    const size_t available = offset < size ? size - offset : 0;
    if (n > available) {
      ran_out = true;
      n = available;
    }
    std::memcpy(out, data + offset, n);
    offset += n;
    return n;
  }
};

// Validates header dimensions against the limits; call before allocating pixel memory.
Status check_dimensions(const char* format, uint64_t width, uint64_t height,
                        const DecodeLimits& limits);

// Allocates width * height * channels samples; the caller has run check_dimensions().
void allocate_samples(DecodedImage& image, PixelMode mode, int width, int height, int channels);

// Pillow's exif_transpose for an Orientation value (2-8; other values change nothing): the
// samples are flipped or rotated, and width and height swap for 5-8.
void apply_orientation(DecodedImage& image, int orientation);

Result<DecodedImage> decode_jpeg(const uint8_t* data, size_t size, const DecodeLimits& limits);
Result<DecodedImage> decode_png(const uint8_t* data, size_t size, const DecodeLimits& limits);
Result<DecodedImage> decode_gif(const uint8_t* data, size_t size, const DecodeLimits& limits);
Result<DecodedImage> decode_webp(const uint8_t* data, size_t size, const DecodeLimits& limits);
Result<DecodedImage> decode_bmp(const uint8_t* data, size_t size, const DecodeLimits& limits);
Result<DecodedImage> decode_tiff(const uint8_t* data, size_t size, const DecodeLimits& limits);

}  // namespace vista::encoder::internal
