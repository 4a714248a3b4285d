// The network itself (token ids and reference crops in, vectors out) against the official
// implementation's outputs in golden/golden.json, and the tensor declarations against the real
// checkpoints' key lists.
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <map>
#include <set>

#include "encoder/checkpoint/checkpoint.h"
#include "encoder/model/model_config.h"
#include "encoder/model/visualized_bge.h"
#include "tests/golden_model.h"
#include "tests/test_support.h"

namespace vista::encoder {
namespace {

using vista::testing::cosine;
using vista::testing::crop_pixels;
using vista::testing::golden_dir;
using vista::testing::GoldenTokens;
using vista::testing::read_json_file;
using vista::testing::tiny_model_dir;
using vista::testing::to_vector;
using vista::testing::WorstCosine;

constexpr double kMinCosine = 0.99999;

// The tiny model's weights, through the project's checkpoint reader.
NamedTensors tiny_weights() {
  auto checkpoint = read_checkpoint(tiny_model_dir() / "model.safetensors");
  EXPECT_TRUE(checkpoint.is_ok()) << checkpoint.status();
  return checkpoint.is_ok() ? checkpoint->tensors() : NamedTensors{};
}

std::string shape_dtype(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "] " + std::string(c10::toString(t.scalar_type()));
}

class TinyNetwork {
 public:
  explicit TinyNetwork(const ComputeTarget& target) {
    // One intra-op thread: the suite runs beside other test programs (ctest -j).
    at::set_num_threads(1);
    auto config = load_model_config(tiny_model_dir());
    EXPECT_TRUE(config.is_ok()) << config.status();
    model_ = VisualizedBge(*config);
    auto status = model_->load_weights(tiny_weights(), "tiny model");
    EXPECT_TRUE(status.is_ok()) << status;
    model_->prepare(target);
  }
  const VisualizedBge& model() const { return model_; }

  std::vector<float> text(const std::vector<int64_t>& ids) const {
    c10::InferenceMode guard;
    auto t = torch::tensor(ids, torch::kLong).unsqueeze(0);
    return to_vector(model_->encode_text(t, torch::ones_like(t))[0]);
  }
  std::vector<std::vector<float>> mm_batch(const std::string& image,
                                           const std::vector<std::vector<int64_t>>& prompts) const {
    c10::InferenceMode guard;
    size_t length = 0;
    for (const auto& p : prompts) length = std::max(length, p.size());
    const auto n = static_cast<int64_t>(prompts.size());
    auto ids = torch::zeros({n, static_cast<int64_t>(length)}, torch::kLong);
    auto mask = torch::zeros_like(ids);
    for (int64_t i = 0; i < n; ++i) {
      const auto len = static_cast<int64_t>(prompts[i].size());
      ids[i].slice(0, 0, len).copy_(torch::tensor(prompts[i], torch::kLong));
      mask[i].slice(0, 0, len).fill_(1);
    }
    auto pixels = crop_pixels(image).unsqueeze(0).expand({n, -1, -1, -1}).contiguous();
    auto vectors = model_->encode_mm(pixels, ids, mask);
    std::vector<std::vector<float>> out;
    for (int64_t i = 0; i < n; ++i) out.push_back(to_vector(vectors[i]));
    return out;
  }
  std::vector<float> mm(const std::string& image, const std::vector<int64_t>& ids) const {
    c10::InferenceMode guard;
    auto t = torch::tensor(ids, torch::kLong).unsqueeze(0);
    return to_vector(model_->encode_mm(crop_pixels(image).unsqueeze(0), t, torch::ones_like(t))[0]);
  }

