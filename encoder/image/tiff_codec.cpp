// TIFF (first page) through libtiff, mapped to Pillow's modes (TiffImagePlugin's OPEN_INFO
// table) for the layouts that occur in practice:
//   min-is-white/black 1-bit -> "1"; 2/4/8-bit -> "L" (inverted for min-is-white, 2/4-bit
//   scaled to 8); 16-bit -> "I;16"; signed 16/32-bit min-is-black -> "I"; 32-bit float
//   (min-is-white or min-is-black, never inverted) -> "F"; gray + unassociated alpha -> "LA";
//   RGB 8/16-bit with 0-3 extra samples -> "RGB" or "RGBA" (16-bit keeps the high byte;
//   associated alpha is un-premultiplied as Pillow's "RGBa" unpacker does; four samples and no
//   ExtraSamples tag is "RGBA"); palette 1/2/4/8-bit -> "P" (colormap entries / 256; an 8-bit
//   palette's unspecified extra sample is ignored); CMYK 8/16-bit -> "CMYK"; YCbCr -> "RGB"
//   via libtiff's conversion, as Pillow.
// A missing PhotometricInterpretation tag reads as min-is-white, Pillow's default. The
// Orientation tag is applied after decoding, as Pillow's load does. Other layouts (CIE L*a*b*
// and palette + alpha with their reasons, 12-bit, unsigned 32-bit, ...) are Unsupported.
#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <tiffio.h>

#include "encoder/image/codec_internal.h"

