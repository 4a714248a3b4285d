// Encoding 8-bit RGB pixels as PNG or JPEG, through libpng and libjpeg(-turbo), the libraries the
// decoders read with. Used for crops written for inspection (`vista preprocess`, lossless PNG)
// and for thumbnails served by the API (JPEG).
//
// Success: the encoded file's bytes. Failure: InvalidArgument for a malformed image buffer
// (width or height below 1, pixels.size() != width * height * 3) or a quality outside 1..100;
// Internal when the library reports an error (its message included).
//
// Thread-safety: reentrant; no global state.
#pragma once

#include <string>

#include "common/status.h"
#include "encoder/image/preprocess.h"

namespace vista::encoder {

Result<std::string> encode_png(const RgbImage& image);

// Baseline JPEG with libjpeg's defaults (4:2:0 chroma subsampling, ISLOW DCT).
Result<std::string> encode_jpeg(const RgbImage& image, int quality);

}  // namespace vista::encoder
