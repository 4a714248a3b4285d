// GIF through giflib, first frame only, reproducing what Pillow's GifImagePlugin builds for it:
//   - the canvas is the logical screen, grown if the first frame extends past it;
//   - pixels outside the frame are the frame's transparent index if it has one, else 0;
//   - mode "P" with the frame's local palette or else the global one; mode "L" (index = gray)
//     when there is no palette or the palette is the identity gray ramp (Pillow drops those);
//   - palette entries past the colour table are black;
//   - LZW minimum code sizes 9 to 12, which giflib refuses, go through a decoder that follows
//     Pillow's (libImaging/GifDecode.c): codes up to 12 bits, literal codes above 255 keep their
//     low byte.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <gif_lib.h>

#include "encoder/image/codec_internal.h"

namespace vista::encoder::internal {
namespace {

using Reader = MemoryReader;

int read_bytes(GifFileType* gif, GifByteType* out, int length) {
  if (length <= 0) return 0;
  return static_cast<int>(static_cast<Reader*>(gif->UserData)->read(out, length));
}

struct GifCloser {
  void operator()(GifFileType* gif) const {
    int error = 0;
    DGifCloseFile(gif, &error);
  }
};

// Pillow keeps a palette only if it is not the identity ramp (0,0,0), (1,1,1), ...
bool palette_needed(const ColorMapObject* map) {
  for (int i = 0; i < map->ColorCount; ++i) {
    const GifColorType& c = map->Colors[i];
    if (!(c.Red == i && c.Green == i && c.Blue == i)) return true;
  }
  return false;
}

Status gif_failure(const Reader& reader, int error) {
  if (reader.ran_out || error == D_GIF_ERR_READ_FAILED || error == D_GIF_ERR_EOF_TOO_SOON) {
    return Status::corruption(std::string(kTruncatedMessage) + " (GIF)");
  }
  const char* text = GifErrorString(error);
  return Status::corruption(std::string("broken GIF file: ") + (text ? text : "unknown error"));
}

// The LZW stream of one frame with a minimum code size of 9 to 12, as Pillow's GifDecode.c reads
// it: sub-blocks are consumed only when complete, a clear code right after a clear is ignored,
// the string table stops growing at 4096 entries and the code width at 12 bits. Rows are filled
// in `rows` order (interlaced or not) until the frame is complete.
Status decode_wide_lzw(const Reader& reader, int min_code_size, int frame_width,
                       const std::vector<int>& rows, std::vector<uint8_t>* frame) {
  constexpr int kMaxBits = 12;
  constexpr int kTableSize = 1 << kMaxBits;
  const int clear = 1 << min_code_size;
  const int end = clear + 1;
  std::vector<uint8_t> suffix(kTableSize, 0);
  std::vector<uint16_t> prefix(kTableSize, 0);
  std::vector<uint8_t> stack(kTableSize);  // a string, written from the right

  const uint8_t* in = reader.data;
  size_t pos = reader.offset;
  size_t block_left = 0;
  uint32_t bit_buffer = 0;
  int bit_count = 0;
  int code_size = 0, code_mask = 0, next = 0, last_code = 0;
  uint8_t last_data = 0;
  bool after_clear = true;
  auto reset = [&]() {
    next = clear + 2;
    code_size = min_code_size + 1;
    code_mask = (1 << code_size) - 1;
    after_clear = true;
  };
  reset();

  const size_t total = rows.size() * static_cast<size_t>(frame_width);
  size_t written = 0;
  auto emit = [&](uint8_t v) {
    const size_t row = written / frame_width;
    (*frame)[static_cast<size_t>(rows[row]) * frame_width + written % frame_width] = v;
    ++written;
  };
  const Status truncated = Status::corruption(std::string(kTruncatedMessage) + " (GIF)");
  const Status broken = Status::corruption("broken GIF file: invalid LZW code");

  while (written < total) {
    while (bit_count < code_size) {
      if (block_left == 0) {
        // Pillow waits for a whole sub-block before reading any of it.
        if (pos >= reader.size || reader.size - pos < static_cast<size_t>(in[pos]) + 1) {
          return truncated;
        }
        block_left = in[pos++];
        continue;
      }
      bit_buffer |= static_cast<uint32_t>(in[pos++]) << bit_count;
      bit_count += 8;
      --block_left;
    }
    int code = static_cast<int>(bit_buffer & static_cast<uint32_t>(code_mask));
    bit_buffer >>= code_size;
    bit_count -= code_size;

    if (code == clear) {
      if (!after_clear) reset();
      continue;
    }
    if (code == end) return truncated;  // the frame ends before its last pixel
    if (after_clear) {
      if (code > clear) return broken;
      last_data = static_cast<uint8_t>(code);
      last_code = code;
      after_clear = false;
      emit(last_data);
      continue;
    }
    const int this_code = code;
    if (code > next) return broken;
    int top = kTableSize;
    if (code == next) {
      stack[--top] = last_data;
      code = last_code;
    }
    while (code >= clear) {
      if (top <= 0 || code >= kTableSize) return broken;
      stack[--top] = suffix[code];
      code = prefix[code];
    }
    last_data = static_cast<uint8_t>(code);
    if (next < kTableSize) {
      suffix[next] = static_cast<uint8_t>(code);
      prefix[next] = static_cast<uint16_t>(last_code);
      if (next == code_mask && code_size < kMaxBits) {
        ++code_size;
        code_mask = (1 << code_size) - 1;
      }
      ++next;
    }
    last_code = this_code;
    emit(last_data);
    for (int i = top; i < kTableSize && written < total; ++i) emit(stack[i]);
  }
  return Status::ok();
}

}  // namespace

Result<DecodedImage> decode_gif(const uint8_t* data, size_t size, const DecodeLimits& limits) {
  Reader reader{data, size};
  int error = 0;
  std::unique_ptr<GifFileType, GifCloser> gif(DGifOpen(&reader, read_bytes, &error));
  if (!gif) return gif_failure(reader, error);

  uint64_t width = static_cast<uint64_t>(std::max(0, gif->SWidth));
  uint64_t height = static_cast<uint64_t>(std::max(0, gif->SHeight));
  const ColorMapObject* global_palette =
      gif->SColorMap && palette_needed(gif->SColorMap) ? gif->SColorMap : nullptr;
  int transparency = -1;

  for (;;) {
    GifRecordType record = UNDEFINED_RECORD_TYPE;
    if (DGifGetRecordType(gif.get(), &record) == GIF_ERROR) return gif_failure(reader, gif->Error);
    if (record == TERMINATE_RECORD_TYPE) {
      return Status::corruption("broken GIF file: no image found before the trailer");
    }
    if (record == EXTENSION_RECORD_TYPE) {
      int code = 0;
      GifByteType* block = nullptr;
      if (DGifGetExtension(gif.get(), &code, &block) == GIF_ERROR) {
        return gif_failure(reader, gif->Error);
      }
      // Graphic control extension: block[0] is the length, then flags, delay (2), index.
      if (code == GRAPHICS_EXT_FUNC_CODE && block && block[0] >= 4 && (block[1] & 1)) {
        transparency = block[4];
      }
      while (block) {
        if (DGifGetExtensionNext(gif.get(), &block) == GIF_ERROR) {
          return gif_failure(reader, gif->Error);
        }
      }
      continue;
    }
    if (record != IMAGE_DESC_RECORD_TYPE) continue;

    // giflib refuses an LZW minimum code size above 8 right after reading the descriptor, the
    // colour table and that size byte (unbuffered, so it is the last byte read); Pillow decodes
    // sizes up to 12, and so does decode_wide_lzw().
    int wide_code_size = 0;
    if (DGifGetImageDesc(gif.get()) == GIF_ERROR) {
      const int code_size = reader.offset > 0 ? reader.data[reader.offset - 1] : 0;
      if (reader.ran_out || gif->Error != D_GIF_ERR_READ_FAILED || code_size <= 8 ||
          code_size > 12) {
        return gif_failure(reader, gif->Error);
      }
      wide_code_size = code_size;
    }
    const GifImageDesc& desc = gif->Image;
    const int x0 = desc.Left, y0 = desc.Top;
    const int fw = desc.Width, fh = desc.Height;
    if (fw < 0 || fh < 0 || x0 < 0 || y0 < 0) {
      return Status::corruption("broken GIF file: negative frame geometry");
    }
    width = std::max<uint64_t>(width, static_cast<uint64_t>(x0) + fw);
    height = std::max<uint64_t>(height, static_cast<uint64_t>(y0) + fh);
    VISTA_RETURN_IF_ERROR(check_dimensions("GIF", width, height, limits));

    const ColorMapObject* palette = global_palette;
    if (desc.ColorMap) palette = palette_needed(desc.ColorMap) ? desc.ColorMap : nullptr;

    const int w = static_cast<int>(width), h = static_cast<int>(height);
    std::vector<uint8_t> indices(static_cast<size_t>(w) * h,
                                 static_cast<uint8_t>(transparency >= 0 ? transparency : 0));
    std::vector<GifPixelType> line(static_cast<size_t>(fw) + 1);
    // Interlaced frames arrive in four passes: rows 0,8,.. then 4,12,.. then 2,6,.. then odd.
    std::vector<int> order;
    order.reserve(fh);
    if (desc.Interlace) {
      static const int kStart[] = {0, 4, 2, 1};
      static const int kStep[] = {8, 8, 4, 2};
      for (int pass = 0; pass < 4; ++pass) {
        for (int y = kStart[pass]; y < fh; y += kStep[pass]) order.push_back(y);
      }
    } else {
      for (int y = 0; y < fh; ++y) order.push_back(y);
    }
    if (wide_code_size > 0) {
      std::vector<uint8_t> frame(static_cast<size_t>(fw) * fh,
                                 static_cast<uint8_t>(transparency >= 0 ? transparency : 0));
      if (fw > 0) {
        VISTA_RETURN_IF_ERROR(decode_wide_lzw(reader, wide_code_size, fw, order, &frame));
      }
      for (int row = 0; row < fh; ++row) {
        std::memcpy(&indices[static_cast<size_t>(y0 + row) * w + x0],
                    &frame[static_cast<size_t>(row) * fw], fw);
      }
    } else {
      for (int row : order) {
        if (fw > 0 && DGifGetLine(gif.get(), line.data(), fw) == GIF_ERROR) {
          return gif_failure(reader, gif->Error);
        }
        std::memcpy(&indices[static_cast<size_t>(y0 + row) * w + x0], line.data(), fw);
      }
    }

    DecodedImage image;
    image.format = "GIF";
    if (palette) {
      allocate_samples(image, PixelMode::kP, w, h, 3);
      uint8_t table[256 * 3] = {0};
      for (int i = 0; i < palette->ColorCount && i < 256; ++i) {
        table[i * 3 + 0] = palette->Colors[i].Red;
        table[i * 3 + 1] = palette->Colors[i].Green;
        table[i * 3 + 2] = palette->Colors[i].Blue;
      }
      uint8_t* out = image.samples.data();
      for (size_t i = 0; i < indices.size(); ++i)
        std::memcpy(out + i * 3, &table[indices[i] * 3], 3);
    } else {
      allocate_samples(image, PixelMode::kL, w, h, 1);
      image.samples = std::move(indices);
    }
    return image;
  }
}

}  // namespace vista::encoder::internal
