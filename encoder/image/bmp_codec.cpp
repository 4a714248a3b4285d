// BMP, parsed and unpacked here because no library reproduces Pillow's reading of it: the mode
// depends on the palette ("1" or "L" for exact gray ramps, else "P", which Pillow resizes with
// NEAREST), 16-bit pixels expand as v * 255 / 31 (or / 63), 32-bit BI_RGB ignores the fourth
// byte, BITFIELDS are accepted only for Pillow's mask layouts, and RLE4/RLE8 follow Pillow's
// decoder (rows padded with index 0, deltas skip with 0, stop at end-of-bitmap).
#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "encoder/image/codec_internal.h"

namespace vista::encoder::internal {
namespace {

uint32_t u32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
uint16_t u16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] | (p[1] << 8));
}

constexpr uint32_t kRaw = 0, kRle8 = 1, kRle4 = 2, kBitfields = 3;

Status truncated(const char* what) {
  return Status::corruption(std::string(kTruncatedMessage) + " (BMP " + what + ")");
}

// Byte positions of R, G, B and A (-1: none) inside a 32-bit pixel, from Pillow's table.
struct Layout32 {
  int r, g, b, a;
};

bool layout_from_masks(uint32_t r, uint32_t g, uint32_t b, uint32_t a, Layout32* out) {
  struct Entry {
    uint32_t r, g, b, a;
    Layout32 layout;
  };
  static const Entry kTable[] = {
      {0xFF0000, 0xFF00, 0xFF, 0x0, {2, 1, 0, -1}},        // BGRX
      {0xFF000000, 0xFF0000, 0xFF00, 0x0, {3, 2, 1, -1}},  // XBGR
      {0xFF000000, 0xFF00, 0xFF, 0x0, {3, 1, 0, -1}},      // BGXR
      {0xFF000000, 0xFF0000, 0xFF00, 0xFF, {3, 2, 1, 0}},  // ABGR
      {0xFF, 0xFF00, 0xFF0000, 0xFF000000, {0, 1, 2, 3}},  // RGBA
      {0xFF0000, 0xFF00, 0xFF, 0xFF000000, {2, 1, 0, 3}},  // BGRA
      {0xFF000000, 0xFF00, 0xFF, 0xFF0000, {3, 1, 0, 2}},  // BGAR
      {0x0, 0x0, 0x0, 0x0, {2, 1, 0, 3}},                  // BGRA
  };
  for (const Entry& e : kTable) {
    if (e.r == r && e.g == g && e.b == b && e.a == a) {
      *out = e.layout;
      return true;
    }
  }
  return false;
}

}  // namespace

