#include "encoder/image/pillow_resample.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace vista::encoder::internal {
namespace {

// Fractional bits of the fixed-point coefficients: 32 bits minus 8 for the sample minus 2 of
// headroom for negative lobes and sums above 1.
constexpr int kPrecisionBits = 32 - 8 - 2;
constexpr double kBicubicSupport = 2.0;

// Keys' cubic convolution kernel with a = -0.5; the evaluation order matters for exact output.
double bicubic(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// Filter taps for the outputs [begin, end) of one axis (Pillow's precompute_coeffs with the
// whole input as the source box).
struct AxisPlan {
  int ksize = 0;
  int begin = 0;
  std::vector<int> first;       // first input sample per output
  std::vector<int> count;       // number of taps per output
  std::vector<double> weights;  // ksize normalised weights per output
  std::vector<int32_t> fixed;   // the same in fixed point (8-bit passes)

  int outputs() const { return static_cast<int>(first.size()); }
  // Input range [lo, hi) that the outputs read.
  int lo() const { return first.empty() ? 0 : first.front(); }
  int hi() const { return first.empty() ? 0 : first.back() + count.back(); }
};

AxisPlan plan_axis(int in_size, int out_size, int begin, int end) {
  AxisPlan plan;
  plan.begin = begin;
  // Pillow passes the box as floats; keep that rounding for very large sizes.
  const float in0 = 0.0f;
  const float in1 = static_cast<float>(in_size);
  const double scale = static_cast<double>(in1 - in0) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = kBicubicSupport * filterscale;
  plan.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  const double inv_filterscale = 1.0 / filterscale;
  const int n = end - begin;
  plan.first.resize(n);
  plan.count.resize(n);
  plan.weights.assign(static_cast<size_t>(n) * plan.ksize, 0.0);
  plan.fixed.assign(static_cast<size_t>(n) * plan.ksize, 0);
  for (int i = 0; i < n; ++i) {
    const int xx = begin + i;
    const double center = in0 + (xx + 0.5) * scale;
    double ww = 0.0;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double* k = &plan.weights[static_cast<size_t>(i) * plan.ksize];
    for (int x = 0; x < xmax; ++x) {
      const double w = bicubic((x + xmin - center + 0.5) * inv_filterscale);
      k[x] = w;
      ww += w;
    }
    if (ww != 0.0) {
      for (int x = 0; x < xmax; ++x) k[x] /= ww;
    }
    int32_t* kf = &plan.fixed[static_cast<size_t>(i) * plan.ksize];
    for (int x = 0; x < plan.ksize; ++x) {
      kf[x] = k[x] < 0 ? static_cast<int32_t>(-0.5 + k[x] * (1 << kPrecisionBits))
                       : static_cast<int32_t>(0.5 + k[x] * (1 << kPrecisionBits));
    }
    plan.first[i] = xmin;
    plan.count[i] = std::max(xmax, 0);
  }
  return plan;
}

inline uint8_t clip8(int32_t v) {
  const int32_t shifted = v >> kPrecisionBits;  // arithmetic shift: floor, as Pillow's table
  return static_cast<uint8_t>(shifted < 0 ? 0 : shifted > 255 ? 255 : shifted);
}

// A read-only view of interleaved samples.
template <typename T>
struct View {
  const T* data;
  size_t stride;  // elements per row
  int channels;
};

// The horizontal pass is, with JPEG decoding, where preparing an image spends its time. Each row
// is first split into one int32 line per channel and every kernel is padded with zero taps to a
// multiple of kLanes, so that each output is a dot product over contiguous memory. On CPUs with
// AVX2, eight outputs are computed together and reduced, rounded and clipped in vector registers;
// elsewhere the compiler vectorises the portable loop as it can. Integer sums are exact in any
// order, so both give Pillow's samples one for one.
constexpr int kLanes = 8;

// Rows of `channels`-interleaved samples starting at the first column any output reads; output
// i reads from column offset[i] on, with kernel i at kernels + i * taps. `planes` holds channels
// lines of `width` int32 each, zero past `span`.
struct HorizontalRows {
  const uint8_t* in;
  size_t stride;
  int channels;
  int rows;
  int span;
  const int* offset;
  int n;
  const int32_t* kernels;
  int taps;
  int32_t* planes;
  size_t width;
  uint8_t* out;
};

// Splits `span` interleaved pixels into one int32 line per channel. Templated on the channel count
// so that the compiler vectorises it; always inlined so that it takes its caller's target.
template <int C>
__attribute__((always_inline)) inline void split_channels(const uint8_t* line, int span,
                                                          int32_t* planes, size_t width) {
  for (int x = 0; x < span; ++x) {
    for (int c = 0; c < C; ++c) planes[c * width + x] = line[x * C + c];
  }
}

__attribute__((always_inline)) inline void split_row(const HorizontalRows& h, int r) {
  const uint8_t* line = h.in + static_cast<size_t>(r) * h.stride;
  switch (h.channels) {
    case 1: split_channels<1>(line, h.span, h.planes, h.width); break;
    case 2: split_channels<2>(line, h.span, h.planes, h.width); break;
    case 3: split_channels<3>(line, h.span, h.planes, h.width); break;
    default: split_channels<4>(line, h.span, h.planes, h.width); break;
  }
}

// Output i of one channel line, rounded and clipped as Pillow does.
inline uint8_t horizontal_sample(const HorizontalRows& h, const int32_t* plane, int i) {
  const int32_t* a = plane + h.offset[i];
  const int32_t* k = h.kernels + static_cast<size_t>(i) * h.taps;
  int32_t acc[kLanes] = {0};
  for (int v = 0; v < h.taps; v += kLanes) {
    for (int l = 0; l < kLanes; ++l) acc[l] += a[v + l] * k[v + l];
  }
  int32_t sum = 1 << (kPrecisionBits - 1);
  for (int l = 0; l < kLanes; ++l) sum += acc[l];
  return clip8(sum);
}

void horizontal_rows_portable(const HorizontalRows& h) {
  for (int r = 0; r < h.rows; ++r) {
    split_row(h, r);
    uint8_t* o = h.out + static_cast<size_t>(r) * h.n * h.channels;
    for (int c = 0; c < h.channels; ++c) {
      const int32_t* plane = h.planes + static_cast<size_t>(c) * h.width;
      for (int i = 0; i < h.n; ++i) o[i * h.channels + c] = horizontal_sample(h, plane, i);
    }
  }
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) void horizontal_rows_avx2(const HorizontalRows& h) {
  const __m256i round = _mm256_set1_epi32(1 << (kPrecisionBits - 1));
  const __m256i zero = _mm256_setzero_si256();
  const __m256i max = _mm256_set1_epi32(255);
  for (int r = 0; r < h.rows; ++r) {
    split_row(h, r);
    uint8_t* o = h.out + static_cast<size_t>(r) * h.n * h.channels;
    for (int c = 0; c < h.channels; ++c) {
      const int32_t* plane = h.planes + static_cast<size_t>(c) * h.width;
      int i = 0;
      for (; i + kLanes <= h.n; i += kLanes) {
        __m256i acc[kLanes];
        for (int j = 0; j < kLanes; ++j) {
          const int32_t* a = plane + h.offset[i + j];
          const int32_t* k = h.kernels + static_cast<size_t>(i + j) * h.taps;
          __m256i sum = zero;
          for (int v = 0; v < h.taps; v += kLanes) {
            const __m256i pixels = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + v));
            const __m256i weights = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(k + v));
            sum = _mm256_add_epi32(sum, _mm256_mullo_epi32(pixels, weights));
          }
          acc[j] = sum;
        }
        // Eight sums of eight lanes: pairwise adds within 128-bit halves, then the halves.
        const __m256i h01 = _mm256_hadd_epi32(acc[0], acc[1]);
        const __m256i h23 = _mm256_hadd_epi32(acc[2], acc[3]);
        const __m256i h45 = _mm256_hadd_epi32(acc[4], acc[5]);
        const __m256i h67 = _mm256_hadd_epi32(acc[6], acc[7]);
        const __m256i h0123 = _mm256_hadd_epi32(h01, h23);
        const __m256i h4567 = _mm256_hadd_epi32(h45, h67);
        __m256i sums = _mm256_add_epi32(_mm256_permute2x128_si256(h0123, h4567, 0x20),
                                        _mm256_permute2x128_si256(h0123, h4567, 0x31));
        sums = _mm256_srai_epi32(_mm256_add_epi32(sums, round), kPrecisionBits);
        sums = _mm256_min_epi32(_mm256_max_epi32(sums, zero), max);
        alignas(32) int32_t clipped[kLanes];
        _mm256_store_si256(reinterpret_cast<__m256i*>(clipped), sums);
        for (int j = 0; j < kLanes; ++j) {
          o[(i + j) * h.channels + c] = static_cast<uint8_t>(clipped[j]);
        }
      }
      for (; i < h.n; ++i) o[i * h.channels + c] = horizontal_sample(h, plane, i);
    }
  }
}
#endif