 private:
  VisualizedBge model_{nullptr};
};

torch::Tensor ids_tensor(const nlohmann::json& rows) {
  std::vector<torch::Tensor> out;
  for (const auto& r : rows)
    out.push_back(torch::tensor(r.get<std::vector<int64_t>>(), torch::kLong));
  return torch::stack(out);
}

TEST(NetworkDeclarationTest, BaseConfigDeclaresExactlyTheBaseCheckpointKeys) {
  VISTA_REQUIRE_GOLDEN();
  auto config = load_model_config(vista::testing::source_dir() / "config" / "models" /
                                  "bge-visualized-base-en-v1.5");
  ASSERT_TRUE(config.is_ok()) << config.status();
  VisualizedBge model(*config);
  auto expected = read_json_file(golden_dir() / "base_keys.json");

  std::map<std::string, std::string> declared;
  int64_t parameters = 0;
  for (const auto& item : model->named_parameters()) parameters += item.value().numel();
  for (const auto& [name, tensor] : model->declared_tensors()) {
    EXPECT_TRUE(declared.emplace(name, shape_dtype(tensor)).second) << "declared twice: " << name;
  }
  std::map<std::string, std::string> wanted;
  for (auto& [name, info] : expected.items()) {
    auto shape = info[0].get<std::vector<int64_t>>();
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    auto dtype = info[1].get<std::string>();
    ASSERT_EQ(dtype, "torch.float32");
    wanted[name] = s + "] Float";
  }
  for (const auto& [name, what] : wanted) {
    auto it = declared.find(name);
    if (it == declared.end()) {
      ADD_FAILURE() << "not declared: " << name;
    } else {
      EXPECT_EQ(it->second, what) << name;
    }
  }
  for (const auto& [name, what] : declared) EXPECT_TRUE(wanted.count(name)) << "extra: " << name;
  EXPECT_EQ(parameters, 196'335'873);
}

TEST(NetworkDeclarationTest, TinyConfigDeclaresExactlyTheTinyCheckpoint) {
  VISTA_REQUIRE_GOLDEN();
  auto config = load_model_config(tiny_model_dir());
  ASSERT_TRUE(config.is_ok()) << config.status();
  VisualizedBge model(*config);
  std::map<std::string, std::string> declared, stored;
  for (const auto& [name, tensor] : model->declared_tensors()) declared[name] = shape_dtype(tensor);
  for (const auto& [name, tensor] : tiny_weights()) {
    stored[name] = shape_dtype(tensor);
  }
  EXPECT_EQ(declared, stored);
}

TEST(NetworkDeclarationTest, RopeTablesMatchTheCheckpoint) {
  VISTA_REQUIRE_GOLDEN();
  auto config = load_model_config(tiny_model_dir());
  ASSERT_TRUE(config.is_ok()) << config.status();
  auto [cos, sin] = eva_rope_tables(config->vision);
  for (const auto& [name, tensor] : tiny_weights()) {
    if (name.find("freqs_cos") != std::string::npos) {
      EXPECT_LE((tensor - cos).abs().max().item<float>(), 1e-6) << name;
    } else if (name.find("freqs_sin") != std::string::npos) {
      EXPECT_LE((tensor - sin).abs().max().item<float>(), 1e-6) << name;
    }
  }
}

// A complete, well-formed set of tensors for the tiny configuration, every element `value`.
NamedTensors filled_tensors(const VisualizedBge& model, float value) {
  NamedTensors out;
  for (const auto& [name, tensor] : model->declared_tensors()) {
    out.emplace_back(name, torch::full(tensor.sizes(), value, torch::kFloat32));
  }
  return out;
}

class NetworkWeightsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    VISTA_REQUIRE_GOLDEN();
    auto config = load_model_config(tiny_model_dir());
    ASSERT_TRUE(config.is_ok()) << config.status();
    model_ = VisualizedBge(*config);
    ASSERT_TRUE(model_->load_weights(filled_tensors(model_, 1.0f), "ones").is_ok());
  }
  // True when every declared tensor still holds the ones loaded in SetUp().
  bool still_all_ones() const {
    for (const auto& [name, tensor] : model_->declared_tensors()) {
      if (!torch::all(tensor == 1.0f).item<bool>()) return false;
    }
    return true;
  }
  static NamedTensors without(NamedTensors tensors, const std::string& name) {
    tensors.erase(std::remove_if(tensors.begin(), tensors.end(),
                                 [&](const auto& item) { return item.first == name; }),
                  tensors.end());
    return tensors;
  }
  static void replace(NamedTensors& tensors, const std::string& name, torch::Tensor tensor) {
    for (auto& item : tensors) {
      if (item.first == name) item.second = tensor;
    }
  }

  VisualizedBge model_{nullptr};
};

TEST_F(NetworkWeightsTest, MissingKeyIsNamed) {
  auto tensors = without(filled_tensors(model_, 2.0f), "bge_encoder.layer.1.output.dense.bias");
  auto status = model_->load_weights(tensors, "crafted.pth");
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("crafted.pth"), std::string::npos) << status;
  EXPECT_NE(status.message().find("missing tensor 'bge_encoder.layer.1.output.dense.bias' [96]"),
            std::string::npos)
      << status;
  EXPECT_TRUE(still_all_ones());
}

TEST_F(NetworkWeightsTest, UnexpectedKeyIsNamed) {
  auto tensors = filled_tensors(model_, 2.0f);
  tensors.emplace_back("model_visual.visual.blocks.2.norm1.weight", torch::zeros({96}));
  auto status = model_->load_weights(tensors, "crafted.pth");
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("unexpected tensor 'model_visual.visual.blocks.2.norm1.weight'"),
            std::string::npos)
      << status;
  EXPECT_TRUE(still_all_ones());
}

