// Helpers shared by the network and encoder tests: the golden tiny model, its reference crops
// and token ids, and vector comparison.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "encoder/image/image_decoder.h"
#include "tests/test_support.h"

namespace vista::testing {

inline nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  return nlohmann::json::parse(in);
}

inline std::filesystem::path tiny_model_dir() {
  return golden_dir() / "tiny-model";
}

// "imgs/cir_query.png" or "edge/anim.gif" -> golden/crops/<file>.crop.png.
inline std::filesystem::path crop_path(const std::string& golden_image) {
  auto file = std::filesystem::path(golden_image).filename().string();
  return golden_dir() / "crops" / (file + ".crop.png");
}

// The reference 224x224 RGB crop, /255 and normalised with the CLIP mean and std: [3, 224, 224].
// (The crops are 8-bit RGB PNGs, which decode losslessly.)
inline torch::Tensor crop_pixels(const std::string& golden_image) {
  auto path = crop_path(golden_image);
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto decoded = vista::encoder::decode_image(bytes.data(), bytes.size());
  if (!decoded.is_ok() || decoded->mode != vista::encoder::PixelMode::kRGB) {
    throw std::runtime_error("cannot decode " + path.string() + " as an RGB image");
  }
  auto hwc = torch::from_blob(decoded->samples.data(), {decoded->height, decoded->width, 3},
                              torch::kUInt8)
                 .clone();
  auto chw = hwc.permute({2, 0, 1}).to(torch::kFloat32) / 255.0;
  auto mean = torch::tensor({0.48145466f, 0.4578275f, 0.40821073f}).view({3, 1, 1});
  auto std = torch::tensor({0.26862954f, 0.26130258f, 0.27577711f}).view({3, 1, 1});
  return ((chw - mean) / std).contiguous();
}

// Token ids the reference tokenizer produced for a golden text (tokens.json).
class GoldenTokens {
 public:
  GoldenTokens() {
    auto tokens = read_json_file(golden_dir() / "tokens.json");
    for (const auto& c : tokens["cases"]) {
      full_[c["text"].get<std::string>()] = c["model"].get<std::vector<int64_t>>();
      trunc512_[c["text"].get<std::string>()] = c["model_trunc512"].get<std::vector<int64_t>>();
    }
    // golden.json's image+text prompt "a dragon flying over a castle at sunset" is not among
    // tokens.json's strings; its ids are "a" (1037, as in batch_mm's "a dragon") followed by
    // those of "dragon flying over a castle at sunset", which is.
    auto ids = full_.at("dragon flying over a castle at sunset");
    ids.insert(ids.begin() + 1, 1037);
    full_.emplace("a dragon flying over a castle at sunset", ids);
    trunc512_.emplace("a dragon flying over a castle at sunset", ids);
  }
  const std::vector<int64_t>& full(const std::string& text) const { return lookup(full_, text); }
  const std::vector<int64_t>& trunc512(const std::string& text) const {
    return lookup(trunc512_, text);
  }
  // Cut to `limit` tokens keeping [SEP] last, as the engine truncates.
  std::vector<int64_t> truncated(const std::string& text, size_t limit) const {
    auto ids = full(text);
    if (ids.size() > limit) {
      int64_t sep = ids.back();
      ids.resize(limit);
      ids.back() = sep;
    }
    return ids;
  }

 private:
  static const std::vector<int64_t>& lookup(
      const std::map<std::string, std::vector<int64_t>>& table, const std::string& text) {
    auto it = table.find(text);
    if (it == table.end()) throw std::runtime_error("no golden token ids for '" + text + "'");
    return it->second;
  }

  std::map<std::string, std::vector<int64_t>> full_;
  std::map<std::string, std::vector<int64_t>> trunc512_;
};

inline double cosine(const std::vector<float>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return -2.0;
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    dot += a[i] * b[i];
    na += double(a[i]) * a[i];
    nb += b[i] * b[i];
  }
  return dot / std::sqrt(na * nb);
}

inline std::vector<float> to_vector(const torch::Tensor& row) {
  auto c = row.to(torch::kCPU, torch::kFloat32).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

// Tracks the worst cosine over a test and where it happened.
struct WorstCosine {
  double value = 1.0;
  std::string where;
  void add(double c, const std::string& label) {
    if (c < value) {
      value = c;
      where = label;
    }
  }
};

}  // namespace vista::testing