void horizontal_rows(const HorizontalRows& h, Simd simd) {
#if defined(__x86_64__)
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2 && simd == Simd::kAuto) return horizontal_rows_avx2(h);
#endif
  horizontal_rows_portable(h);
}

// Horizontal pass: rows [row0, row0 + rows) of `in`, columns read relative to col0.
void horizontal8(View<uint8_t> in, int row0, int rows, int col0, const AxisPlan& plan, uint8_t* out,
                 Simd simd) {
  const int n = plan.outputs();
  if (n == 0 || rows <= 0) return;
  const int taps = (plan.ksize + kLanes - 1) / kLanes * kLanes;
  std::vector<int32_t> kernels(static_cast<size_t>(n) * taps, 0);
  std::vector<int> offset(n);
  for (int i = 0; i < n; ++i) {
    std::copy_n(&plan.fixed[static_cast<size_t>(i) * plan.ksize], plan.ksize,
                &kernels[static_cast<size_t>(i) * taps]);
    offset[i] = plan.first[i] - plan.lo();
  }
  const int span = plan.hi() - plan.lo();
  const size_t width = static_cast<size_t>(span) + taps;
  std::vector<int32_t> planes(width * in.channels, 0);
  const uint8_t* first = in.data + static_cast<size_t>(row0) * in.stride +
                         static_cast<size_t>(plan.lo() - col0) * in.channels;
  horizontal_rows({first, in.stride, in.channels, rows, span, offset.data(), n, kernels.data(),
                   taps, planes.data(), width, out},
                  simd);
}

