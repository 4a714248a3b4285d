// PNG and JPEG encoding (crops for inspection, thumbnails): what is written decodes, through the
// project's own decoder, to the pixels that were given (exactly for PNG, closely for JPEG), and
// malformed input is refused without writing anything.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>

#include "encoder/image/image_decoder.h"
#include "encoder/image/image_writer.h"
#include "encoder/image/preprocess.h"
#include "tests/test_support.h"

namespace vista::encoder {
namespace {

namespace fs = std::filesystem;

// A smooth gradient with a little noise: JPEG keeps it within a few levels, and any mix-up of
// rows, columns or channels shows.
RgbImage test_image(int width, int height) {
  RgbImage image;
  image.width = width;
  image.height = height;
  image.pixels.resize(static_cast<size_t>(width) * height * 3);
  std::mt19937 rng(7);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = &image.pixels[(static_cast<size_t>(y) * width + x) * 3];
      p[0] = static_cast<uint8_t>(255 * x / (width - 1));
      p[1] = static_cast<uint8_t>(255 * y / (height - 1));
      p[2] = static_cast<uint8_t>(96 + rng() % 8);
    }
  }
  return image;
}

DecodedImage decode(const std::string& bytes) {
  auto decoded = decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  EXPECT_TRUE(decoded.is_ok()) << decoded.status();
  return decoded.is_ok() ? *decoded : DecodedImage{};
}

TEST(ImageWriterTest, PngIsLossless) {
  const RgbImage image = test_image(37, 23);
  auto png = encode_png(image);
  ASSERT_TRUE(png.is_ok()) << png.status();
  const DecodedImage decoded = decode(*png);
  EXPECT_EQ(decoded.format, "PNG");
  EXPECT_EQ(decoded.mode, PixelMode::kRGB);
  EXPECT_EQ(decoded.width, 37);
  EXPECT_EQ(decoded.height, 23);
  EXPECT_EQ(decoded.samples, image.pixels);
}

TEST(ImageWriterTest, JpegDecodesCloseToTheInput) {
  const RgbImage image = test_image(64, 48);
  auto jpeg = encode_jpeg(image, 95);
  ASSERT_TRUE(jpeg.is_ok()) << jpeg.status();
  const DecodedImage decoded = decode(*jpeg);
  EXPECT_EQ(decoded.format, "JPEG");
  ASSERT_EQ(decoded.width, 64);
  ASSERT_EQ(decoded.height, 48);
  ASSERT_EQ(decoded.samples.size(), image.pixels.size());
  double total_error = 0;
  for (size_t i = 0; i < image.pixels.size(); ++i)
    total_error += std::abs(int{decoded.samples[i]} - int{image.pixels[i]});
  EXPECT_LT(total_error / image.pixels.size(), 3.0);

  // Quality is honoured: a lower one gives a smaller file.
  auto rough = encode_jpeg(image, 20);
  ASSERT_TRUE(rough.is_ok()) << rough.status();
  EXPECT_LT(rough->size(), jpeg->size());
}

TEST(ImageWriterTest, MalformedInputIsRefused) {
  RgbImage image = test_image(8, 8);
  image.pixels.pop_back();
  EXPECT_EQ(encode_png(image).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(encode_jpeg(image, 85).status().code(), StatusCode::kInvalidArgument);

  RgbImage empty;
  EXPECT_EQ(encode_png(empty).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(encode_jpeg(empty, 85).status().code(), StatusCode::kInvalidArgument);

  const RgbImage good = test_image(8, 8);
  EXPECT_EQ(encode_jpeg(good, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(encode_jpeg(good, 101).status().code(), StatusCode::kInvalidArgument);
}

TEST(ImageWriterTest, SavePngWritesTheFileOrNamesWhyNot) {
  testing::TempDir temp;
  const fs::path& dir = temp.path();
  const RgbImage image = test_image(5, 4);
  const fs::path file = dir / "crop.png";
  ASSERT_TRUE(save_png(image, file).is_ok());
  std::ifstream in(file, std::ios::binary);
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  EXPECT_EQ(decode(bytes).samples, image.pixels);

  // A malformed buffer is refused before the file is touched.
  RgbImage broken = image;
  broken.width = 6;
  const Status refused = save_png(broken, dir / "broken.png");
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.message().find("broken.png"), std::string::npos) << refused;
  EXPECT_FALSE(fs::exists(dir / "broken.png"));

  const Status unwritable = save_png(image, dir / "missing-folder" / "crop.png");
  EXPECT_EQ(unwritable.code(), StatusCode::kIOError);
}

}  // namespace
}  // namespace vista::encoder
