// Image decoding and preprocessing against the reference data: every golden crop byte for
// byte, tensor sums, Pillow's modes, the bad inputs, limits, and crash-freedom on damaged data.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <sys/wait.h>
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "encoder/image/image_decoder.h"
#include "encoder/image/pillow_resample.h"
#include "encoder/image/preprocess.h"
#include "tests/image_test_util.h"
#include "tests/test_support.h"

namespace vista::encoder {
namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> read_bytes(const fs::path& path) {
  return testing::read_file_bytes(path);
}

// A BITMAPFILEHEADER + BITMAPINFOHEADER (54 bytes, little-endian fields) whose pixels start at
// `pixel_offset`; the palette and pixels are appended by the caller.
std::vector<uint8_t> bmp_header(uint32_t width, uint32_t height, int bits, int compression,
                                int colours_used, uint32_t pixel_offset) {
  std::vector<uint8_t> bmp(14 + 40, 0);
  auto put32 = [&](size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) bmp[at + i] = static_cast<uint8_t>(v >> (8 * i));
  };
  bmp[0] = 'B';
  bmp[1] = 'M';
  put32(10, pixel_offset);
  put32(14, 40);
  put32(18, width);
  put32(22, height);
  bmp[26] = 1;  // planes
  bmp[28] = static_cast<uint8_t>(bits);
  put32(30, static_cast<uint32_t>(compression));
  put32(46, static_cast<uint32_t>(colours_used));
  return bmp;
}

nlohmann::json load_golden() {
  std::ifstream in(testing::golden_dir() / "golden.json");
  return nlohmann::json::parse(in);
}

// golden.json paths: "imgs/x" is images/x, "edge/x" is images/edge/x.
fs::path image_path(const std::string& golden_name) {
  const fs::path images = testing::golden_dir() / "images";
  if (golden_name.rfind("imgs/", 0) == 0) return images / golden_name.substr(5);
  if (golden_name.rfind("edge/", 0) == 0) return images / "edge" / golden_name.substr(5);
  return images / golden_name;
}

// The expected crop, decoded losslessly by OpenCV (an independent PNG reader), as RGB.
std::vector<uint8_t> expected_crop(const fs::path& png) {
  return testing::read_png_rgb(png);
}

DecodedImage make_image(PixelMode mode, int w, int h, int channels, std::vector<uint8_t> samples) {
  DecodedImage image;
  image.mode = mode;
  image.width = w;
  image.height = h;
  image.channels = channels;
  image.samples = std::move(samples);
  return image;
}

std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

// The AVX2 horizontal pass and the portable loop give the same bytes: channel counts 1-4, kernels
// shorter and longer than one 8-tap block, output counts that are not multiples of 8, windows.
TEST(ImageResample, VectorAndPortablePathsAgree) {
#if defined(__x86_64__)
  if (!__builtin_cpu_supports("avx2")) GTEST_SKIP() << "no AVX2 here: only the portable path runs";
#else
  GTEST_SKIP() << "not x86-64: only the portable path runs";
#endif
  std::mt19937 rng(11);
  for (int trial = 0; trial < 60; ++trial) {
    const int channels = 1 + trial % 4;
    const int w = 2 + static_cast<int>(rng() % 900);
    const int h = 2 + static_cast<int>(rng() % 60);
    const int out_w = 1 + static_cast<int>(rng() % std::min(w + 40, 300));
    const int out_h = 1 + static_cast<int>(rng() % (h + 10));
    SCOPED_TRACE(std::to_string(w) + "x" + std::to_string(h) + "x" + std::to_string(channels) +
                 " -> " + std::to_string(out_w) + "x" + std::to_string(out_h));
    const std::vector<uint8_t> data =
        pattern(static_cast<size_t>(w) * h * channels, static_cast<int>(rng() % 1000));
    const internal::Image8View view{data.data(), w, h, channels};
    const int x0 = static_cast<int>(rng() % out_w);
    const int y0 = static_cast<int>(rng() % out_h);
    const internal::ResizeWindow win{out_w,
                                     out_h,
                                     x0,
                                     y0,
                                     x0 + 1 + static_cast<int>(rng() % (out_w - x0)),
                                     y0 + 1 + static_cast<int>(rng() % (out_h - y0))};
    const auto fast = internal::resize_bicubic(view, win, internal::Simd::kAuto);
    const auto portable = internal::resize_bicubic(view, win, internal::Simd::kPortable);
    ASSERT_EQ(fast.data, portable.data);
  }
}

