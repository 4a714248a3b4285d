// Internal to vista_image: Pillow's resampling (libImaging/Resample.c and the NEAREST affine
// scaling of Geometry.c) re-implemented for exact output, restricted to a window of the
// resized image. Every output pixel depends only on its own coefficients, so computing just
// the centre-crop window gives the same bytes as resizing everything and cropping, with memory
// and time bounded by the crop instead of the (possibly huge) resized image.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace vista::encoder::internal {

// Interleaved 8-bit samples (1 to 4 channels), row-major, tightly packed.
struct Image8 {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<uint8_t> data;
};

// A borrowed, read-only image of the same layout.
struct Image8View {
  const uint8_t* data = nullptr;
  int width = 0;
  int height = 0;
  int channels = 0;
};

// Single-channel samples wider than 8 bits: Pillow's "I;16" (uint16_t), "I" (int32_t) and
// "F" (float).
template <typename T>
struct WideImage {
  int width = 0;
  int height = 0;
  std::vector<T> data;
};
using Image16 = WideImage<uint16_t>;

// The part [x0, x1) x [y0, y1) of an out_width x out_height resized image.
struct ResizeWindow {
  int out_width = 0;
  int out_height = 0;
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

// Which code runs the 8-bit horizontal pass: kAuto picks AVX2 where the CPU has it, kPortable
// the plain loop everywhere. Both give the same bytes; tests compare them.
enum class Simd { kAuto, kPortable };

// Image.resize(..., BICUBIC) for 8-bit modes, including Pillow's "tall image" rule (height more
// than 100x the width and shrinking: vertical pass first). Returns the window only.
Image8 resize_bicubic(const Image8View& in, const ResizeWindow& window, Simd simd = Simd::kAuto);

// The same for single-channel wide images, all with double accumulation per pass:
//   uint16_t ("I;16"): rounded and clipped to 0..65535;
//   int32_t ("I"): rounded half away from zero, without clipping (a sum outside the int32
//     range becomes INT32_MIN, as Pillow's conversion does on x86-64);
//   float ("F"): the sum narrowed to float.
template <typename T>
WideImage<T> resize_bicubic(const T* data, int width, int height, const ResizeWindow& window);

// Image.resize(..., NEAREST), Pillow's rule for "P" and "1" images.
Image8 resize_nearest(const Image8View& in, const ResizeWindow& window);

// Pillow's RGBA -> RGBa (premultiply) and RGBa -> RGBA (un-premultiply) for images whose last
// channel is alpha (2 or 4 channels), in place.
void premultiply_alpha(Image8& image);
void unpremultiply_alpha(Image8& image);

}  // namespace vista::encoder::internal
