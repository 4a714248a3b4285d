// WebP through libwebp's animation decoder, which is what Pillow uses for every WebP file:
// the first frame composed on a transparent canvas, RGBA. Pillow reports "RGB" (dropping the
// fourth byte) when the bitstream declares no alpha, "RGBA" otherwise.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include <webp/decode.h>
#include <webp/demux.h>

#include "encoder/image/codec_internal.h"

namespace vista::encoder::internal {
namespace {

struct AnimDecoderDeleter {
  void operator()(WebPAnimDecoder* dec) const { WebPAnimDecoderDelete(dec); }
};

}  // namespace

Result<DecodedImage> decode_webp(const uint8_t* data, size_t size, const DecodeLimits& limits) {
  WebPBitstreamFeatures features;
  const VP8StatusCode status = WebPGetFeatures(data, size, &features);
  if (status == VP8_STATUS_NOT_ENOUGH_DATA) {
    return Status::corruption(std::string(kTruncatedMessage) + " (WebP header incomplete)");
  }
  if (status != VP8_STATUS_OK) {
    return Status::corruption("broken WebP file: cannot read its header (libwebp status " +
                              std::to_string(static_cast<int>(status)) + ")");
  }
  VISTA_RETURN_IF_ERROR(check_dimensions("WebP", static_cast<uint64_t>(features.width),
                                         static_cast<uint64_t>(features.height), limits));

  WebPData webp_data{data, size};
  WebPAnimDecoderOptions options;
  if (!WebPAnimDecoderOptionsInit(&options)) return Status::internal("libwebp version mismatch");
  options.color_mode = MODE_RGBA;
  options.use_threads = 0;
  std::unique_ptr<WebPAnimDecoder, AnimDecoderDeleter> decoder(
      WebPAnimDecoderNew(&webp_data, &options));
  if (!decoder) {
    return Status::corruption("broken WebP file: the container cannot be parsed (truncated?)");
  }
  WebPAnimInfo info;
  if (!WebPAnimDecoderGetInfo(decoder.get(), &info)) {
    return Status::corruption("broken WebP file: no canvas information");
  }
  VISTA_RETURN_IF_ERROR(check_dimensions("WebP", info.canvas_width, info.canvas_height, limits));
  uint8_t* rgba = nullptr;
  int timestamp = 0;
  if (!WebPAnimDecoderHasMoreFrames(decoder.get()) ||
      !WebPAnimDecoderGetNext(decoder.get(), &rgba, &timestamp) || rgba == nullptr) {
    return Status::corruption("broken WebP file: the first frame cannot be decoded (" +
                              std::string(kTruncatedMessage) + "?)");
  }

  const int width = static_cast<int>(info.canvas_width);
  const int height = static_cast<int>(info.canvas_height);
  const size_t pixels = static_cast<size_t>(width) * height;
  DecodedImage image;
  image.format = "WEBP";
  if (features.has_alpha) {
    allocate_samples(image, PixelMode::kRGBA, width, height, 4);
    std::memcpy(image.samples.data(), rgba, pixels * 4);
  } else {
    allocate_samples(image, PixelMode::kRGB, width, height, 3);
    uint8_t* out = image.samples.data();
    for (size_t i = 0; i < pixels; ++i) std::memcpy(out + i * 3, rgba + i * 4, 3);
  }
  return image;
}

}  // namespace vista::encoder::internal