// Computing only the crop window must give exactly the window of the full resize, for every
// pass combination: shrink, enlarge, one axis unchanged, Pillow's vertical-first tall case.
TEST(ImageResample, WindowEqualsFullResizeThenCrop) {
  struct Case {
    int w, h, out_w, out_h, channels;
  };
  const Case cases[] = {
      {97, 61, 40, 25, 3}, {13, 7, 50, 30, 4}, {40, 30, 40, 12, 1}, {40, 30, 12, 30, 2},
      {3, 400, 2, 300, 3}, {300, 3, 20, 2, 1}, {1, 1, 9, 9, 3},     {5, 3, 21, 13, 4},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::to_string(c.w) + "x" + std::to_string(c.h) + " -> " +
                 std::to_string(c.out_w) + "x" + std::to_string(c.out_h));
    const std::vector<uint8_t> data = pattern(static_cast<size_t>(c.w) * c.h * c.channels, 5);
    internal::Image8View view{data.data(), c.w, c.h, c.channels};
    internal::ResizeWindow full{c.out_w, c.out_h, 0, 0, c.out_w, c.out_h};
    const internal::Image8 all = internal::resize_bicubic(view, full);
    const internal::Image8 all_nn = internal::resize_nearest(view, full);
    internal::ResizeWindow win{c.out_w,
                               c.out_h,
                               c.out_w / 3,
                               c.out_h / 4,
                               c.out_w / 3 + std::max(1, c.out_w / 2),
                               c.out_h / 4 + std::max(1, c.out_h / 2)};
    const internal::Image8 part = internal::resize_bicubic(view, win);
    const internal::Image8 part_nn = internal::resize_nearest(view, win);
    for (int y = win.y0; y < win.y1; ++y) {
      for (int x = win.x0; x < win.x1; ++x) {
        for (int k = 0; k < c.channels; ++k) {
          const size_t a = (static_cast<size_t>(y) * c.out_w + x) * c.channels + k;
          const size_t b =
              (static_cast<size_t>(y - win.y0) * part.width + (x - win.x0)) * c.channels + k;
          ASSERT_EQ(all.data[a], part.data[b]) << "bicubic at " << x << "," << y;
          ASSERT_EQ(all_nn.data[a], part_nn.data[b]) << "nearest at " << x << "," << y;
        }
      }
    }
  }
  // The 16-bit path as well.
  std::vector<uint16_t> data16(57 * 33);
  for (size_t i = 0; i < data16.size(); ++i) data16[i] = static_cast<uint16_t>(i * 977 % 65536);
  const internal::Image16 all =
      internal::resize_bicubic(data16.data(), 57, 33, {20, 12, 0, 0, 20, 12});
  const internal::Image16 part =
      internal::resize_bicubic(data16.data(), 57, 33, {20, 12, 5, 3, 15, 9});
  for (int y = 3; y < 9; ++y) {
    for (int x = 5; x < 15; ++x) {
      ASSERT_EQ(all.data[y * 20 + x], part.data[(y - 3) * 10 + (x - 5)]);
    }
  }
}

TEST(ImageResample, ConstantImagesStayConstant) {
  for (int channels = 1; channels <= 4; ++channels) {
    std::vector<uint8_t> data(31 * 17 * channels);
    for (size_t i = 0; i < data.size(); ++i)
      data[i] = static_cast<uint8_t>(17 + 50 * (i % channels));
    for (auto [ow, oh] : {std::pair{7, 4}, std::pair{90, 60}, std::pair{31, 5}}) {
      const internal::Image8 out =
          internal::resize_bicubic({data.data(), 31, 17, channels}, {ow, oh, 0, 0, ow, oh});
      for (size_t i = 0; i < out.data.size(); ++i) {
        ASSERT_EQ(out.data[i], 17 + 50 * (i % channels)) << ow << "x" << oh;
      }
    }
  }
}

TEST(ImageResample, NearestUsesPillowCoordinates) {
  // Halving picks the second of each pair (source centre 2x + 1), doubling repeats.
  const std::vector<uint8_t> row = {10, 20, 30, 40};
  internal::Image8 half = internal::resize_nearest({row.data(), 4, 1, 1}, {2, 1, 0, 0, 2, 1});
  EXPECT_EQ(half.data, (std::vector<uint8_t>{20, 40}));
  internal::Image8 twice = internal::resize_nearest({row.data(), 4, 1, 1}, {8, 1, 0, 0, 8, 1});
  EXPECT_EQ(twice.data, (std::vector<uint8_t>{10, 10, 20, 20, 30, 30, 40, 40}));
}

