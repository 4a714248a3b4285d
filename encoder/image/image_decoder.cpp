#include "encoder/image/image_decoder.h"

#include <cstring>
#include <exception>
#include <new>
#include <string>

#include "encoder/image/codec_internal.h"

namespace vista::encoder {

std::string_view pixel_mode_name(PixelMode mode) {
  switch (mode) {
    case PixelMode::kL: return "L";
    case PixelMode::kLA: return "LA";
    case PixelMode::kRGB: return "RGB";
    case PixelMode::kRGBA: return "RGBA";
    case PixelMode::kCMYK: return "CMYK";
    case PixelMode::kP: return "P";
    case PixelMode::k1: return "1";
    case PixelMode::kI16: return "I;16";
  }
  return "?";
}

namespace {

bool starts_with(const uint8_t* data, size_t size, const char* magic, size_t n) {
  return size >= n && std::memcmp(data, magic, n) == 0;
}

}  // namespace

std::string_view sniff_image_format(const uint8_t* data, size_t size) {
  if (data == nullptr) return "";
  if (starts_with(data, size, "\xFF\xD8\xFF", 3)) return "JPEG";
  if (starts_with(data, size, "\x89PNG\r\n\x1A\n", 8)) return "PNG";
  if (starts_with(data, size, "GIF87a", 6) || starts_with(data, size, "GIF89a", 6)) return "GIF";
  if (size >= 12 && std::memcmp(data, "RIFF", 4) == 0 && std::memcmp(data + 8, "WEBP", 4) == 0) {
    return "WEBP";
  }
  if (starts_with(data, size, "BM", 2)) return "BMP";
  // Classic TIFF, the byte-swapped variants Pillow also accepts, and BigTIFF.
  static const char* const kTiff[] = {"MM\x00\x2A", "II\x2A\x00", "MM\x2A\x00",
                                      "II\x00\x2A", "MM\x00\x2B", "II\x2B\x00"};
  for (const char* magic : kTiff) {
    if (starts_with(data, size, magic, 4)) return "TIFF";
  }
  return "";
}

Result<DecodedImage> decode_image(const uint8_t* data, size_t size, const DecodeLimits& limits) {
  if (data == nullptr || size == 0) {
    return Status::corruption("cannot identify image: the input is empty (0 bytes)");
  }
  if (size > limits.max_bytes) {
    return Status::resource_exhausted("image is " + std::to_string(size) +
                                      " bytes, more than the limit of " +
                                      std::to_string(limits.max_bytes) + " bytes");
  }
  const std::string_view format = sniff_image_format(data, size);
  try {
    if (format == "JPEG") return internal::decode_jpeg(data, size, limits);
    if (format == "PNG") return internal::decode_png(data, size, limits);
    if (format == "GIF") return internal::decode_gif(data, size, limits);
    if (format == "WEBP") return internal::decode_webp(data, size, limits);
    if (format == "BMP") return internal::decode_bmp(data, size, limits);
    if (format == "TIFF") return internal::decode_tiff(data, size, limits);
  } catch (const std::bad_alloc&) {
    return Status::resource_exhausted("out of memory while decoding a " + std::string(format) +
                                      " image");
  } catch (const std::exception& e) {
    return Status::internal("unexpected error while decoding a " + std::string(format) +
                            " image: " + e.what());
  }
  return Status::unsupported(
      "cannot identify image format (supported: JPEG, PNG, WebP, BMP, TIFF, GIF; the content "
      "decides, not the file name)");
}

namespace internal {

Status check_dimensions(const char* format, uint64_t width, uint64_t height,
                        const DecodeLimits& limits) {
  if (width == 0 || height == 0) {
    return Status::corruption(std::string(format) + " header gives an empty image (" +
                              std::to_string(width) + "x" + std::to_string(height) + ")");
  }
  // Beyond 2^31 per side nothing downstream (nor Pillow) can index the image.
  if (width > 0x7FFFFFFF || height > 0x7FFFFFFF || width * height > limits.max_pixels) {
    return Status::resource_exhausted(
        std::string(format) + " image is " + std::to_string(width) + "x" + std::to_string(height) +
        " pixels, more than the limit of " + std::to_string(limits.max_pixels) + " pixels");
  }
  return Status::ok();
}

void allocate_samples(DecodedImage& image, PixelMode mode, int width, int height, int channels) {
  image.mode = mode;
  image.width = width;
  image.height = height;
  image.channels = channels;
  if (mode == PixelMode::kI16) {
    image.samples.clear();
    image.samples16.assign(static_cast<size_t>(width) * height, 0);
  } else {
    image.samples16.clear();
    image.samples.assign(static_cast<size_t>(width) * height * channels, 0);
  }
}

}  // namespace internal
}  // namespace vista::encoder
