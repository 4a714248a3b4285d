// Odd layouts that Pillow opens in its own way, each checked against the crop Pillow made from
// the same file: TIFF orientation, RGB TIFF with four samples and no ExtraSamples, GIF with
// wide LZW codes, BMP without its last row's padding, TIFF in modes I and F, and the TIFF
// layouts refused with their reason (L*a*b*, palette + alpha).
// tests/data/pillow_odd/make_fixtures.py wrote the files and manifest.json.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "encoder/image/image_decoder.h"
#include "encoder/image/preprocess.h"
#include "tests/image_test_util.h"
#include "tests/test_support.h"

namespace vista::encoder {
namespace {

namespace fs = std::filesystem;

fs::path fixture_dir() {
  return testing::source_dir() / "tests" / "data" / "pillow_odd";
}

using testing::read_file_bytes;
using testing::read_png_rgb;

nlohmann::json manifest() {
  std::ifstream in(fixture_dir() / "manifest.json");
  return nlohmann::json::parse(in);
}

Result<DecodedImage> decode_fixture(const std::string& name) {
  const std::vector<uint8_t> bytes = read_file_bytes(fixture_dir() / name);
  return decode_image(bytes.data(), bytes.size());
}

TEST(ImagePillowOdd, EveryCropIsByteIdenticalToPillows) {
  const nlohmann::json entries = manifest();
  std::set<int> items;
  int compared = 0;
  for (const auto& entry : entries) {
    if (entry.contains("error")) continue;
    const std::string name = entry["file"];
    SCOPED_TRACE(name + " (" + entry["note"].get<std::string>() + ")");
    auto decoded = decode_fixture(name);
    ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
    EXPECT_EQ(pixel_mode_name(decoded->mode), entry["mode"].get<std::string>());
    for (const auto& [size, png] : entry["crops"].items()) {
      const std::vector<uint8_t> want = read_png_rgb(fixture_dir() / png.get<std::string>());
      ASSERT_FALSE(want.empty()) << png;
      auto crop = preprocess_to_crop(*decoded, std::stoi(size));
      ASSERT_TRUE(crop.is_ok()) << crop.status().to_string();
      EXPECT_EQ(crop->pixels, want) << "crop size " << size;
      ++compared;
    }
    items.insert(entry["item"].get<int>());
  }
  EXPECT_EQ(items, (std::set<int>{1, 2, 3, 4, 5}));
  EXPECT_GE(compared, 50);
}

TEST(ImagePillowOdd, RefusedFilesFailWithTheirReason) {
  int refused = 0;
  for (const auto& entry : manifest()) {
    if (!entry.contains("error")) continue;
    const std::string name = entry["file"];
    SCOPED_TRACE(name);
    auto decoded = decode_fixture(name);
    ASSERT_FALSE(decoded.is_ok());
    const StatusCode want =
        entry["error"] == "unsupported" ? StatusCode::kUnsupported : StatusCode::kCorruption;
    EXPECT_EQ(decoded.status().code(), want) << decoded.status().to_string();
    // The message must name the layout or the problem for the user.
    EXPECT_NE(decoded.status().message().find(entry["message_contains"].get<std::string>()),
              std::string::npos)
        << decoded.status().to_string();
    ++refused;
  }
  EXPECT_EQ(refused, 3);
}

// Independently of Pillow's crops: the decoded pixels are the stored raster moved as the
// Orientation tag says, and 5-8 swap width and height.
TEST(ImagePillowOdd, TiffOrientationMovesEveryPixel) {
  auto stored = decode_fixture("orient_bilevel_1.tif");
  ASSERT_TRUE(stored.is_ok()) << stored.status().to_string();
  const int w = stored->width, h = stored->height;
  ASSERT_EQ(w, 13);
  ASSERT_EQ(h, 7);
  auto at = [&](int x, int y) { return stored->samples[static_cast<size_t>(y) * w + x]; };
  for (int o = 2; o <= 8; ++o) {
    SCOPED_TRACE("orientation " + std::to_string(o));
    auto image = decode_fixture("orient_bilevel_" + std::to_string(o) + ".tif");
    ASSERT_TRUE(image.is_ok()) << image.status().to_string();
    const bool swapped = o >= 5;
    ASSERT_EQ(image->width, swapped ? h : w);
    ASSERT_EQ(image->height, swapped ? w : h);
    int differing = 0;
    for (int y = 0; y < image->height; ++y) {
      for (int x = 0; x < image->width; ++x) {
        // Where pixel (x, y) of the shown image comes from in the stored raster.
        const int sx[] = {0, 0, w - 1 - x, w - 1 - x, x, y, y, w - 1 - y, w - 1 - y};
        const int sy[] = {0, 0, y, h - 1 - y, h - 1 - y, x, h - 1 - x, h - 1 - x, x};
        const uint8_t v = image->samples[static_cast<size_t>(y) * image->width + x];
        ASSERT_EQ(v, at(sx[o], sy[o])) << "at " << x << "," << y;
        if (!swapped && v != at(x, y)) ++differing;
      }
    }
    if (!swapped) {
      EXPECT_GT(differing, 0) << "the picture must not be symmetric";
    }
  }
}

TEST(ImagePillowOdd, RgbTiffWithoutExtraSamplesKeepsItsAlpha) {
  auto rgba = decode_fixture("rgba_no_extrasamples.tif");
  auto rgbx = decode_fixture("rgbx_extrasamples_0.tif");
  ASSERT_TRUE(rgba.is_ok()) << rgba.status().to_string();
  ASSERT_TRUE(rgbx.is_ok()) << rgbx.status().to_string();
  EXPECT_EQ(rgba->mode, PixelMode::kRGBA);
  EXPECT_EQ(rgbx->mode, PixelMode::kRGB);
  // Same stored samples; the alpha changes the resized colours (premultiplied resize).
  auto with_alpha = preprocess_to_crop(*rgba, 6);
  auto without = preprocess_to_crop(*rgbx, 6);
  ASSERT_TRUE(with_alpha.is_ok() && without.is_ok());
  EXPECT_NE(with_alpha->pixels, without->pixels);
}

TEST(ImagePillowOdd, BmpWithoutLastPaddingEqualsThePaddedFile) {
  auto full = decode_fixture("pal8_full.bmp");
  ASSERT_TRUE(full.is_ok()) << full.status().to_string();
  for (const char* name : {"pal8_last_padding_short_1.bmp", "pal8_last_padding_short_3.bmp"}) {
    SCOPED_TRACE(name);
    auto shorter = decode_fixture(name);
    ASSERT_TRUE(shorter.is_ok()) << shorter.status().to_string();
    EXPECT_EQ(shorter->mode, full->mode);
    EXPECT_EQ(shorter->samples, full->samples);
  }
}

TEST(ImagePillowOdd, WideCodeGifNeedsEveryByte) {
  const std::vector<uint8_t> bytes = read_file_bytes(fixture_dir() / "lzw_code_size_11.gif");
  ASSERT_GT(bytes.size(), 20u);
  ASSERT_TRUE(decode_image(bytes.data(), bytes.size()).is_ok());
  // Without the trailer and the block terminator the frame is still complete; cut into the
  // last data block, it is truncated. Pillow 12.2 behaves the same on these cuts.
  EXPECT_TRUE(decode_image(bytes.data(), bytes.size() - 1).is_ok());
  EXPECT_TRUE(decode_image(bytes.data(), bytes.size() - 2).is_ok());
  for (size_t cut = bytes.size() - 3; cut > 800; --cut) {
    auto decoded = decode_image(bytes.data(), cut);
    ASSERT_FALSE(decoded.is_ok()) << "cut at " << cut;
    EXPECT_EQ(decoded.status().code(), StatusCode::kCorruption) << "cut at " << cut;
  }
}

// Every prefix and a few bit flips of every fixture: a Status, never a crash.
TEST(ImagePillowOdd, DamagedFixturesNeverCrash) {
  int files = 0;
  for (const auto& entry : manifest()) {
    const std::vector<uint8_t> bytes =
        read_file_bytes(fixture_dir() / entry["file"].get<std::string>());
    ASSERT_FALSE(bytes.empty());
    for (size_t cut = 0; cut < bytes.size(); cut += 1 + cut / 64) {
      auto crop = load_crop(bytes.data(), cut, 16);
      if (crop.is_ok()) {
        EXPECT_EQ(crop->pixels.size(), 16u * 16u * 3u);
      }
    }
    for (size_t i = 0; i < bytes.size(); i += 7) {
      std::vector<uint8_t> flipped = bytes;
      flipped[i] ^= 0x5A;
      auto crop = load_crop(flipped.data(), flipped.size(), 16);
      if (crop.is_ok()) {
        EXPECT_EQ(crop->pixels.size(), 16u * 16u * 3u);
      }
    }
    ++files;
  }
  EXPECT_GE(files, 35);
}

}  // namespace
}  // namespace vista::encoder