TEST(ImagePreprocess, ModeConversionsFollowPillow) {
  // Fully transparent RGBA becomes black: resized premultiplied, alpha dropped, no compositing.
  auto rgba = make_image(PixelMode::kRGBA, 3, 2, 4, {});
  for (int i = 0; i < 6; ++i) rgba.samples.insert(rgba.samples.end(), {200, 100, 50, 0});
  auto crop = preprocess_to_crop(rgba, 4);
  ASSERT_TRUE(crop.is_ok()) << crop.status();
  EXPECT_EQ(crop->pixels, std::vector<uint8_t>(4 * 4 * 3, 0));
  // Opaque RGBA keeps its colour.
  for (size_t i = 3; i < rgba.samples.size(); i += 4) rgba.samples[i] = 255;
  crop = preprocess_to_crop(rgba, 4);
  ASSERT_TRUE(crop.is_ok());
  EXPECT_EQ(crop->pixels[0], 200);
  EXPECT_EQ(crop->pixels[1], 100);
  EXPECT_EQ(crop->pixels[2], 50);

  // CMYK -> RGB with Pillow's formula: pure cyan ink gives (0, 255, 255); K=128 halves white.
  auto cmyk = make_image(PixelMode::kCMYK, 1, 1, 4, {255, 0, 0, 0});
  crop = preprocess_to_crop(cmyk, 2);
  ASSERT_TRUE(crop.is_ok());
  EXPECT_EQ(std::vector<uint8_t>(crop->pixels.begin(), crop->pixels.begin() + 3),
            (std::vector<uint8_t>{0, 255, 255}));
  cmyk.samples = {0, 0, 0, 128};
  crop = preprocess_to_crop(cmyk, 2);
  EXPECT_EQ(crop->pixels[0], 127);

  // I;16 saturates above 255 when converted to RGB.
  DecodedImage i16;
  i16.mode = PixelMode::kI16;
  i16.width = i16.height = 2;
  i16.channels = 1;
  i16.samples16 = {1000, 1000, 1000, 1000};
  crop = preprocess_to_crop(i16, 3);
  ASSERT_TRUE(crop.is_ok()) << crop.status();
  EXPECT_EQ(crop->pixels, std::vector<uint8_t>(27, 255));
  i16.samples16 = {100, 100, 100, 100};
  crop = preprocess_to_crop(i16, 3);
  EXPECT_EQ(crop->pixels, std::vector<uint8_t>(27, 100));
}

// Formats the golden set does not cover, written here with OpenCV and checked for Pillow's mode
// and for sample values that survive exactly.
TEST(ImageDecode, OpenCvWrittenFilesDecodeToPillowModes) {
  cv::Mat gray16(5, 7, CV_16UC1);
  for (int y = 0; y < 5; ++y) {
    for (int x = 0; x < 7; ++x) gray16.at<uint16_t>(y, x) = static_cast<uint16_t>(y * 4000 + x * 7);
  }
  std::vector<uint8_t> png;
  ASSERT_TRUE(cv::imencode(".png", gray16, png));
  auto decoded = decode_image(png.data(), png.size());
  ASSERT_TRUE(decoded.is_ok()) << decoded.status();
  EXPECT_EQ(pixel_mode_name(decoded->mode), "I;16");
  EXPECT_EQ(decoded->samples16[1 * 7 + 3], 4000 + 21);

  cv::Mat bgr(6, 9, CV_8UC3);
  for (int i = 0; i < 6 * 9 * 3; ++i) bgr.data[i] = static_cast<uint8_t>(i * 37);
  // Encoded by OpenCV as `ext`, decoded by us.
  auto round_trip = [](const cv::Mat& image, const char* ext) {
    std::vector<uint8_t> bytes;
    EXPECT_TRUE(cv::imencode(ext, image, bytes));
    return decode_image(bytes.data(), bytes.size());
  };
  for (const char* ext : {".tiff", ".bmp", ".png"}) {
    SCOPED_TRACE(ext);
    decoded = round_trip(bgr, ext);
    ASSERT_TRUE(decoded.is_ok()) << decoded.status();
    EXPECT_EQ(pixel_mode_name(decoded->mode), "RGB");
    ASSERT_EQ(decoded->samples.size(), 6u * 9u * 3u);
    for (int p = 0; p < 6 * 9; ++p) {
      ASSERT_EQ(decoded->samples[p * 3 + 0], bgr.data[p * 3 + 2]);
      ASSERT_EQ(decoded->samples[p * 3 + 2], bgr.data[p * 3 + 0]);
    }
  }
  cv::Mat gray8(4, 4, CV_8UC1, cv::Scalar(77));
  for (const char* ext : {".tiff", ".png", ".bmp"}) {
    SCOPED_TRACE(ext);
    decoded = round_trip(gray8, ext);
    ASSERT_TRUE(decoded.is_ok()) << decoded.status();
    // OpenCV writes gray BMPs with an identity gray palette, which Pillow opens as "L".
    EXPECT_EQ(pixel_mode_name(decoded->mode), "L");
    EXPECT_EQ(decoded->samples, std::vector<uint8_t>(16, 77));
  }
}

