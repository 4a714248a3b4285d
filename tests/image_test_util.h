// Helpers shared by the image tests: file bytes, and expected crops read by OpenCV (a PNG reader
// independent of the decoders under test).
#pragma once

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

namespace vista::testing {

inline std::vector<uint8_t> read_file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
}

// A crop stored as PNG, as RGB bytes; empty when the file cannot be read.
inline std::vector<uint8_t> read_png_rgb(const std::filesystem::path& png) {
  cv::Mat bgr = cv::imread(png.string(), cv::IMREAD_COLOR);
  if (bgr.empty()) return {};
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return std::vector<uint8_t>(rgb.data, rgb.data + rgb.total() * rgb.elemSize());
}

}  // namespace vista::testing