Result<DecodedImage> decode_bmp(const uint8_t* data, size_t size, const DecodeLimits& limits) {
  if (size < 18) return truncated("file header");
  const uint32_t data_offset_field = u32(data + 10);
  const uint32_t header_size = u32(data + 14);
  if (header_size != 12 && header_size != 40 && header_size != 52 && header_size != 56 &&
      header_size != 64 && header_size != 108 && header_size != 124) {
    return Status::unsupported("unsupported BMP header type (" + std::to_string(header_size) + ")");
  }
  if (size < 14 + static_cast<size_t>(header_size)) return truncated("info header");
  const uint8_t* h = data + 18;  // header bytes after the size field
  size_t pos = 14 + header_size;

  uint64_t width = 0, height = 0;
  uint32_t bits = 0, compression = kRaw, colors = 0, palette_padding = 4;
  bool top_down = false;
  uint32_t r_mask = 0, g_mask = 0, b_mask = 0, a_mask = 0;
  if (header_size == 12) {
    width = u16(h);
    height = u16(h + 2);
    bits = u16(h + 6);
    palette_padding = 3;
  } else {
    top_down = h[7] == 0xFF;
    width = u32(h);
    height = top_down ? (uint64_t{1} << 32) - u32(h + 4) : u32(h + 4);
    bits = u16(h + 10);
    compression = u32(h + 12);
    colors = u32(h + 28);
    if (compression == kBitfields) {
      if (header_size - 4 >= 48) {
        r_mask = u32(h + 36);
        g_mask = u32(h + 40);
        b_mask = u32(h + 44);
        if (header_size - 4 >= 52) a_mask = u32(h + 48);
      } else {
        if (size < pos + 12) return truncated("bit masks");
        r_mask = u32(data + pos);
        g_mask = u32(data + pos + 4);
        b_mask = u32(data + pos + 8);
        pos += 12;
      }
    }
  }
  if (colors == 0) colors = bits < 32 ? (1u << bits) : 0;

  // Pillow's mode and pixel layout.
  enum class Kind { kPalette, kBgr24, kBgrx32, kMasks32, kBgr15, kBgr16 } kind;
  Layout32 layout{2, 1, 0, -1};
  switch (bits) {
    case 1:
    case 4:
    case 8: kind = Kind::kPalette; break;
    case 16: kind = Kind::kBgr15; break;
    case 24: kind = Kind::kBgr24; break;
    case 32: kind = Kind::kBgrx32; break;
    default:
      return Status::unsupported("unsupported BMP pixel depth (" + std::to_string(bits) + ")");
  }
  if (compression == kBitfields) {
    if (bits == 32 && layout_from_masks(r_mask, g_mask, b_mask, a_mask, &layout)) {
      kind = Kind::kMasks32;
    } else if (bits == 24 && r_mask == 0xFF0000 && g_mask == 0xFF00 && b_mask == 0xFF) {
      kind = Kind::kBgr24;
    } else if (bits == 16 && r_mask == 0xF800 && g_mask == 0x7E0 && b_mask == 0x1F) {
      kind = Kind::kBgr16;
    } else if (bits == 16 && r_mask == 0x7C00 && g_mask == 0x3E0 && b_mask == 0x1F) {
      kind = Kind::kBgr15;
    } else {
      return Status::unsupported("unsupported BMP bitfields layout");
    }
  } else if (compression == kRle8 || compression == kRle4) {
    if (kind != Kind::kPalette) return Status::unsupported("BMP run-length data needs a palette");
  } else if (compression != kRaw) {
    return Status::unsupported("unsupported BMP compression (" + std::to_string(compression) + ")");
  }

  PixelMode mode = PixelMode::kRGB;
  std::array<uint8_t, 256 * 3> palette{};  // black past the stored entries
  if (kind == Kind::kPalette) {
    if (colors == 0 || colors > 256) {
      return Status::unsupported("unsupported BMP palette size (" + std::to_string(colors) + ")");
    }
    if (size < pos + static_cast<size_t>(palette_padding) * colors) return truncated("palette");
    bool gray = true;
    for (uint32_t i = 0; i < colors; ++i) {
      const uint8_t* e = data + pos + static_cast<size_t>(i) * palette_padding;
      palette[i * 3 + 0] = e[2];
      palette[i * 3 + 1] = e[1];
      palette[i * 3 + 2] = e[0];
      const uint32_t expect = colors == 2 ? (i == 0 ? 0 : 255) : i;
      if (e[0] != expect || e[1] != expect || e[2] != expect) gray = false;
    }
    pos += static_cast<size_t>(palette_padding) * colors;
    mode = gray ? (colors == 2 ? PixelMode::k1 : PixelMode::kL) : PixelMode::kP;
  } else if (kind == Kind::kMasks32 && layout.a >= 0) {
    mode = PixelMode::kRGBA;
  }

  VISTA_RETURN_IF_ERROR(check_dimensions("BMP", width, height, limits));
  const int w = static_cast<int>(width), ht = static_cast<int>(height);

  // Pixel data starts at the offset from the file header; Pillow skips the palette when that
  // offset points just past the info header, and falls back to "after the palette" for 0.
  size_t offset = data_offset_field;
  if (offset == 14 + header_size && bits <= 8)
    offset += static_cast<size_t>(palette_padding) * colors;
  if (offset == 0) offset = pos;
  if (offset > size) return truncated("pixel data");

  const int channels = mode == PixelMode::kRGBA                             ? 4
                       : (mode == PixelMode::kP || mode == PixelMode::kRGB) ? 3
                                                                            : 1;
  DecodedImage image;
  allocate_samples(image, mode, w, ht, channels);
  image.format = "BMP";

  // Palette images first produce one index per pixel, top row first.
  auto emit_indices = [&](const std::vector<uint8_t>& indices) {
    uint8_t* out = image.samples.data();
    const size_t n = static_cast<size_t>(w) * ht;
    for (size_t i = 0; i < n; ++i) {
      const uint8_t v = indices[i];
      if (mode == PixelMode::kP) {
        std::memcpy(out + i * 3, &palette[v * 3], 3);
      } else {
        out[i] = palette[v * 3];  // gray ramps: the palette value is the gray level
      }
    }
  };

  if (compression == kRle8 || compression == kRle4) {
    const bool rle4 = compression == kRle4;
    const size_t dest = static_cast<size_t>(w) * ht;
    std::vector<uint8_t> rows;  // in file order (bottom-up unless top_down)
    rows.reserve(dest);
    size_t p = offset;
    int x = 0;
    while (rows.size() < dest) {
      if (p + 2 > size) break;
      int count = data[p];
      const uint8_t byte = data[p + 1];
      p += 2;
      if (count) {
        if (x + count > w) count = std::max(0, w - x);
        for (int i = 0; i < count; ++i) {
          rows.push_back(rle4 ? ((i % 2 == 0) ? byte >> 4 : byte & 0x0F) : byte);
        }
        x += count;
      } else if (byte == 0) {  // end of line
        while (rows.size() % w != 0) rows.push_back(0);
        x = 0;
      } else if (byte == 1) {  // end of bitmap
        break;
      } else if (byte == 2) {  // delta
        if (p + 2 > size) break;
        const size_t skip = data[p] + static_cast<size_t>(data[p + 1]) * w;
        p += 2;
        rows.insert(rows.end(), std::min(skip, dest - rows.size()), 0);
        x = static_cast<int>(rows.size() % w);
      } else {  // absolute run
        const size_t n = std::min(dest - rows.size(), static_cast<size_t>(byte));
        const size_t byte_count = rle4 ? (n + 1) / 2 : n;
        const size_t got = std::min(byte_count, size - p);
        if (rle4) {
          for (size_t i = 0; i < got; ++i) {
            rows.push_back(data[p + i] >> 4);
            if (i * 2 + 1 < n) rows.push_back(data[p + i] & 0x0F);
          }
        } else {
          rows.insert(rows.end(), data + p, data + p + got);
        }
        p += got;
        if (got < byte_count || rows.size() == dest) break;
        x += byte;
        if (p % 2 != 0) ++p;  // runs are padded to 16-bit words
      }
    }
    // Pillow hands the runs to its raw decoder, which refuses data that ends early.
    if (rows.size() < dest) return Status::corruption("broken BMP file: not enough image data");
    rows.resize(dest);
    std::vector<uint8_t> indices(dest);
    for (int y = 0; y < ht; ++y) {
      const int src = top_down ? y : ht - 1 - y;
      std::memcpy(&indices[static_cast<size_t>(y) * w], &rows[static_cast<size_t>(src) * w], w);
    }
    emit_indices(indices);
    return image;
  }

  const size_t stride = ((static_cast<size_t>(w) * bits + 31) >> 3) & ~static_cast<size_t>(3);
  // Pillow's raw decoder stops as soon as the last row's pixels are read, so the padding of
  // that row (the last bytes of the file) may be missing.
  const size_t row_bytes = (static_cast<size_t>(w) * bits + 7) / 8;
  if (stride * (ht - 1) + row_bytes > size - offset) return truncated("pixel data");
  std::vector<uint8_t> indices;
  if (kind == Kind::kPalette) indices.resize(static_cast<size_t>(w) * ht);
  uint8_t* out = image.samples.data();
  for (int y = 0; y < ht; ++y) {
    const uint8_t* row = data + offset + stride * (top_down ? y : ht - 1 - y);
    for (int x = 0; x < w; ++x) {
      const size_t o = static_cast<size_t>(y) * w + x;
      switch (kind) {
        case Kind::kPalette: {
          uint8_t v;
          if (bits == 8) {
            v = row[x];
          } else if (bits == 4) {
            v = (x % 2 == 0) ? row[x / 2] >> 4 : row[x / 2] & 0x0F;
          } else {
            v = (row[x / 8] >> (7 - x % 8)) & 1;
          }
          indices[o] = v;
          break;
        }
        case Kind::kBgr24:
          out[o * 3 + 0] = row[x * 3 + 2];
          out[o * 3 + 1] = row[x * 3 + 1];
          out[o * 3 + 2] = row[x * 3 + 0];
          break;
        case Kind::kBgrx32:
          out[o * 3 + 0] = row[x * 4 + 2];
          out[o * 3 + 1] = row[x * 4 + 1];
          out[o * 3 + 2] = row[x * 4 + 0];
          break;
        case Kind::kMasks32:
          out[o * channels + 0] = row[x * 4 + layout.r];
          out[o * channels + 1] = row[x * 4 + layout.g];
          out[o * channels + 2] = row[x * 4 + layout.b];
          if (layout.a >= 0) out[o * channels + 3] = row[x * 4 + layout.a];
          break;
        case Kind::kBgr15:
        case Kind::kBgr16: {
          const int px = u16(row + x * 2);
          const bool six = kind == Kind::kBgr16;
          out[o * 3 + 2] = static_cast<uint8_t>((px & 31) * 255 / 31);
          out[o * 3 + 1] =
              static_cast<uint8_t>(six ? ((px >> 5) & 63) * 255 / 63 : ((px >> 5) & 31) * 255 / 31);
          out[o * 3 + 0] = static_cast<uint8_t>(((px >> (six ? 11 : 10)) & 31) * 255 / 31);
          break;
        }
      }
    }
  }
  if (kind == Kind::kPalette) emit_indices(indices);
  return image;
}

}  // namespace vista::encoder::internal