// A palette BMP whose palette is not gray is Pillow's "P" and is resized with NEAREST.
TEST(ImageDecode, PaletteBmpIsPModeAndNearestResized) {
  // 2x2, 8-bit, 2 palette entries: red and blue, bottom-up rows.
  std::vector<uint8_t> bmp = bmp_header(2, 2, 8, /*compression=*/0, /*colours_used=*/2, 14 + 40 + 8);
  const uint8_t palette[8] = {0, 0, 255, 0, 255, 0, 0, 0};  // BGRX: red, blue
  const uint8_t rows[8] = {1, 0, 0, 0, 0, 1, 0, 0};  // bottom row: blue red; top: red blue
  bmp.insert(bmp.end(), palette, palette + 8);
  bmp.insert(bmp.end(), rows, rows + 8);
  auto decoded = decode_image(bmp.data(), bmp.size());
  ASSERT_TRUE(decoded.is_ok()) << decoded.status();
  EXPECT_EQ(pixel_mode_name(decoded->mode), "P");
  EXPECT_EQ(decoded->samples, (std::vector<uint8_t>{255, 0, 0, 0, 0, 255, 0, 0, 255, 255, 0, 0}));
  auto crop = preprocess_to_crop(*decoded, 4);
  ASSERT_TRUE(crop.is_ok());
  // NEAREST: no blended colours, only pure red or blue.
  for (size_t i = 0; i < crop->pixels.size(); i += 3) {
    EXPECT_EQ(crop->pixels[i + 1], 0);
    EXPECT_EQ(crop->pixels[i] + crop->pixels[i + 2], 255);
  }
}

// RLE8 as Pillow's decoder reads it: encoded runs, absolute runs padded to 16 bits, end of line,
// end of bitmap; rows stored bottom-up.
TEST(ImageDecode, RunLengthBmpFollowsPillow) {
  const uint8_t palette[12] = {0, 0, 255, 0, 0, 255, 0, 0, 255, 0, 0, 0};  // red, green, blue
  const uint8_t runs[] = {3, 1, 1, 2, 0, 0,        // bottom row: 1 1 1 2, end of line
                          0, 3, 0, 1, 2, 0, 1, 0,  // top row: absolute 0 1 2 (+pad), then 0
                          0, 0, 0, 1};             // end of line, end of bitmap
  std::vector<uint8_t> bmp = bmp_header(4, 2, 8, /*compression=BI_RLE8*/ 1, 3, 14 + 40 + 12);
  bmp.insert(bmp.end(), palette, palette + 12);
  bmp.insert(bmp.end(), runs, runs + sizeof(runs));
  auto decoded = decode_image(bmp.data(), bmp.size());
  ASSERT_TRUE(decoded.is_ok()) << decoded.status();
  EXPECT_EQ(pixel_mode_name(decoded->mode), "P");
  const std::vector<uint8_t> red = {255, 0, 0}, green = {0, 255, 0}, blue = {0, 0, 255};
  std::vector<uint8_t> want;
  for (const auto* px : {&red, &green, &blue, &red, &green, &green, &green, &blue}) {
    want.insert(want.end(), px->begin(), px->end());
  }
  EXPECT_EQ(decoded->samples, want);
  // Ending before the last pixel is an error, as in Pillow ("not enough image data").
  std::vector<uint8_t> short_bmp(bmp.begin(), bmp.end() - 10);
  short_bmp.push_back(0);
  short_bmp.push_back(1);
  auto broken = decode_image(short_bmp.data(), short_bmp.size());
  EXPECT_EQ(broken.status().code(), StatusCode::kCorruption) << broken.status();
}