namespace vista::encoder::internal {
namespace {

struct MemoryFile : MemoryReader {
  std::string first_error;
};

tmsize_t mem_read(thandle_t handle, void* buf, tmsize_t n) {
  if (n <= 0) return 0;
  return static_cast<tmsize_t>(static_cast<MemoryFile*>(handle)->read(buf, n));
}
tmsize_t mem_write(thandle_t, void*, tmsize_t) {
  return 0;
}
toff_t mem_seek(thandle_t handle, toff_t off, int whence) {
  auto* f = static_cast<MemoryFile*>(handle);
  uint64_t base = whence == SEEK_CUR ? f->offset : whence == SEEK_END ? f->size : 0;
  uint64_t target = base + off;
  if (target > (uint64_t{1} << 62)) return static_cast<toff_t>(-1);
  f->offset = static_cast<size_t>(target);
  return target;
}
int mem_close(thandle_t) {
  return 0;
}
toff_t mem_size(thandle_t handle) {
  return static_cast<MemoryFile*>(handle)->size;
}
int mem_map(thandle_t, void**, toff_t*) {
  return 0;
}
void mem_unmap(thandle_t, void*, toff_t) {}

int on_error(TIFF*, void* user, const char* module, const char* fmt, va_list ap) {
  auto* f = static_cast<MemoryFile*>(user);
  if (f->first_error.empty()) {
    char buf[512];
    std::vsnprintf(buf, sizeof(buf), fmt, ap);
    f->first_error = std::string(module ? module : "libtiff") + ": " + buf;
  }
  return 1;  // handled: keep libtiff from printing to stderr
}
int on_warning(TIFF*, void*, const char*, const char*, va_list) {
  return 1;
}

struct TiffCloser {
  void operator()(TIFF* tif) const { TIFFClose(tif); }
};

Status tiff_failure(const MemoryFile& f, const std::string& what) {
  if (f.ran_out) return Status::corruption(std::string(kTruncatedMessage) + " (TIFF " + what + ")");
  return Status::corruption("broken TIFF file: " + what +
                            (f.first_error.empty() ? "" : " (" + f.first_error + ")"));
}

// Reads every sample of the first page into `planes` (one buffer for contiguous data, one per
// sample for separate planes), each row `row_bytes[p]` long.
Status read_planes(TIFF* tif, const MemoryFile& f, uint32_t width, uint32_t height, int spp,
                   int bps, bool separate, std::vector<std::vector<uint8_t>>* planes,
                   size_t* row_bytes) {
  const int nplanes = separate ? spp : 1;
  const int samples_per_plane = separate ? 1 : spp;
  *row_bytes = (static_cast<size_t>(width) * samples_per_plane * bps + 7) / 8;
  planes->assign(nplanes, std::vector<uint8_t>(*row_bytes * height));
  if (TIFFIsTiled(tif)) {
    if (bps < 8) return Status::unsupported("tiled TIFF with fewer than 8 bits per sample");
    uint32_t tw = 0, th = 0;
    TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw);
    TIFFGetField(tif, TIFFTAG_TILELENGTH, &th);
    if (tw == 0 || th == 0) return tiff_failure(f, "tile size is zero");
    const tmsize_t tile_size = TIFFTileSize(tif);
    if (tile_size <= 0) return tiff_failure(f, "invalid tile size");
    std::vector<uint8_t> tile(static_cast<size_t>(tile_size));
    const size_t pixel_bytes = static_cast<size_t>(samples_per_plane) * bps / 8;
    const size_t tile_row = static_cast<size_t>(tw) * pixel_bytes;
    for (int p = 0; p < nplanes; ++p) {
      for (uint32_t y = 0; y < height; y += th) {
        for (uint32_t x = 0; x < width; x += tw) {
          const uint32_t index = TIFFComputeTile(tif, x, y, 0, static_cast<uint16_t>(p));
          if (TIFFReadEncodedTile(tif, index, tile.data(), tile_size) < 0) {
            return tiff_failure(f, "cannot read tile " + std::to_string(index));
          }
          const uint32_t copy_w = std::min(tw, width - x);
          const uint32_t copy_h = std::min(th, height - y);
          if (tile_row * copy_h > tile.size()) return tiff_failure(f, "tile too small");
          for (uint32_t r = 0; r < copy_h; ++r) {
            std::memcpy((*planes)[p].data() + (y + r) * *row_bytes + x * pixel_bytes,
                        tile.data() + r * tile_row, copy_w * pixel_bytes);
          }
        }
      }
    }
    return Status::ok();
  }
  uint32_t rows_per_strip = height;
  TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &rows_per_strip);
  if (rows_per_strip == 0 || rows_per_strip > height) rows_per_strip = height;
  const uint32_t strips_per_plane = (height + rows_per_strip - 1) / rows_per_strip;
  const tmsize_t strip_size = TIFFStripSize(tif);
  if (strip_size <= 0) return tiff_failure(f, "invalid strip size");
  std::vector<uint8_t> strip(static_cast<size_t>(strip_size));
  for (int p = 0; p < nplanes; ++p) {
    for (uint32_t s = 0; s < strips_per_plane; ++s) {
      const uint32_t index = static_cast<uint32_t>(p) * strips_per_plane + s;
      const tmsize_t got = TIFFReadEncodedStrip(tif, index, strip.data(), strip_size);
      if (got < 0) return tiff_failure(f, "cannot read strip " + std::to_string(index));
      const uint32_t y0 = s * rows_per_strip;
      const uint32_t rows = std::min(rows_per_strip, height - y0);
      const size_t need = rows * *row_bytes;
      if (static_cast<size_t>(got) < need) {
        return tiff_failure(f, "strip " + std::to_string(index) + " holds too few rows");
      }
      std::memcpy((*planes)[p].data() + y0 * *row_bytes, strip.data(), need);
    }
  }
  return Status::ok();
}

