// PNG through libpng, mapped to Pillow's modes (PngImagePlugin's table):
//   gray 1-bit -> "1"; gray 2/4/8-bit -> "L" (2/4-bit scaled by 85/17); gray 16-bit -> "I;16";
//   RGB -> "RGB"; palette -> "P"; gray+alpha 8-bit -> "LA"; gray+alpha 16-bit -> "RGBA";
//   RGBA -> "RGBA". 16-bit samples keep their high byte (Pillow's ";16B" unpackers), except
//   "I;16", which keeps all 16 bits. tRNS is not applied (convert('RGB') ignores it).
#include <csetjmp>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <png.h>

#include "encoder/image/codec_internal.h"

namespace vista::encoder::internal {
namespace {

struct PngJob : MemoryReader {
  std::string error;
  png_structp png = nullptr;
  png_infop info = nullptr;
  DecodedImage image;
  std::vector<uint8_t> buffer;  // raw rows as libpng delivers them
  std::vector<png_bytep> rows;
  std::vector<uint8_t> palette;  // 256 * 3, black past the PLTE entries (as Pillow)
  Status status;
};

void on_read(png_structp png, png_bytep out, png_size_t length) {
  auto* job = static_cast<PngJob*>(png_get_io_ptr(png));
  if (job->read(out, length) < length) png_error(png, "unexpected end of data");
}

void on_error(png_structp png, png_const_charp message) {
  auto* job = static_cast<PngJob*>(png_get_error_ptr(png));
  job->error = message ? message : "unknown libpng error";
  png_longjmp(png, 1);
}

void on_warning(png_structp, png_const_charp) {}

// Decodes into job.image; returns false when libpng raised an error.
bool run(PngJob& job, const DecodeLimits& limits) {
  png_structp png = job.png;
  png_infop info = job.info;
  if (setjmp(png_jmpbuf(png))) return false;

  png_set_read_fn(png, &job, on_read);
  // Pillow does not verify IDAT checksums; neither do we. Ancillary chunks with bad CRCs are
  // dropped with a warning, the libpng default.
  png_set_crc_action(png, PNG_CRC_QUIET_USE, PNG_CRC_DEFAULT);
  png_set_benign_errors(png, 1);
  png_set_user_limits(png, 0x7FFFFFFF, 0x7FFFFFFF);
  png_read_info(png, info);

  png_uint_32 width = 0, height = 0;
  int bit_depth = 0, color_type = 0, interlace = 0;
  png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, nullptr, nullptr);
  job.status = check_dimensions("PNG", width, height, limits);
  if (!job.status.is_ok()) return true;

