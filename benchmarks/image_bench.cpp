// Image preprocessing cost: decode + Pillow-exact Resize/CenterCrop per golden photo, and a
// synthetic 12-megapixel JPEG (encoded here with OpenCV). The OpenCV baseline (imdecode +
// INTER_AREA resize + crop: fast but not the reference's pixels) runs in the same process for
// a ratio. Results: BENCHMARKS.md, "Image preprocessing".
#include <benchmark/benchmark.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "encoder/image/image_decoder.h"
#include "encoder/image/preprocess.h"

namespace {

namespace fs = std::filesystem;
using vista::encoder::decode_image;
using vista::encoder::preprocess_to_crop;

fs::path golden_dir() {
  if (const char* env = std::getenv("VISTA_GOLDEN_DIR"); env && *env) return env;
  return VISTA_DEFAULT_GOLDEN_DIR;
}

std::vector<uint8_t> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
}

// A 4000x3000 photo-like JPEG: smooth gradients plus noise, so the entropy coder has work.
const std::vector<uint8_t>& synthetic_12mp_jpeg() {
  static const std::vector<uint8_t> jpeg = [] {
    cv::Mat img(3000, 4000, CV_8UC3);
    std::mt19937 rng(7);
    for (int y = 0; y < img.rows; ++y) {
      auto* row = img.ptr<cv::Vec3b>(y);
      for (int x = 0; x < img.cols; ++x) {
        const int noise = static_cast<int>(rng() % 24);
        row[x] = cv::Vec3b(static_cast<uint8_t>((x * 255 / img.cols + noise) & 255),
                           static_cast<uint8_t>((y * 255 / img.rows + noise) & 255),
                           static_cast<uint8_t>(((x + y) / 27 + noise) & 255));
      }
    }
    std::vector<uint8_t> out;
    cv::imencode(".jpg", img, out, {cv::IMWRITE_JPEG_QUALITY, 90});
    return out;
  }();
  return jpeg;
}

void set_counters(benchmark::State& state, uint64_t pixels) {
  state.counters["MP/s"] = benchmark::Counter(static_cast<double>(pixels) / 1e6,
                                              benchmark::Counter::kIsIterationInvariantRate);
  state.counters["MP"] = static_cast<double>(pixels) / 1e6;
}

void decode_and_crop(benchmark::State& state, const std::vector<uint8_t>& bytes) {
  uint64_t pixels = 0;
  for (auto _ : state) {
    auto decoded = decode_image(bytes.data(), bytes.size());
    if (!decoded.is_ok()) {
      state.SkipWithError(decoded.status().to_string().c_str());
      return;
    }
    pixels = static_cast<uint64_t>(decoded->width) * decoded->height;
    auto crop = preprocess_to_crop(*decoded);
    benchmark::DoNotOptimize(crop);
  }
  set_counters(state, pixels);
}

void BM_Synthetic12MP_DecodeAndCrop(benchmark::State& state) {
  decode_and_crop(state, synthetic_12mp_jpeg());
}
BENCHMARK(BM_Synthetic12MP_DecodeAndCrop)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_Synthetic12MP_DecodeOnly(benchmark::State& state) {
  const auto& bytes = synthetic_12mp_jpeg();
  for (auto _ : state) {
    auto decoded = decode_image(bytes.data(), bytes.size());
    benchmark::DoNotOptimize(decoded);
  }
  set_counters(state, 4000ull * 3000);
}
BENCHMARK(BM_Synthetic12MP_DecodeOnly)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_Synthetic12MP_CropOnly(benchmark::State& state) {
  const auto& bytes = synthetic_12mp_jpeg();
  auto decoded = decode_image(bytes.data(), bytes.size());
  for (auto _ : state) {
    auto crop = preprocess_to_crop(*decoded);
    benchmark::DoNotOptimize(crop);
  }
  set_counters(state, 4000ull * 3000);
}
BENCHMARK(BM_Synthetic12MP_CropOnly)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// Baseline: what a plain OpenCV pipeline costs (different pixels from the reference).
void BM_Synthetic12MP_OpenCvBaseline(benchmark::State& state) {
  const auto& bytes = synthetic_12mp_jpeg();
  for (auto _ : state) {
    cv::Mat img = cv::imdecode(bytes, cv::IMREAD_COLOR);
    cv::Mat resized;
    cv::resize(img, resized, cv::Size(298, 224), 0, 0, cv::INTER_AREA);
    cv::Mat crop = resized(cv::Rect(37, 0, 224, 224)).clone();
    benchmark::DoNotOptimize(crop.data);
  }
  set_counters(state, 4000ull * 3000);
}
BENCHMARK(BM_Synthetic12MP_OpenCvBaseline)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// One benchmark per golden photo (decode + crop), registered at start-up.
int register_golden() {
  const fs::path dir = golden_dir() / "images";
  if (!fs::exists(dir)) {
    std::cerr << "golden images not found at " << dir << " (set VISTA_GOLDEN_DIR)\n";
    return 0;
  }
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const fs::path& file : files) {
    auto bytes = std::make_shared<std::vector<uint8_t>>(read_file(file));
    benchmark::RegisterBenchmark(("BM_Golden/" + file.filename().string()).c_str(),
                                 [bytes](benchmark::State& s) { decode_and_crop(s, *bytes); })
        ->Unit(benchmark::kMillisecond);
  }
  return 0;
}
const int kRegistered = register_golden();

}  // namespace

BENCHMARK_MAIN();