// Sample `s` of pixel `x` in row `y`, as an unsigned value of `bps` bits.
struct SampleReader {
  const std::vector<std::vector<uint8_t>>& planes;
  size_t row_bytes;
  int spp;
  int bps;
  bool separate;
  uint32_t get(uint32_t x, uint32_t y, int s) const {
    const uint8_t* row = (separate ? planes[s] : planes[0]).data() + y * row_bytes;
    const size_t index = separate ? x : static_cast<size_t>(x) * spp + s;
    switch (bps) {
      case 8: return row[index];
      case 16: {
        uint16_t v;
        std::memcpy(&v, row + index * 2, 2);  // libtiff has already swapped to native order
        return v;
      }
      case 32: {
        uint32_t v;
        std::memcpy(&v, row + index * 4, 4);
        return v;
      }
      default: {
        const size_t bit = index * bps;
        const int shift = 8 - bps - static_cast<int>(bit % 8);
        return (row[bit / 8] >> shift) & ((1u << bps) - 1);
      }
    }
  }
};

// libtiff's RGBA interface, as Pillow drives it for YCbCr that is not JPEG-compressed: told
// that the data is top-left, so that it flips nothing itself (the Orientation tag is applied
// afterwards, like for every other layout).
Status read_rgba(TIFF* tif, const MemoryFile& f, uint32_t width, uint32_t height,
                 DecodedImage* image) {
  char message[1024] = "";
  TIFFRGBAImage rgba;
  if (!TIFFRGBAImageOK(tif, message) || !TIFFRGBAImageBegin(&rgba, tif, 0, message)) {
    return tiff_failure(f, std::string("cannot convert YCbCr data: ") + message);
  }
  rgba.orientation = ORIENTATION_TOPLEFT;
  rgba.req_orientation = ORIENTATION_TOPLEFT;
  std::vector<uint32_t> raster(static_cast<size_t>(width) * height);
  const int ok = TIFFRGBAImageGet(&rgba, raster.data(), width, height);
  TIFFRGBAImageEnd(&rgba);
  if (!ok) return tiff_failure(f, "cannot convert YCbCr data");
  allocate_samples(*image, PixelMode::kRGB, static_cast<int>(width), static_cast<int>(height), 3);
  for (size_t i = 0; i < raster.size(); ++i) {
    image->samples[i * 3 + 0] = static_cast<uint8_t>(TIFFGetR(raster[i]));
    image->samples[i * 3 + 1] = static_cast<uint8_t>(TIFFGetG(raster[i]));
    image->samples[i * 3 + 2] = static_cast<uint8_t>(TIFFGetB(raster[i]));
  }
  return Status::ok();
}

}  // namespace