// Vertical pass: every output row of `plan` from `in`, rows read relative to row0, columns
// [col0, col0 + cols). An output row is accumulated one tap at a time over whole input rows,
// contiguous samples that the compiler turns into vector instructions (AVX2 where the CPU has
// it, through target_clones); integer sums, so the result is Pillow's in any order.
__attribute__((target_clones("avx2", "default"))) void vertical8(View<uint8_t> in, int row0,
                                                                 int col0, int cols,
                                                                 const AxisPlan& plan,
                                                                 uint8_t* out) {
  const int n = plan.outputs();
  const size_t width = static_cast<size_t>(cols) * in.channels;
  std::vector<int32_t> sums(width);
  int32_t* __restrict acc = sums.data();
  for (int i = 0; i < n; ++i) {
    const int32_t* k = &plan.fixed[static_cast<size_t>(i) * plan.ksize];
    const uint8_t* src = in.data + static_cast<size_t>(plan.first[i] - row0) * in.stride +
                         static_cast<size_t>(col0) * in.channels;
    for (size_t x = 0; x < width; ++x) acc[x] = 1 << (kPrecisionBits - 1);
    for (int y = 0; y < plan.count[i]; ++y) {
      const uint8_t* __restrict p = src + static_cast<size_t>(y) * in.stride;
      const int32_t weight = k[y];
      for (size_t x = 0; x < width; ++x) acc[x] += p[x] * weight;
    }
    uint8_t* __restrict o = out + static_cast<size_t>(i) * width;
    for (size_t x = 0; x < width; ++x) o[x] = clip8(acc[x]);
  }
}

// Wide passes: double weights, one accumulator per output, the sum stored by Store.
inline uint16_t round_clip16(double ss) {
  const int v = static_cast<int>(ss >= 0.0 ? ss + 0.5F : ss - 0.5F);
  return static_cast<uint16_t>(v <= 0 ? 0 : v < 65536 ? v : 65535);
}

// Pillow's ROUND_UP into an INT32 image. Out of range the C cast is undefined; x86-64's
// cvttsd2si (what Pillow's wheels run) yields INT32_MIN there, so that is what this returns.
inline int32_t round_up_int32(double ss) {
  const double r = ss >= 0.0 ? ss + 0.5F : ss - 0.5F;
  if (!(r > -2147483649.0 && r < 2147483648.0)) return INT32_MIN;
  return static_cast<int32_t>(r);
}

inline uint16_t store_wide(double ss, uint16_t*) {
  return round_clip16(ss);
}
inline int32_t store_wide(double ss, int32_t*) {
  return round_up_int32(ss);
}
inline float store_wide(double ss, float*) {
  return static_cast<float>(ss);
}