TEST(ImageGolden, AllCropsAreByteIdentical) {
  VISTA_REQUIRE_GOLDEN();
  const fs::path crops = testing::golden_dir() / "crops";
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(crops)) {
    if (entry.path().string().size() > 9 &&
        entry.path().filename().string().find(".crop.png") != std::string::npos) {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  ASSERT_EQ(files.size(), 32u) << "expected 32 golden crops in " << crops;

  int identical = 0;
  for (const fs::path& crop_file : files) {
    std::string name = crop_file.filename().string();
    name = name.substr(0, name.size() - std::string(".crop.png").size());
    fs::path source = testing::golden_dir() / "images" / name;
    if (!fs::exists(source)) source = testing::golden_dir() / "images" / "edge" / name;
    SCOPED_TRACE(name);
    ASSERT_TRUE(fs::exists(source)) << "no source image for " << crop_file;
    const std::vector<uint8_t> expected = expected_crop(crop_file);
    ASSERT_EQ(expected.size(), 224u * 224u * 3u);

    auto crop = load_crop(source);
    ASSERT_TRUE(crop.is_ok()) << crop.status();
    ASSERT_EQ(crop->width, 224);
    ASSERT_EQ(crop->height, 224);
    ASSERT_EQ(crop->pixels.size(), expected.size());
    int max_diff = 0;
    size_t mismatched_pixels = 0;
    for (size_t p = 0; p < expected.size() / 3; ++p) {
      bool differs = false;
      for (int c = 0; c < 3; ++c) {
        const int d = std::abs(int{crop->pixels[p * 3 + c]} - int{expected[p * 3 + c]});
        max_diff = std::max(max_diff, d);
        differs |= d != 0;
      }
      mismatched_pixels += differs;
    }
    EXPECT_EQ(mismatched_pixels, 0u)
        << name << ": " << mismatched_pixels << " pixels differ, max abs diff " << max_diff;
    if (mismatched_pixels == 0) ++identical;
  }
  std::cout << "[ golden ] " << identical << "/" << files.size() << " crops byte-identical\n";
  EXPECT_EQ(identical, 32);
}

TEST(ImageGolden, ModesSizesAndTensorSums) {
  VISTA_REQUIRE_GOLDEN();
  const nlohmann::json golden = load_golden();
  int checked_sums = 0;
  std::vector<float> tensor(3 * 224 * 224);
  for (const auto& entry : golden.at("images")) {
    const std::string name = entry.at("image");
    if (!entry.contains("pil_mode") || entry.contains("error")) continue;
    SCOPED_TRACE(name);
    const std::vector<uint8_t> bytes = read_bytes(image_path(name));
    auto decoded = decode_image(bytes.data(), bytes.size());
    ASSERT_TRUE(decoded.is_ok()) << decoded.status();
    EXPECT_EQ(pixel_mode_name(decoded->mode), entry.at("pil_mode").get<std::string>());
    EXPECT_EQ(decoded->width, entry.at("pil_size")[0].get<int>());
    EXPECT_EQ(decoded->height, entry.at("pil_size")[1].get<int>());

    auto crop = preprocess_to_crop(*decoded);
    ASSERT_TRUE(crop.is_ok()) << crop.status();
    normalize_to_chw(*crop, tensor.data());
    double sum = 0, abs_sum = 0;
    for (float v : tensor) {
      sum += v;
      abs_sum += std::fabs(v);
    }
    const double want_sum = entry.at("tensor_sum");
    const double want_abs = entry.at("tensor_abs_sum");
    EXPECT_NEAR(sum, want_sum, 1e-2 * std::fabs(want_sum) + 1e-3);
    EXPECT_NEAR(abs_sum, want_abs, 1e-4 * want_abs);
    ++checked_sums;
  }
  EXPECT_EQ(checked_sums, 32);
}

TEST(ImageGolden, NormalizeMatchesToTensorAndNormalize) {
  RgbImage crop;
  crop.width = 2;
  crop.height = 1;
  crop.pixels = {0, 128, 255, 10, 20, 30};
  std::vector<float> out(6);
  normalize_to_chw(crop, out.data());
  // Planar: channel 0 holds pixel 0 then pixel 1.
  EXPECT_FLOAT_EQ(out[0], (0.0f / 255.0f - kClipMean[0]) / kClipStd[0]);
  EXPECT_FLOAT_EQ(out[1], (10.0f / 255.0f - kClipMean[0]) / kClipStd[0]);
  EXPECT_FLOAT_EQ(out[2], (128.0f / 255.0f - kClipMean[1]) / kClipStd[1]);
  EXPECT_FLOAT_EQ(out[5], (30.0f / 255.0f - kClipMean[2]) / kClipStd[2]);
}

TEST(ImageGolden, BadFilesFailWithClearErrors) {
  VISTA_REQUIRE_GOLDEN();
  const fs::path edge = testing::golden_dir() / "images" / "edge";
  struct Case {
    const char* file;
    StatusCode code;
    const char* message_part;
  };
  const Case cases[] = {
      {"bad_empty.jpg", StatusCode::kCorruption, "empty"},
      {"bad_not_an_image.png", StatusCode::kUnsupported, "cannot identify image format"},
      {"bad_truncated.jpg", StatusCode::kCorruption, "image file is truncated"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file);
    auto crop = load_crop(edge / c.file);
    ASSERT_FALSE(crop.is_ok());
    EXPECT_EQ(crop.status().code(), c.code) << crop.status();
    EXPECT_NE(crop.status().message().find(c.message_part), std::string::npos) << crop.status();
    // The message names the file.
    EXPECT_NE(crop.status().message().find(c.file), std::string::npos) << crop.status();
  }
  auto missing = load_crop(edge / "no_such_file.png");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST(ImageLimits, PixelAndByteLimitsAreEnforcedBeforeDecoding) {
  VISTA_REQUIRE_GOLDEN();
  const fs::path photo =
      testing::golden_dir() / "images" / "edge" / "progressive.jpg";  // 1600x1200
  DecodeLimits pixels;
  pixels.max_pixels = 1600 * 1200 - 1;
  auto r = load_crop(photo, 224, pixels);
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted) << r.status();
  EXPECT_NE(r.status().message().find("1600x1200"), std::string::npos) << r.status();
  pixels.max_pixels = 1600 * 1200;
  EXPECT_TRUE(load_crop(photo, 224, pixels).is_ok());

  DecodeLimits bytes;
  bytes.max_bytes = fs::file_size(photo) - 1;
  r = load_crop(photo, 224, bytes);
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted) << r.status();
  const std::vector<uint8_t> data = read_bytes(photo);
  EXPECT_EQ(decode_image(data.data(), data.size(), bytes).status().code(),
            StatusCode::kResourceExhausted);
}

