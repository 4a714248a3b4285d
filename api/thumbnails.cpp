#include "api/thumbnails.h"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "encoder/image/image_writer.h"

namespace vista::api {

namespace {

using encoder::DecodedImage;
using encoder::PixelMode;

constexpr int kThumbnailJpegQuality = 85;

uint8_t over_white(uint8_t c, uint8_t a) {
  return static_cast<uint8_t>((c * a + 255 * (255 - a) + 127) / 255);
}

// RGB (interleaved) of any decoded mode, for display only.
Result<cv::Mat> to_rgb(const DecodedImage& img) {
  const int w = img.width, h = img.height;
  const size_t n = static_cast<size_t>(w) * h;
  if (w <= 0 || h <= 0) return Status::corruption("the image is empty");
  cv::Mat out(h, w, CV_8UC3);
  uint8_t* dst = out.ptr<uint8_t>();
  const uint8_t* s = img.samples.data();
  auto need = [&](size_t channels) { return img.samples.size() >= n * channels; };
  switch (img.mode) {
    case PixelMode::kL:
    case PixelMode::k1:
      if (!need(1)) break;
      for (size_t i = 0; i < n; ++i) dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = s[i];
      return out;
    case PixelMode::kLA:
      if (!need(2)) break;
      for (size_t i = 0; i < n; ++i)
        dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = over_white(s[2 * i], s[2 * i + 1]);
      return out;
    case PixelMode::kRGB:
    case PixelMode::kP:
      if (!need(3)) break;
      std::copy(s, s + 3 * n, dst);
      return out;
    case PixelMode::kRGBA:
      if (!need(4)) break;
      for (size_t i = 0; i < n; ++i)
        for (int c = 0; c < 3; ++c) dst[3 * i + c] = over_white(s[4 * i + c], s[4 * i + 3]);
      return out;
    case PixelMode::kCMYK:
      if (!need(4)) break;
      for (size_t i = 0; i < n; ++i) {
        const int k = 255 - s[4 * i + 3];
        for (int c = 0; c < 3; ++c)
          dst[3 * i + c] = static_cast<uint8_t>((255 - s[4 * i + c]) * k / 255);
      }
      return out;
    case PixelMode::kI16:
      if (img.samples16.size() < n) break;
      for (size_t i = 0; i < n; ++i)
        dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = static_cast<uint8_t>(img.samples16[i] >> 8);
      return out;
    case PixelMode::kI:
      if (img.samples_i32.size() < n) break;
      for (size_t i = 0; i < n; ++i)
        dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] =
            static_cast<uint8_t>(std::clamp(img.samples_i32[i], 0, 255));
      return out;
    case PixelMode::kF:
      if (img.samples_f32.size() < n) break;
      for (size_t i = 0; i < n; ++i) {
        const float v = img.samples_f32[i];
        dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] =
            static_cast<uint8_t>(v > 0.0f ? std::min(v, 255.0f) : 0.0f);  // NaN -> 0
      }
      return out;
  }
  return Status::corruption("the decoded image has fewer samples than its size says");
}

}  // namespace

Result<std::string> make_thumbnail(std::string_view image_bytes, int size,
                                   const encoder::DecodeLimits& limits) {
  VISTA_ASSIGN_OR_RETURN(DecodedImage decoded,
                         encoder::decode_image(reinterpret_cast<const uint8_t*>(image_bytes.data()),
                                               image_bytes.size(), limits));
  VISTA_ASSIGN_OR_RETURN(cv::Mat rgb, to_rgb(decoded));
  try {
    const int longer = std::max(rgb.cols, rgb.rows);
    if (longer > size) {
      const double scale = static_cast<double>(size) / longer;
      const int w = std::max(1, static_cast<int>(std::lround(rgb.cols * scale)));
      const int h = std::max(1, static_cast<int>(std::lround(rgb.rows * scale)));
      cv::Mat small;
      cv::resize(rgb, small, cv::Size(w, h), 0, 0, cv::INTER_AREA);
      rgb = small;
    }
  } catch (const cv::Exception& e) {
    return Status::internal(std::string("thumbnail: ") + e.what());
  }
  if (!rgb.isContinuous()) rgb = rgb.clone();
  encoder::RgbImage thumbnail;
  thumbnail.width = rgb.cols;
  thumbnail.height = rgb.rows;
  thumbnail.pixels.assign(rgb.datastart, rgb.dataend);
  auto jpeg = encoder::encode_jpeg(thumbnail, kThumbnailJpegQuality);
  if (!jpeg.is_ok()) return jpeg.status().with_context("thumbnail");
  return jpeg;
}

std::optional<std::string> ThumbnailCache::get(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = index_.find(key);
  if (it == index_.end()) {
    ++misses_;
    return std::nullopt;
  }
  ++hits_;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;
}

void ThumbnailCache::put(const std::string& key, std::string value) {
  const uint64_t bytes = key.size() + value.size();
  std::lock_guard<std::mutex> lock(mutex_);
  if (bytes > capacity_ || index_.count(key)) return;
  lru_.emplace_front(key, std::move(value));
  index_[key] = lru_.begin();
  size_ += bytes;
  while (size_ > capacity_ && !lru_.empty()) {
    auto& last = lru_.back();
    size_ -= last.first.size() + last.second.size();
    index_.erase(last.first);
    lru_.pop_back();
  }
}

int64_t ThumbnailCache::hits() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return hits_;
}
int64_t ThumbnailCache::misses() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return misses_;
}

}  // namespace vista::api