Result<DecodedImage> decode_tiff(const uint8_t* data, size_t size, const DecodeLimits& limits) {
  MemoryFile file;
  file.data = data;
  file.size = size;
  std::unique_ptr<TIFFOpenOptions, void (*)(TIFFOpenOptions*)> options(TIFFOpenOptionsAlloc(),
                                                                       TIFFOpenOptionsFree);
  if (!options) return Status::resource_exhausted("cannot allocate TIFF reader options");
  TIFFOpenOptionsSetErrorHandlerExtR(options.get(), on_error, &file);
  TIFFOpenOptionsSetWarningHandlerExtR(options.get(), on_warning, &file);
  // Bounds any single allocation libtiff makes (strip buffers, tag arrays).
  TIFFOpenOptionsSetMaxSingleMemAlloc(
      options.get(), static_cast<tmsize_t>(
                         std::min<uint64_t>(limits.max_pixels * 8 + (1 << 20), tmsize_t{1} << 40)));
  std::unique_ptr<TIFF, TiffCloser> tif(TIFFClientOpenExt("memory", "rm", &file, mem_read,
                                                          mem_write, mem_seek, mem_close, mem_size,
                                                          mem_map, mem_unmap, options.get()));
  if (!tif) return tiff_failure(file, "cannot read the header");

  uint32_t width = 0, height = 0;
  uint16_t bps = 1, spp = 1, photometric = 0, planar = PLANARCONFIG_CONTIG;
  uint16_t sample_format = SAMPLEFORMAT_UINT, compression = COMPRESSION_NONE;
  if (!TIFFGetField(tif.get(), TIFFTAG_IMAGEWIDTH, &width) ||
      !TIFFGetField(tif.get(), TIFFTAG_IMAGELENGTH, &height)) {
    return tiff_failure(file, "missing image size");
  }
  TIFFGetFieldDefaulted(tif.get(), TIFFTAG_BITSPERSAMPLE, &bps);
  TIFFGetFieldDefaulted(tif.get(), TIFFTAG_SAMPLESPERPIXEL, &spp);
  TIFFGetFieldDefaulted(tif.get(), TIFFTAG_PLANARCONFIG, &planar);
  TIFFGetFieldDefaulted(tif.get(), TIFFTAG_SAMPLEFORMAT, &sample_format);
  TIFFGetFieldDefaulted(tif.get(), TIFFTAG_COMPRESSION, &compression);
  // Pillow reads a missing PhotometricInterpretation as 0 (min-is-white).
  if (!TIFFGetField(tif.get(), TIFFTAG_PHOTOMETRIC, &photometric)) {
    photometric = PHOTOMETRIC_MINISWHITE;
  }
  // Only the tag as the file has it counts: for a missing tag libtiff invents "unspecified"
  // extra samples, but Pillow reads four RGB samples without the tag as RGBA.
  uint16_t extra_count = 0;
  uint16_t* extra_types = nullptr;
  const bool has_extra_tag =
      TIFFGetField(tif.get(), TIFFTAG_EXTRASAMPLES, &extra_count, &extra_types) == 1;
  const int first_extra = has_extra_tag && extra_count > 0 && extra_types ? extra_types[0] : -1;
  uint16_t orientation = ORIENTATION_TOPLEFT;
  TIFFGetField(tif.get(), TIFFTAG_ORIENTATION, &orientation);

  VISTA_RETURN_IF_ERROR(check_dimensions("TIFF", width, height, limits));
  const int w = static_cast<int>(width), h = static_cast<int>(height);
  const auto unsupported = [&]() {
    return Status::unsupported("unsupported TIFF layout (photometric " +
                               std::to_string(photometric) + ", " + std::to_string(spp) + "x" +
                               std::to_string(bps) + "-bit samples, sample format " +
                               std::to_string(sample_format) + ")");
  };
  if (photometric == PHOTOMETRIC_CIELAB) {
    return Status::unsupported(
        "TIFF in CIE L*a*b* colour (Pillow mode LAB) is not supported: Pillow converts LAB to RGB "
        "through LittleCMS colour management, whose exact output Vista does not reproduce");
  }
  const bool gray = photometric == PHOTOMETRIC_MINISWHITE || photometric == PHOTOMETRIC_MINISBLACK;
  const bool wide_gray = gray && spp == 1 && bps == 32 && sample_format == SAMPLEFORMAT_IEEEFP;
  const bool signed_gray = photometric == PHOTOMETRIC_MINISBLACK && spp == 1 &&
                           (bps == 16 || bps == 32) && sample_format == SAMPLEFORMAT_INT;
  if (sample_format != SAMPLEFORMAT_UINT && !wide_gray && !signed_gray) return unsupported();

  DecodedImage image;
  image.format = "TIFF";

  // YCbCr: libtiff converts, as in Pillow (JPEG-compressed through libjpeg, others via RGBA).
  if (photometric == PHOTOMETRIC_YCBCR && spp == 3 && bps == 8) {
    if (compression == COMPRESSION_JPEG && planar == PLANARCONFIG_CONTIG) {
      TIFFSetField(tif.get(), TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
      photometric = PHOTOMETRIC_RGB;
    } else {
      VISTA_RETURN_IF_ERROR(read_rgba(tif.get(), file, width, height, &image));
      apply_orientation(image, orientation);
      return image;
    }
  }

  // Pick Pillow's mode for the layout.
  PixelMode mode;
  bool invert = false;
  bool premultiplied = false;
  switch (photometric) {
    case PHOTOMETRIC_MINISWHITE:
    case PHOTOMETRIC_MINISBLACK:
      if (wide_gray) {
        mode = PixelMode::kF;  // Pillow does not invert float min-is-white
      } else if (signed_gray) {
        mode = PixelMode::kI;
      } else if (spp == 1 && bps == 16) {
        mode = PixelMode::kI16;  // Pillow does not invert 16-bit min-is-white either
      } else if (spp == 1 && (bps == 1 || bps == 2 || bps == 4 || bps == 8)) {
        mode = bps == 1 ? PixelMode::k1 : PixelMode::kL;
        invert = photometric == PHOTOMETRIC_MINISWHITE;
      } else if (spp == 2 && bps == 8 && photometric == PHOTOMETRIC_MINISBLACK &&
                 first_extra == EXTRASAMPLE_UNASSALPHA) {
        mode = PixelMode::kLA;
      } else {
        return unsupported();
      }
      break;
    case PHOTOMETRIC_RGB:
      if ((bps != 8 && bps != 16) || spp < 3 || spp > 6) return unsupported();
      if (spp == 3) {
        mode = PixelMode::kRGB;
      } else if (!has_extra_tag) {
        // Pillow's "missing ExtraSamples" entries: four samples are RGBA, more are refused.
        if (spp != 4) return unsupported();
        mode = PixelMode::kRGBA;
      } else if (first_extra == EXTRASAMPLE_UNASSALPHA) {
        mode = PixelMode::kRGBA;
      } else if (first_extra == EXTRASAMPLE_ASSOCALPHA) {
        mode = PixelMode::kRGBA;
        premultiplied = true;
      } else {
        mode = PixelMode::kRGB;
      }
      break;
    case PHOTOMETRIC_PALETTE:
      if (spp == 2 && bps == 8 && first_extra == EXTRASAMPLE_UNASSALPHA) {
        // Pillow opens it as "PA", but its bicubic resize of PA keeps the indices and drops
        // the palette, so the reference crop of any resized PA image is black.
        return Status::unsupported(
            "TIFF with palette + alpha (Pillow mode PA) is not supported: Pillow loses the "
            "palette when it resizes a PA image, so the reference crop is black; convert the "
            "file to RGBA");
      } else if (spp == 2 && bps == 8 && first_extra == EXTRASAMPLE_UNSPECIFIED) {
        mode = PixelMode::kP;  // Pillow's "PX": the extra sample is ignored
      } else if (spp != 1 || (bps != 1 && bps != 2 && bps != 4 && bps != 8)) {
        return unsupported();
      } else {
        mode = PixelMode::kP;
      }
      break;
    case PHOTOMETRIC_SEPARATED:
      if ((bps != 8 && bps != 16) || spp < 4 || spp > 6) return unsupported();
      mode = PixelMode::kCMYK;
      break;
    default: return unsupported();
  }

  std::vector<std::vector<uint8_t>> planes;
  size_t row_bytes = 0;
  VISTA_RETURN_IF_ERROR(read_planes(tif.get(), file, width, height, spp, bps,
                                    planar == PLANARCONFIG_SEPARATE, &planes, &row_bytes));
  const SampleReader in{planes, row_bytes, spp, bps, planar == PLANARCONFIG_SEPARATE};
  // 8-bit value of a sample: the high byte for 16-bit data.
  auto to8 = [&](uint32_t v) { return static_cast<uint8_t>(bps == 16 ? v >> 8 : v); };

  switch (mode) {
    case PixelMode::kI:
      allocate_samples(image, mode, w, h, 1);
      for (uint32_t y = 0; y < height; ++y) {
        for (uint32_t x = 0; x < width; ++x) {
          const uint32_t v = in.get(x, y, 0);
          image.samples_i32[static_cast<size_t>(y) * w + x] =
              bps == 16 ? static_cast<int16_t>(v) : static_cast<int32_t>(v);
        }
      }
      break;
    case PixelMode::kF:
      allocate_samples(image, mode, w, h, 1);
      for (uint32_t y = 0; y < height; ++y) {
        for (uint32_t x = 0; x < width; ++x) {
          const uint32_t v = in.get(x, y, 0);
          std::memcpy(&image.samples_f32[static_cast<size_t>(y) * w + x], &v, 4);
        }
      }
      break;
    case PixelMode::kI16:
      allocate_samples(image, mode, w, h, 1);
      for (uint32_t y = 0; y < height; ++y) {
        for (uint32_t x = 0; x < width; ++x) {
          image.samples16[static_cast<size_t>(y) * w + x] = static_cast<uint16_t>(in.get(x, y, 0));
        }
      }
      break;
    case PixelMode::k1:
    case PixelMode::kL: {
      allocate_samples(image, mode, w, h, 1);
      const uint32_t max = (1u << bps) - 1;
      for (uint32_t y = 0; y < height; ++y) {
        for (uint32_t x = 0; x < width; ++x) {
          uint32_t v = in.get(x, y, 0);
          if (invert) v = max - v;
          image.samples[static_cast<size_t>(y) * w + x] = static_cast<uint8_t>(v * 255 / max);
        }
      }
      break;
    }
    case PixelMode::kLA:
      allocate_samples(image, mode, w, h, 2);
      for (uint32_t y = 0; y < height; ++y) {
        for (uint32_t x = 0; x < width; ++x) {
          const size_t o = (static_cast<size_t>(y) * w + x) * 2;
          image.samples[o] = to8(in.get(x, y, 0));
          image.samples[o + 1] = to8(in.get(x, y, 1));
        }
      }
      break;
    case PixelMode::kRGB:
    case PixelMode::kRGBA:
    case PixelMode::kCMYK: {
      const int channels = mode == PixelMode::kRGB ? 3 : 4;
      allocate_samples(image, mode, w, h, channels);
      image.reduced_from_16bit = bps == 16;
      for (uint32_t y = 0; y < height; ++y) {
        for (uint32_t x = 0; x < width; ++x) {
          uint8_t* o = &image.samples[(static_cast<size_t>(y) * w + x) * channels];
          for (int c = 0; c < channels; ++c) o[c] = to8(in.get(x, y, c));
          if (premultiplied) {
            const int a = o[3];
            if (a == 0) {
              o[0] = o[1] = o[2] = 0;
            } else if (a != 255) {
              for (int c = 0; c < 3; ++c)
                o[c] = static_cast<uint8_t>(std::min(255, o[c] * 255 / a));
            }
          }
        }
      }
      break;
    }
    case PixelMode::kP: {
      uint16_t *red = nullptr, *green = nullptr, *blue = nullptr;
      if (!TIFFGetField(tif.get(), TIFFTAG_COLORMAP, &red, &green, &blue)) {
        return tiff_failure(file, "palette image without a colormap");
      }
      const int entries = 1 << bps;
      uint8_t table[256 * 3] = {0};
      for (int i = 0; i < entries; ++i) {
        table[i * 3 + 0] = static_cast<uint8_t>(red[i] / 256);
        table[i * 3 + 1] = static_cast<uint8_t>(green[i] / 256);
        table[i * 3 + 2] = static_cast<uint8_t>(blue[i] / 256);
      }
      allocate_samples(image, mode, w, h, 3);
      for (uint32_t y = 0; y < height; ++y) {
        for (uint32_t x = 0; x < width; ++x) {
          std::memcpy(&image.samples[(static_cast<size_t>(y) * w + x) * 3],
                      &table[in.get(x, y, 0) * 3], 3);
        }
      }
      break;
    }
    default: return unsupported();
  }
  apply_orientation(image, orientation);
  return image;
}

}  // namespace vista::encoder::internal