template <typename T>
void horizontal_wide(View<T> in, int row0, int rows, int col0, const AxisPlan& plan, T* out) {
  const int n = plan.outputs();
  for (int r = 0; r < rows; ++r) {
    const T* line = in.data + static_cast<size_t>(row0 + r) * in.stride;
    for (int i = 0; i < n; ++i) {
      const double* k = &plan.weights[static_cast<size_t>(i) * plan.ksize];
      const T* src = line + (plan.first[i] - col0);
      double ss = 0.0;
      for (int x = 0; x < plan.count[i]; ++x) ss += src[x] * k[x];
      out[static_cast<size_t>(r) * n + i] = store_wide(ss, static_cast<T*>(nullptr));
    }
  }
}

template <typename T>
void vertical_wide(View<T> in, int row0, int col0, int cols, const AxisPlan& plan, T* out) {
  for (int i = 0; i < plan.outputs(); ++i) {
    const double* k = &plan.weights[static_cast<size_t>(i) * plan.ksize];
    const int ymin = plan.first[i] - row0;
    for (int xx = 0; xx < cols; ++xx) {
      double ss = 0.0;
      for (int y = 0; y < plan.count[i]; ++y) {
        ss += in.data[static_cast<size_t>(ymin + y) * in.stride + col0 + xx] * k[y];
      }
      out[static_cast<size_t>(i) * cols + xx] = store_wide(ss, static_cast<T*>(nullptr));
    }
  }
}

struct Ops8 {
  using T = uint8_t;
  Simd simd = Simd::kAuto;
  void h(View<T> in, int row0, int rows, int col0, const AxisPlan& p, T* out) const {
    horizontal8(in, row0, rows, col0, p, out, simd);
  }
  void v(View<T> in, int row0, int col0, int cols, const AxisPlan& p, T* out) const {
    vertical8(in, row0, col0, cols, p, out);
  }
};
template <typename Wide>
struct OpsWide {
  using T = Wide;
  void h(View<T> in, int row0, int rows, int col0, const AxisPlan& p, T* out) const {
    horizontal_wide(in, row0, rows, col0, p, out);
  }
  void v(View<T> in, int row0, int col0, int cols, const AxisPlan& p, T* out) const {
    vertical_wide(in, row0, col0, cols, p, out);
  }
};

// ImagingResampleInner over the window. A pass runs only when its axis changes size (the box
// is always the whole image here); Pillow then resamples rows [lo, hi) of the source that the
// vertical taps reach, or for very tall images runs the vertical pass first.
template <typename Ops>
std::vector<typename Ops::T> resample(const Ops& ops, const typename Ops::T* data, int width,
                                      int height, int channels, const ResizeWindow& win) {
  using T = typename Ops::T;
  const int out_cols = win.x1 - win.x0;
  const int out_rows = win.y1 - win.y0;
  const bool need_h = win.out_width != width;
  const bool need_v = win.out_height != height;
  const View<T> src{data, static_cast<size_t>(width) * channels, channels};
  std::vector<T> out(static_cast<size_t>(out_cols) * out_rows * channels);

  if (height > width * 100 && win.out_height < height) {
    // Vertical first: source columns [lo, hi) that the horizontal taps reach.
    const AxisPlan vplan = plan_axis(height, win.out_height, win.y0, win.y1);
    int c0 = win.x0, c1 = win.x1;
    AxisPlan hplan;
    if (need_h) {
      hplan = plan_axis(width, win.out_width, win.x0, win.x1);
      c0 = hplan.lo();
      c1 = hplan.hi();
    }
    std::vector<T> temp(static_cast<size_t>(c1 - c0) * out_rows * channels);
    ops.v(src, 0, c0, c1 - c0, vplan, temp.data());
    if (!need_h) return temp;
    const View<T> tv{temp.data(), static_cast<size_t>(c1 - c0) * channels, channels};
    ops.h(tv, 0, out_rows, c0, hplan, out.data());
    return out;
  }

  AxisPlan vplan;
  int r0 = win.y0, r1 = win.y1;
  if (need_v) {
    vplan = plan_axis(height, win.out_height, win.y0, win.y1);
    r0 = vplan.lo();
    r1 = vplan.hi();
  }
  std::vector<T> temp;
  View<T> mid = src;
  int mid_row0 = 0, mid_col0 = win.x0;
  if (need_h) {
    const AxisPlan hplan = plan_axis(width, win.out_width, win.x0, win.x1);
    temp.resize(static_cast<size_t>(out_cols) * (r1 - r0) * channels);
    ops.h(src, r0, r1 - r0, 0, hplan, temp.data());
    mid = View<T>{temp.data(), static_cast<size_t>(out_cols) * channels, channels};
    mid_row0 = r0;
    mid_col0 = 0;
  }
  if (need_v) {
    ops.v(mid, mid_row0, mid_col0, out_cols, vplan, out.data());
  } else {
    for (int y = 0; y < out_rows; ++y) {
      const T* row = mid.data + static_cast<size_t>(win.y0 + y - mid_row0) * mid.stride +
                     static_cast<size_t>(mid_col0) * channels;
      std::copy(row, row + static_cast<size_t>(out_cols) * channels,
                out.begin() + static_cast<size_t>(y) * out_cols * channels);
    }
  }
  return out;
}