TEST_F(NetworkWeightsTest, OldPositionIdsBufferIsIgnored) {
  auto tensors = filled_tensors(model_, 2.0f);
  tensors.emplace_back("bge_embeddings.position_ids",
                       torch::arange(512, torch::kLong).unsqueeze(0));
  EXPECT_TRUE(model_->load_weights(tensors, "crafted.pth").is_ok());
  for (const auto& [name, tensor] : model_->declared_tensors()) {
    EXPECT_TRUE(torch::all(tensor == 2.0f).item<bool>()) << name;
  }
}

TEST_F(NetworkWeightsTest, ShapeMismatchNamesKeyAndBothShapes) {
  auto tensors = filled_tensors(model_, 2.0f);
  replace(tensors, "visual_proj.weight", torch::zeros({96, 64}));
  auto status = model_->load_weights(tensors, "crafted.pth");
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("'visual_proj.weight' has shape [96, 64] but the model "
                                  "expects [96, 96]"),
            std::string::npos)
      << status;
  EXPECT_TRUE(still_all_ones());
}

TEST_F(NetworkWeightsTest, DtypeMismatchIsUnsupported) {
  auto tensors = filled_tensors(model_, 2.0f);
  replace(tensors, "bge_pooler.dense.bias", torch::zeros({96}, torch::kFloat16));
  auto status = model_->load_weights(tensors, "crafted.pth");
  EXPECT_EQ(status.code(), StatusCode::kUnsupported);
  EXPECT_NE(status.message().find("'bge_pooler.dense.bias' has dtype Half but the model expects "
                                  "Float"),
            std::string::npos)
      << status;
  EXPECT_TRUE(still_all_ones());
}

TEST_F(NetworkWeightsTest, DuplicateKeyIsRejected) {
  auto tensors = filled_tensors(model_, 2.0f);
  tensors.emplace_back("visual_proj.bias", torch::zeros({96}));
  auto status = model_->load_weights(tensors, "crafted.pth");
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("'visual_proj.bias' appears twice"), std::string::npos) << status;
  EXPECT_TRUE(still_all_ones());
}

// Runs every golden case through the network in one compute mode, on one device.
void check_golden(const ComputeTarget& target, double min_cosine) {
  auto golden = read_json_file(golden_dir() / "golden.json");
  GoldenTokens tokens;
  TinyNetwork net(target);
  WorstCosine worst;
  int checked = 0;
  auto check = [&](const std::vector<float>& got, const nlohmann::json& want,
                   const std::string& label) {
    double c = cosine(got, want.get<std::vector<double>>());
    worst.add(c, label);
    ++checked;
    EXPECT_GE(c, min_cosine) << label;
  };

  const std::vector<int64_t> empty_prompt = tokens.full("");
  for (const auto& entry : golden["images"]) {
    if (entry.contains("error")) continue;
    const auto image = entry["image"].get<std::string>();
    // The image alone and with each prompt, as one padded batch of the same image.
    std::vector<std::vector<int64_t>> prompts = {empty_prompt};
    std::vector<nlohmann::json> wanted = {entry["image_only"]};
    std::vector<std::string> labels = {image + " image_only"};
    for (auto& [text, vec] : entry["mm"].items()) {
      prompts.push_back(tokens.full(text));
      wanted.push_back(vec);
      labels.push_back(image + " + '" + text + "'");
    }
    auto vectors = net.mm_batch(image, prompts);
    for (size_t i = 0; i < prompts.size(); ++i) check(vectors[i], wanted[i], labels[i]);
  }
  for (const auto& entry : golden["texts"]) {
    const auto text = entry["text"].get<std::string>();
    auto ids = entry.contains("truncated_to") ? tokens.trunc512(text) : tokens.full(text);
    if (entry.contains("truncated_to")) {
      EXPECT_EQ(ids.size(), entry["truncated_to"].get<size_t>());
    }
    check(net.text(ids), entry["embedding"], "text '" + text.substr(0, 40) + "'");
  }
  {
    const auto& long_mm = golden["long_mm"];
    auto ids =
        tokens.truncated(long_mm["text"].get<std::string>(), long_mm["truncated_to"].get<size_t>());
    EXPECT_EQ(ids.size(), size_t(net.model()->config().max_text_tokens_with_image()));
    check(net.mm(long_mm["image"].get<std::string>(), ids), long_mm["embedding"], "long_mm");
  }

  c10::InferenceMode guard;
  {
    const auto& batch = golden["batch_text"];
    auto ids = ids_tensor(batch["input_ids"]);
    auto vectors = net.model()->encode_text(ids, (ids != 0).to(torch::kLong));
    for (int64_t i = 0; i < ids.size(0); ++i) {
      check(to_vector(vectors[i]), batch["embeddings"][i], "batch_text " + std::to_string(i));
    }
  }
  {
    const auto& batch = golden["batch_image"];
    std::vector<torch::Tensor> pixels;
    for (const auto& image : batch["images"])
      pixels.push_back(crop_pixels(image.get<std::string>()));
    const int64_t n = static_cast<int64_t>(pixels.size());
    auto ids = torch::tensor(empty_prompt, torch::kLong).unsqueeze(0).repeat({n, 1});
    auto vectors = net.model()->encode_mm(torch::stack(pixels), ids, torch::ones_like(ids));
    for (int64_t i = 0; i < n; ++i) {
      check(to_vector(vectors[i]), batch["embeddings"][i], "batch_image " + std::to_string(i));
    }
  }
  {
    const auto& batch = golden["batch_mm"];
    std::vector<torch::Tensor> pixels;
    for (const auto& image : batch["images"])
      pixels.push_back(crop_pixels(image.get<std::string>()));
    auto ids = ids_tensor(batch["input_ids"]);
    auto vectors = net.model()->encode_mm(torch::stack(pixels), ids, (ids != 0).to(torch::kLong));
    for (int64_t i = 0; i < ids.size(0); ++i) {
      check(to_vector(vectors[i]), batch["embeddings"][i], "batch_mm " + std::to_string(i));
    }
  }
  std::printf("[%s on %s%s] %d golden vectors, worst cosine %.9f (1 - cos = %.2e, %s)\n",
              compute_mode_name(target.mode).c_str(), target.device.str().c_str(),
              target.device_path() ? ", plain libtorch ops" : "", checked, worst.value,
              1.0 - worst.value, worst.where.c_str());
  EXPECT_GT(checked, 200);
}