// Headers announcing huge images must be refused from the header, before any allocation.
TEST(ImageLimits, HugeHeadersAreRejectedCheaply) {
  // A PNG IHDR for 100000 x 100000 RGB (10 gigapixels); no image data follows.
  std::vector<uint8_t> png = {0x89, 'P',  'N',  'G',  0x0D, 0x0A, 0x1A, 0x0A, 0,    0,
                              0,    13,   'I',  'H',  'D',  'R',  0,    0x01, 0x86, 0xA0,
                              0,    0x01, 0x86, 0xA0, 8,    2,    0,    0,    0};
  // The IHDR checksum (CRC-32 over type and data).
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 12; i < png.size(); ++i) {
    crc ^= png[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  crc ^= 0xFFFFFFFFu;
  for (int s = 24; s >= 0; s -= 8) png.push_back(static_cast<uint8_t>(crc >> s));
  auto r = decode_image(png.data(), png.size());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted) << r.status();

  // A BMP header for 60000 x 60000 24-bit.
  std::vector<uint8_t> bmp = bmp_header(60000, 60000, 24, 0, 0, 54);
  r = decode_image(bmp.data(), bmp.size());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted) << r.status();

  // A GIF whose logical screen is 65535 x 65535.
  std::vector<uint8_t> gif = {'G', 'I', 'F', '8', '9', 'a',  0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0,
                              ',', 0,   0,   0,   0,   0xFF, 0xFF, 0xFF, 0xFF, 0,    2, 0};
  r = decode_image(gif.data(), gif.size());
  EXPECT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted) << r.status();
}

