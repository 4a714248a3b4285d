#include "encoder/image/image_decoder.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <utility>
#include <vector>

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
    case PixelMode::kI: return "I";
    case PixelMode::kF: return "F";
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
  image.samples.clear();
  image.samples16.clear();
  image.samples_i32.clear();
  image.samples_f32.clear();
  const size_t pixels = static_cast<size_t>(width) * height;
  switch (mode) {
    case PixelMode::kI16: image.samples16.assign(pixels, 0); break;
    case PixelMode::kI: image.samples_i32.assign(pixels, 0); break;
    case PixelMode::kF: image.samples_f32.assign(pixels, 0.0f); break;
    default: image.samples.assign(pixels * channels, 0); break;
  }
}

namespace {

// Rearranges width x height pixels of `channels` elements as Pillow's Image.transpose does for
// the orientation's method; for 5-8 the result is height x width.
template <typename T>
void transpose_pixels(std::vector<T>& v, int width, int height, int channels, int orientation) {
  if (v.empty()) return;
  const bool swapped = orientation >= 5;
  const int out_w = swapped ? height : width;
  const int out_h = swapped ? width : height;
  std::vector<T> out(v.size());
  for (int y = 0; y < out_h; ++y) {
    for (int x = 0; x < out_w; ++x) {
      int sx = x, sy = y;
      switch (orientation) {
        case 2: sx = width - 1 - x; break;                       // FLIP_LEFT_RIGHT
        case 3: sx = width - 1 - x, sy = height - 1 - y; break;  // ROTATE_180
        case 4: sy = height - 1 - y; break;                      // FLIP_TOP_BOTTOM
        case 5: sx = y, sy = x; break;                           // TRANSPOSE
        case 6: sx = y, sy = height - 1 - x; break;              // ROTATE_270
        case 7: sx = width - 1 - y, sy = height - 1 - x; break;  // TRANSVERSE
        case 8: sx = width - 1 - y, sy = x; break;               // ROTATE_90
      }
      const T* from = &v[(static_cast<size_t>(sy) * width + sx) * channels];
      std::copy(from, from + channels, &out[(static_cast<size_t>(y) * out_w + x) * channels]);
    }
  }
  v.swap(out);
}

}  // namespace

void apply_orientation(DecodedImage& image, int orientation) {
  if (orientation < 2 || orientation > 8) return;  // 1, absent or invalid: Pillow leaves it
  const int c = image.channels;
  transpose_pixels(image.samples, image.width, image.height, c, orientation);
  transpose_pixels(image.samples16, image.width, image.height, 1, orientation);
  transpose_pixels(image.samples_i32, image.width, image.height, 1, orientation);
  transpose_pixels(image.samples_f32, image.width, image.height, 1, orientation);
  if (orientation >= 5) std::swap(image.width, image.height);
}

}  // namespace internal
}  // namespace vista::encoder