TEST(NetworkGoldenTest, EagerMatchesReference) {
  VISTA_REQUIRE_GOLDEN();
  check_golden(ComputeMode::kEager, kMinCosine);
}

TEST(NetworkGoldenTest, Fp32MatchesReference) {
  VISTA_REQUIRE_GOLDEN();
  check_golden(ComputeMode::kFp32, kMinCosine);
}

TEST(NetworkGoldenTest, Bf16StaysCloseToReference) {
  VISTA_REQUIRE_GOLDEN();
  if (!onednn::bf16_supported()) GTEST_SKIP() << "this CPU has no bf16 support";
  check_golden(ComputeMode::kBf16, 0.999);
}

// The GPU's code path (plain libtorch ops with the fused QKV and patch products, no mask where
// nothing is padded, the complex RoPE in fp32) run on the CPU, so that CI covers it without a GPU.
TEST(NetworkGoldenTest, DevicePathOnTheCpuMatchesReference) {
  VISTA_REQUIRE_GOLDEN();
  const ComputeTarget target(ComputeMode::kFp32, torch::kCPU, /*onednn_allowed=*/false);
  ASSERT_TRUE(target.device_path());
  check_golden(target, kMinCosine);
}

// The GPU's bf16 path (every tensor in bf16, the reference's RoPE formula) on the CPU.
TEST(NetworkGoldenTest, DevicePathInBf16OnTheCpuStaysClose) {
  VISTA_REQUIRE_GOLDEN();
  const ComputeTarget target(ComputeMode::kBf16, torch::kCPU, /*onednn_allowed=*/false);
  ASSERT_EQ(target.dtype(), torch::kBFloat16);
  check_golden(target, 0.999);
}

// The golden cases on a CUDA device: fp32 (TF32 off) exact, bf16 and fp16 close. They run only
// where a CUDA build sees a device (scripts/gpu-check.sh); elsewhere they are skipped and say so.
class NetworkCudaGoldenTest : public ::testing::TestWithParam<std::pair<ComputeMode, double>> {
 protected:
  void SetUp() override {
    VISTA_REQUIRE_GOLDEN();
    if (!torch::cuda::is_available()) {
      GTEST_SKIP() << "no CUDA device visible (or a CPU-only build): the CUDA golden cases run "
                      "on a GPU machine, see scripts/gpu-check.sh";
    }
    at::globalContext().setAllowTF32CuBLAS(false);
    at::globalContext().setAllowTF32CuDNN(false);
  }
};

TEST_P(NetworkCudaGoldenTest, MatchesReference) {
  const auto [mode, min_cosine] = GetParam();
  check_golden(ComputeTarget(mode, torch::Device(torch::kCUDA, 0)), min_cosine);
}

INSTANTIATE_TEST_SUITE_P(Cuda, NetworkCudaGoldenTest,
                         ::testing::Values(std::make_pair(ComputeMode::kFp32, kMinCosine),
                                           std::make_pair(ComputeMode::kBf16, 0.999),
                                           std::make_pair(ComputeMode::kFp16, 0.999),
                                           std::make_pair(ComputeMode::kEager, kMinCosine)),
                         [](const auto& info) { return compute_mode_name(info.param.first); });

}  // namespace
}  // namespace vista::encoder