TEST(ImageDecode, FormatIsChosenByContentNotName) {
  VISTA_REQUIRE_GOLDEN();
  // cir_query.png is a JPEG.
  const std::vector<uint8_t> bytes = read_bytes(testing::golden_dir() / "images" / "cir_query.png");
  EXPECT_EQ(sniff_image_format(bytes.data(), bytes.size()), "JPEG");
  auto decoded = decode_image(bytes.data(), bytes.size());
  ASSERT_TRUE(decoded.is_ok()) << decoded.status();
  EXPECT_EQ(decoded->format, "JPEG");
}

TEST(ImageDecode, FormatsAndModesMatchPillow) {
  VISTA_REQUIRE_GOLDEN();
  const fs::path edge = testing::golden_dir() / "images" / "edge";
  const std::map<std::string, std::pair<std::string, std::string>> expected = {
      {"anim.gif", {"GIF", "P"}},         {"cmyk.jpg", {"JPEG", "CMYK"}},
      {"gray_L.png", {"PNG", "L"}},       {"gray_alpha_LA.png", {"PNG", "LA"}},
      {"lossless.webp", {"WEBP", "RGB"}}, {"palette_P.png", {"PNG", "P"}},
      {"plain.bmp", {"BMP", "RGB"}},      {"plain.tiff", {"TIFF", "RGB"}},
      {"rgb16.png", {"PNG", "RGB"}},      {"rgba_gradient_alpha.png", {"PNG", "RGBA"}},
  };
  for (const auto& [file, want] : expected) {
    SCOPED_TRACE(file);
    const std::vector<uint8_t> bytes = read_bytes(edge / file);
    auto decoded = decode_image(bytes.data(), bytes.size());
    ASSERT_TRUE(decoded.is_ok()) << decoded.status();
    EXPECT_EQ(decoded->format, want.first);
    EXPECT_EQ(pixel_mode_name(decoded->mode), want.second);
  }
  const std::vector<uint8_t> rgb16 = read_bytes(edge / "rgb16.png");
  EXPECT_TRUE(decode_image(rgb16.data(), rgb16.size())->reduced_from_16bit);
}

TEST(ImagePreprocess, RejectsBadArguments) {
  DecodedImage empty;
  EXPECT_EQ(preprocess_to_crop(empty).status().code(), StatusCode::kInvalidArgument);
  DecodedImage one;
  one.mode = PixelMode::kRGB;
  one.width = one.height = 1;
  one.channels = 3;
  one.samples = {1, 2, 3};
  EXPECT_EQ(preprocess_to_crop(one, 0).status().code(), StatusCode::kInvalidArgument);
  auto crop = preprocess_to_crop(one, 4);
  ASSERT_TRUE(crop.is_ok());
  // A single pixel upscaled stays that pixel everywhere.
  for (size_t i = 0; i < crop->pixels.size(); i += 3) {
    EXPECT_EQ(crop->pixels[i], 1);
    EXPECT_EQ(crop->pixels[i + 2], 3);
  }
  one.samples.pop_back();
  EXPECT_EQ(preprocess_to_crop(one).status().code(), StatusCode::kInvalidArgument);
}

// Every prefix length class of every golden image, plus random bytes behind each signature:
// decoding must fail or succeed cleanly, never crash or hang.
TEST(ImageRobustness, TruncationSweepNeverCrashes) {
  VISTA_REQUIRE_GOLDEN();
  std::vector<fs::path> files;
  for (const auto& dir :
       {testing::golden_dir() / "images", testing::golden_dir() / "images" / "edge"}) {
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.is_regular_file()) files.push_back(e.path());
    }
  }
  std::sort(files.begin(), files.end());
  int failures = 0, runs = 0;
  for (const fs::path& file : files) {
    const std::vector<uint8_t> bytes = read_bytes(file);
    if (bytes.empty()) continue;
    // Small prefixes (headers), then a spread over the whole file.
    std::vector<size_t> cuts;
    for (size_t n = 1; n < std::min<size_t>(bytes.size(), 64); ++n) cuts.push_back(n);
    // Large files cost a partial decode per cut; a few cuts cover their code paths.
    const int spread = bytes.size() < 300000 ? 24 : 5;
    for (int i = 1; i < spread; ++i) cuts.push_back(bytes.size() * i / spread);
    cuts.push_back(bytes.size() - 1);
    for (size_t n : cuts) {
      if (n == 0 || n >= bytes.size()) continue;
      std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + n);
      auto r = load_crop(prefix.data(), prefix.size());
      ++runs;
      if (!r.is_ok()) {
        ++failures;
        EXPECT_FALSE(r.status().message().empty());
      } else {
        EXPECT_EQ(r->pixels.size(), 224u * 224u * 3u);
      }
    }
  }
  EXPECT_GT(failures, runs / 2);  // most prefixes must be refused
}