// Pillow's nearest-neighbour source coordinates along one axis for outputs [begin, end):
// the position advances by repeated addition of the scale, exactly as ImagingScaleAffine does.
std::vector<int> nearest_axis(int in_size, int out_size, int begin, int end) {
  const float box0 = 0.0f, box1 = static_cast<float>(in_size);
  const double step = static_cast<double>(box1 - box0) / out_size;
  double pos = box0 + step * 0.5;
  std::vector<int> map(end - begin, -1);
  for (int x = 0; x < end; ++x) {
    if (x >= begin) {
      const int v = pos < 0.0 ? -1 : static_cast<int>(pos);
      map[x - begin] = (v >= 0 && v < in_size) ? v : -1;
    }
    pos += step;
  }
  return map;
}

}  // namespace

Image8 resize_bicubic(const Image8View& in, const ResizeWindow& window, Simd simd) {
  Image8 out;
  out.width = window.x1 - window.x0;
  out.height = window.y1 - window.y0;
  out.channels = in.channels;
  out.data = resample(Ops8{simd}, in.data, in.width, in.height, in.channels, window);
  return out;
}

template <typename T>
WideImage<T> resize_bicubic(const T* data, int width, int height, const ResizeWindow& window) {
  WideImage<T> out;
  out.width = window.x1 - window.x0;
  out.height = window.y1 - window.y0;
  out.data = resample(OpsWide<T>{}, data, width, height, 1, window);
  return out;
}

template WideImage<uint16_t> resize_bicubic(const uint16_t*, int, int, const ResizeWindow&);
template WideImage<int32_t> resize_bicubic(const int32_t*, int, int, const ResizeWindow&);
template WideImage<float> resize_bicubic(const float*, int, int, const ResizeWindow&);

Image8 resize_nearest(const Image8View& in, const ResizeWindow& window) {
  Image8 out;
  out.width = window.x1 - window.x0;
  out.height = window.y1 - window.y0;
  out.channels = in.channels;
  const int c = in.channels;
  out.data.assign(static_cast<size_t>(out.width) * out.height * c, 0);  // Pillow's fill
  const std::vector<int> xs = nearest_axis(in.width, window.out_width, window.x0, window.x1);
  const std::vector<int> ys = nearest_axis(in.height, window.out_height, window.y0, window.y1);
  for (int y = 0; y < out.height; ++y) {
    if (ys[y] < 0) continue;
    const uint8_t* row = in.data + static_cast<size_t>(ys[y]) * in.width * c;
    uint8_t* o = out.data.data() + static_cast<size_t>(y) * out.width * c;
    for (int x = 0; x < out.width; ++x) {
      if (xs[x] < 0) continue;
      std::memcpy(o + static_cast<size_t>(x) * c, row + static_cast<size_t>(xs[x]) * c, c);
    }
  }
  return out;
}

void premultiply_alpha(Image8& image) {
  const int c = image.channels;
  const size_t n = image.data.size() / c;
  uint8_t* p = image.data.data();
  for (size_t i = 0; i < n; ++i, p += c) {
    const unsigned alpha = p[c - 1];
    for (int k = 0; k < c - 1; ++k) {
      // (v * alpha + 127) / 255 without a division, as Pillow's MULDIV255.
      const unsigned t = p[k] * alpha + 128;
      p[k] = static_cast<uint8_t>(((t >> 8) + t) >> 8);
    }
  }
}

void unpremultiply_alpha(Image8& image) {
  const int c = image.channels;
  const size_t n = image.data.size() / c;
  uint8_t* p = image.data.data();
  for (size_t i = 0; i < n; ++i, p += c) {
    const unsigned alpha = p[c - 1];
    if (alpha == 255 || alpha == 0) continue;
    for (int k = 0; k < c - 1; ++k) {
      const unsigned v = (255 * p[k]) / alpha;
      p[k] = static_cast<uint8_t>(v > 255 ? 255 : v);
    }
  }
}

}  // namespace vista::encoder::internal
