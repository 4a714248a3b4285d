#include "encoder/image/preprocess.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <string>
#include <system_error>

#include "encoder/image/image_writer.h"
#include "encoder/image/pillow_resample.h"

namespace vista::encoder {
namespace {

using internal::Image8;
using internal::ResizeWindow;

// Beyond this the reference itself cannot allocate the resized image (Pillow would need
// gigabytes for one row of 224 such pixels), so there is nothing to be faithful to.
constexpr double kMaxResizedSide = double{1 << 26};

// Python's int(round(v / 2.0)) for a non-negative integer v: halves round to even.
int round_half_even_half(int v) {
  const int q = v / 2;
  if (v % 2 == 0) return q;
  return (q % 2 == 0) ? q : q + 1;
}

Status check_image(const DecodedImage& image) {
  if (image.width < 1 || image.height < 1) {
    return Status::invalid_argument("image is empty (" + std::to_string(image.width) + "x" +
                                    std::to_string(image.height) + ")");
  }
  const size_t pixels = static_cast<size_t>(image.width) * image.height;
  int expected_channels = 0;
  switch (image.mode) {
    case PixelMode::kL:
    case PixelMode::k1:
    case PixelMode::kI16:
    case PixelMode::kI:
    case PixelMode::kF: expected_channels = 1; break;
    case PixelMode::kLA: expected_channels = 2; break;
    case PixelMode::kRGB:
    case PixelMode::kP: expected_channels = 3; break;
    case PixelMode::kRGBA:
    case PixelMode::kCMYK: expected_channels = 4; break;
  }
  if (image.channels != expected_channels) {
    return Status::invalid_argument("mode " + std::string(pixel_mode_name(image.mode)) + " needs " +
                                    std::to_string(expected_channels) + " channels, image has " +
                                    std::to_string(image.channels));
  }
  bool ok = false;
  switch (image.mode) {
    case PixelMode::kI16: ok = image.samples16.size() == pixels; break;
    case PixelMode::kI: ok = image.samples_i32.size() == pixels; break;
    case PixelMode::kF: ok = image.samples_f32.size() == pixels; break;
    default: ok = image.samples.size() == pixels * static_cast<size_t>(expected_channels); break;
  }
  if (!ok) return Status::invalid_argument("image sample buffer does not match its size and mode");
  return Status::ok();
}

// convert('RGB') of a crop in the image's mode.
RgbImage to_rgb(PixelMode mode, const Image8& crop) {
  RgbImage rgb;
  rgb.width = crop.width;
  rgb.height = crop.height;
  const size_t n = static_cast<size_t>(crop.width) * crop.height;
  rgb.pixels.resize(n * 3);
  const uint8_t* in = crop.data.data();
  uint8_t* out = rgb.pixels.data();
  const int c = crop.channels;
  for (size_t i = 0; i < n; ++i, in += c, out += 3) {
    switch (mode) {
      case PixelMode::kRGB:
      case PixelMode::kP:
      case PixelMode::kRGBA:  // alpha is dropped, not composited
        out[0] = in[0];
        out[1] = in[1];
        out[2] = in[2];
        break;
      case PixelMode::kL:
      case PixelMode::kLA: out[0] = out[1] = out[2] = in[0]; break;
      case PixelMode::k1: out[0] = out[1] = out[2] = in[0] != 0 ? 255 : 0; break;
      case PixelMode::kCMYK: {
        // Pillow's cmyk2rgb: nk - nk * ink / 255 with its rounded integer division.
        const int nk = 255 - in[3];
        for (int k = 0; k < 3; ++k) {
          const int t = in[k] * nk + 128;
          const int v = nk - (((t >> 8) + t) >> 8);
          out[k] = static_cast<uint8_t>(v <= 0 ? 0 : v > 255 ? 255 : v);
        }
        break;
      }
      case PixelMode::kI16:
      case PixelMode::kI:
      case PixelMode::kF: break;  // wide modes: gray_to_rgb()
    }
  }
  return rgb;
}

// Pillow's conversion of one wide sample to 8-bit gray.
uint8_t to_gray8(uint16_t v) {
  return v > 255 ? 255 : static_cast<uint8_t>(v);  // I;16 -> L saturates
}
uint8_t to_gray8(int32_t v) {
  return v <= 0 ? 0 : v >= 255 ? 255 : static_cast<uint8_t>(v);  // i2rgb
}
uint8_t to_gray8(float v) {
  // F has no direct RGB conversion: Pillow goes through L (f2l), which truncates. NaN fails
  // both comparisons; the x86-64 cast of NaN that Pillow's (UINT8) cast compiles to gives 0.
  if (std::isnan(v)) return 0;
  return v <= 0.0f ? 0 : v >= 255.0f ? 255 : static_cast<uint8_t>(v);
}

// Resize + crop of a single-channel wide image, then convert('RGB') (gray replicated).
template <typename T>
RgbImage wide_crop_to_rgb(const std::vector<T>& samples, int w, int h, const ResizeWindow& win,
                          bool same_size, int size) {
  internal::WideImage<T> crop;
  if (same_size) {
    crop.width = crop.height = size;
    crop.data.resize(static_cast<size_t>(size) * size);
    for (int y = 0; y < size; ++y) {
      std::memcpy(&crop.data[static_cast<size_t>(y) * size],
                  &samples[static_cast<size_t>(win.y0 + y) * w + win.x0], size * sizeof(T));
    }
  } else {
    crop = internal::resize_bicubic(samples.data(), w, h, win);
  }
  RgbImage rgb;
  rgb.width = rgb.height = size;
  rgb.pixels.resize(static_cast<size_t>(size) * size * 3);
  for (size_t i = 0; i < crop.data.size(); ++i) {
    const uint8_t v = to_gray8(crop.data[i]);
    rgb.pixels[i * 3] = rgb.pixels[i * 3 + 1] = rgb.pixels[i * 3 + 2] = v;
  }
  return rgb;
}

}  // namespace

Result<RgbImage> preprocess_to_crop(const DecodedImage& image, int size) {
  if (size < 1)
    return Status::invalid_argument("crop size must be at least 1, got " + std::to_string(size));
  VISTA_RETURN_IF_ERROR(check_image(image));
  const int w = image.width, h = image.height;

  // torchvision Resize(size): the shorter side becomes `size`, the longer int(size * long /
  // short) with Python's true division.
  const bool width_is_short = w <= h;
  const int shorter = width_is_short ? w : h;
  const int longer = width_is_short ? h : w;
  const double scaled = static_cast<double>(static_cast<int64_t>(size) * longer) / shorter;
  if (scaled >= kMaxResizedSide) {
    return Status::resource_exhausted("image aspect ratio " + std::to_string(w) + "x" +
                                      std::to_string(h) + " is too extreme to resize");
  }
  const int new_long = static_cast<int>(scaled);
  ResizeWindow win;
  win.out_width = width_is_short ? size : new_long;
  win.out_height = width_is_short ? new_long : size;
  // CenterCrop(size) offsets.
  win.x0 = round_half_even_half(win.out_width - size);
  win.y0 = round_half_even_half(win.out_height - size);
  win.x1 = win.x0 + size;
  win.y1 = win.y0 + size;
  const bool same_size = win.out_width == w && win.out_height == h;

  switch (image.mode) {
    case PixelMode::kI16: return wide_crop_to_rgb(image.samples16, w, h, win, same_size, size);
    case PixelMode::kI: return wide_crop_to_rgb(image.samples_i32, w, h, win, same_size, size);
    case PixelMode::kF: return wide_crop_to_rgb(image.samples_f32, w, h, win, same_size, size);
    default: break;
  }

  Image8 crop;
  const int c = image.channels;
  if (same_size) {
    // Image.resize returns an unchanged copy (no premultiplication round trip).
    crop.width = crop.height = size;
    crop.channels = c;
    crop.data.resize(static_cast<size_t>(size) * size * c);
    for (int y = 0; y < size; ++y) {
      std::memcpy(&crop.data[static_cast<size_t>(y) * size * c],
                  &image.samples[(static_cast<size_t>(win.y0 + y) * w + win.x0) * c],
                  static_cast<size_t>(size) * c);
    }
  } else if (image.mode == PixelMode::kP || image.mode == PixelMode::k1) {
    crop = internal::resize_nearest({image.samples.data(), w, h, c}, win);
  } else if (image.mode == PixelMode::kRGBA || image.mode == PixelMode::kLA) {
    // Image.resize converts to RGBa/La, resizes, converts back.
    Image8 premultiplied{w, h, c, image.samples};
    internal::premultiply_alpha(premultiplied);
    crop = internal::resize_bicubic({premultiplied.data.data(), w, h, c}, win);
    internal::unpremultiply_alpha(crop);
  } else {
    crop = internal::resize_bicubic({image.samples.data(), w, h, c}, win);
  }
  return to_rgb(image.mode, crop);
}

Result<RgbImage> load_crop(const uint8_t* data, size_t bytes, int size,
                           const DecodeLimits& limits) {
  VISTA_ASSIGN_OR_RETURN(DecodedImage image, decode_image(data, bytes, limits));
  return preprocess_to_crop(image, size);
}

Result<RgbImage> load_crop(const std::filesystem::path& file, int size,
                           const DecodeLimits& limits) {
  const std::string name = file.string();
  std::error_code ec;
  const auto status = std::filesystem::status(file, ec);
  if (ec || !std::filesystem::exists(status)) {
    return Status::not_found("image file not found: " + name);
  }
  if (!std::filesystem::is_regular_file(status)) {
    return Status::invalid_argument("not a regular file: " + name);
  }
  const uintmax_t file_size = std::filesystem::file_size(file, ec);
  if (ec) return Status::io_error("cannot stat " + name + ": " + ec.message());
  if (file_size > limits.max_bytes) {
    return Status::resource_exhausted(name + ": image is " + std::to_string(file_size) +
                                      " bytes, more than the limit of " +
                                      std::to_string(limits.max_bytes) + " bytes");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) return Status::io_error("cannot open " + name + ": " + std::strerror(errno));
  std::vector<uint8_t> bytes(static_cast<size_t>(file_size));
  if (!bytes.empty() &&
      !in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()))) {
    return Status::io_error("cannot read " + name);
  }
  auto crop = load_crop(bytes.data(), bytes.size(), size, limits);
  if (!crop.is_ok()) return crop.status().with_context(name);
  return crop;
}

Status save_png(const RgbImage& image, const std::filesystem::path& file) {
  const std::string name = file.string();
  auto encoded = encode_png(image);
  if (!encoded.is_ok()) return encoded.status().with_context("cannot write " + name);
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  if (!out)
    return Status::io_error("cannot open " + name + " for writing: " + std::strerror(errno));
  out.write(encoded->data(), static_cast<std::streamsize>(encoded->size()));
  out.close();
  if (!out) return Status::io_error("cannot write " + name);
  return Status::ok();
}

void normalize_to_chw(const RgbImage& crop, float* out, const std::array<float, 3>& mean,
                      const std::array<float, 3>& std) {
  const size_t plane = static_cast<size_t>(crop.width) * crop.height;
  for (int c = 0; c < 3; ++c) {
    float* o = out + plane * c;
    for (size_t i = 0; i < plane; ++i) {
      // ToTensor (x / 255 in float32), then Normalize ((x - mean) / std in float32).
      const float v = static_cast<float>(crop.pixels[i * 3 + c]) / 255.0f;
      o[i] = (v - mean[c]) / std[c];
    }
  }
}

}  // namespace vista::encoder