TEST(ImageRobustness, TruncatedJpegScanIsRefusedLikePillow) {
  VISTA_REQUIRE_GOLDEN();
  std::vector<uint8_t> bytes = read_bytes(testing::golden_dir() / "images" / "wiki_candi_1.jpg");
  bytes.resize(bytes.size() / 2);
  auto r = decode_image(bytes.data(), bytes.size());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("image file is truncated"), std::string::npos);
}

TEST(ImageRobustness, RandomBytesAndBitFlipsNeverCrash) {
  VISTA_REQUIRE_GOLDEN();
  std::mt19937 rng(1234);
  const char* signatures[] = {"\xFF\xD8\xFF", "\x89PNG\r\n\x1A\n", "GIF89a",    "RIFF\0\0\0\0WEBP",
                              "BM",           "II\x2A\x00",        "MM\x00\x2A"};
  const size_t signature_sizes[] = {3, 8, 6, 12, 2, 4, 4};
  for (int s = 0; s < 7; ++s) {
    for (int i = 0; i < 40; ++i) {
      std::vector<uint8_t> data(signature_sizes[s] + rng() % 300);
      for (auto& b : data) b = static_cast<uint8_t>(rng());
      std::memcpy(data.data(), signatures[s], signature_sizes[s]);
      auto r = load_crop(data.data(), data.size());
      if (r.is_ok()) {
        EXPECT_EQ(r->pixels.size(), 224u * 224u * 3u);
      }
    }
  }
  // Bit flips in small real files of each format.
  const fs::path edge = testing::golden_dir() / "images" / "edge";
  for (const char* file :
       {"tiny_5x3.jpg", "tiny_1x1.png", "anim.gif", "palette_P.png", "gray_alpha_LA.png",
        "cmyk.jpg", "plain.tiff", "plain.bmp", "lossless.webp"}) {
    const std::vector<uint8_t> original = read_bytes(edge / file);
    for (int i = 0; i < 30; ++i) {
      std::vector<uint8_t> data = original;
      for (int k = 0; k < 4; ++k)
        data[rng() % data.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
      auto r = load_crop(data.data(), data.size());
      if (r.is_ok()) {
        EXPECT_EQ(r->pixels.size(), 224u * 224u * 3u);
      }
    }
  }
}

// `vista preprocess` end to end: the written PNG is the golden crop; failures exit non-zero
// with a message naming the file.
TEST(ImageCli, PreprocessWritesTheCropAndReportsFailures) {
  VISTA_REQUIRE_GOLDEN();
  const fs::path binary = testing::vista_binary();
  if (!fs::exists(binary)) {
    if (testing::running_in_ci()) FAIL() << "vista binary missing at " << binary;
    GTEST_SKIP() << "vista binary not built at " << binary;
  }
  testing::TempDir tmp;
  const fs::path edge = testing::golden_dir() / "images" / "edge";
  const fs::path out = tmp.path() / "crop.png";
  const fs::path log = tmp.path() / "stderr.txt";
  const auto run = [&](const fs::path& image) {
    const std::string cmd = "'" + binary.string() + "' preprocess --image '" + image.string() +
                            "' --out '" + out.string() + "' >/dev/null 2>'" + log.string() + "'";
    const int status = std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  ASSERT_EQ(run(edge / "palette_P.png"), 0);
  EXPECT_EQ(expected_crop(out),
            expected_crop(testing::golden_dir() / "crops" / "palette_P.png.crop.png"));

  EXPECT_EQ(run(edge / "bad_truncated.jpg"), 5);  // corruption
  const std::vector<uint8_t> err = read_bytes(log);
  const std::string message(err.begin(), err.end());
  EXPECT_NE(message.find("error:"), std::string::npos) << message;
  EXPECT_NE(message.find("bad_truncated.jpg"), std::string::npos) << message;
  EXPECT_NE(message.find("truncated"), std::string::npos) << message;
  EXPECT_EQ(run(edge / "bad_not_an_image.png"), 4);  // unsupported input
  EXPECT_EQ(run(tmp.path() / "missing.png"), 3);     // not found
}

}  // namespace
}  // namespace vista::encoder