  PixelMode mode;
  int channels;      // channels of the decoded image
  int raw_channels;  // channels libpng delivers after the transforms below
  bool sixteen = bit_depth == 16;
  switch (color_type) {
    case PNG_COLOR_TYPE_GRAY:
      if (bit_depth == 16) {
        mode = PixelMode::kI16;
        channels = 1;
        png_set_swap(png);  // native little-endian 16-bit values
      } else {
        mode = bit_depth == 1 ? PixelMode::k1 : PixelMode::kL;
        channels = 1;
        if (bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
      }
      raw_channels = 1;
      break;
    case PNG_COLOR_TYPE_RGB:
      mode = PixelMode::kRGB;
      channels = raw_channels = 3;
      break;
    case PNG_COLOR_TYPE_PALETTE: {
      mode = PixelMode::kP;
      channels = 3;
      raw_channels = 1;
      if (bit_depth < 8) png_set_packing(png);
      job.palette.assign(256 * 3, 0);
      png_colorp plte = nullptr;
      int count = 0;
      if (png_get_PLTE(png, info, &plte, &count) & PNG_INFO_PLTE) {
        for (int i = 0; i < count && i < 256; ++i) {
          job.palette[i * 3 + 0] = plte[i].red;
          job.palette[i * 3 + 1] = plte[i].green;
          job.palette[i * 3 + 2] = plte[i].blue;
        }
      }
      break;
    }
    case PNG_COLOR_TYPE_GRAY_ALPHA:
      // Pillow opens 16-bit gray+alpha as RGBA ("LA;16B" unpacked to RGBA).
      mode = sixteen ? PixelMode::kRGBA : PixelMode::kLA;
      channels = sixteen ? 4 : 2;
      raw_channels = 2;
      break;
    case PNG_COLOR_TYPE_RGB_ALPHA:
      mode = PixelMode::kRGBA;
      channels = raw_channels = 4;
      break;
    default:
      job.status = Status::unsupported("unsupported PNG colour type " + std::to_string(color_type));
      return true;
  }
  if (sixteen && mode != PixelMode::kI16) png_set_strip_16(png);  // keeps the high byte
  if (interlace != PNG_INTERLACE_NONE) png_set_interlace_handling(png);
  png_read_update_info(png, info);

  const size_t rowbytes = png_get_rowbytes(png, info);
  const size_t expected =
      static_cast<size_t>(width) * raw_channels * (mode == PixelMode::kI16 ? 2 : 1);
  if (rowbytes != expected) {
    job.status = Status::internal("unexpected PNG row size " + std::to_string(rowbytes));
    return true;
  }
  job.buffer.assign(rowbytes * height, 0);
  job.rows.resize(height);
  for (png_uint_32 y = 0; y < height; ++y) job.rows[y] = job.buffer.data() + rowbytes * y;
  png_read_image(png, job.rows.data());
  // Deliberately no png_read_end(): like Pillow, accept files whose trailing chunks are missing
  // once the image data is complete.

  DecodedImage& image = job.image;
  allocate_samples(image, mode, static_cast<int>(width), static_cast<int>(height), channels);
  image.format = "PNG";
  image.reduced_from_16bit = sixteen && mode != PixelMode::kI16;
  const size_t pixels = static_cast<size_t>(width) * height;
  const uint8_t* in = job.buffer.data();
  if (mode == PixelMode::kI16) {
    std::memcpy(image.samples16.data(), in, pixels * 2);
  } else if (mode == PixelMode::kP) {
    uint8_t* out = image.samples.data();
    for (size_t i = 0; i < pixels; ++i) std::memcpy(out + i * 3, &job.palette[in[i] * 3], 3);
  } else if (mode == PixelMode::kRGBA && raw_channels == 2) {
    uint8_t* out = image.samples.data();
    for (size_t i = 0; i < pixels; ++i) {
      out[i * 4 + 0] = out[i * 4 + 1] = out[i * 4 + 2] = in[i * 2];
      out[i * 4 + 3] = in[i * 2 + 1];
    }
  } else {
    std::memcpy(image.samples.data(), in, pixels * channels);
  }
  return true;
}

}  // namespace

Result<DecodedImage> decode_png(const uint8_t* data, size_t size, const DecodeLimits& limits) {
  // The size limit applies as soon as the IHDR is seen, whatever follows it.
  if (size >= 24 && std::memcmp(data + 12, "IHDR", 4) == 0) {
    const auto be32 = [&](size_t o) {
      return (uint64_t{data[o]} << 24) | (uint64_t{data[o + 1]} << 16) |
             (uint64_t{data[o + 2]} << 8) | uint64_t{data[o + 3]};
    };
    VISTA_RETURN_IF_ERROR(check_dimensions("PNG", be32(16), be32(20), limits));
  }
  auto job = std::make_unique<PngJob>();
  job->data = data;
  job->size = size;
  job->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, job.get(), on_error, on_warning);
  if (!job->png) return Status::resource_exhausted("cannot create a PNG reader");
  job->info = png_create_info_struct(job->png);
  if (!job->info) {
    png_destroy_read_struct(&job->png, nullptr, nullptr);
    return Status::resource_exhausted("cannot create a PNG reader");
  }
  const bool completed = run(*job, limits);
  png_destroy_read_struct(&job->png, &job->info, nullptr);
  if (!completed) {
    if (job->ran_out) return Status::corruption(std::string(kTruncatedMessage) + " (PNG)");
    return Status::corruption("broken PNG file: " + job->error);
  }
  if (!job->status.is_ok()) return job->status;
  return std::move(job->image);
}

}  // namespace vista::encoder::internal
