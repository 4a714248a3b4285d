// The Encoder facade end to end: model directory -> tokenizer, decoding, preprocessing, batching,
// truncation -> vectors equal to the official implementation's (golden/golden.json).
#include "encoder/model/encoder.h"

#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <fstream>
#include <regex>
#include <thread>

#include "encoder/image/preprocess.h"
#include "tests/golden_model.h"
#include "tests/test_support.h"

namespace vista::encoder {
namespace {

using vista::testing::cosine;
using vista::testing::golden_dir;
using vista::testing::read_json_file;
using vista::testing::tiny_model_dir;
using vista::testing::WorstCosine;

constexpr double kMinCosine = 0.99999;

// One intra-op thread: the suite runs beside other test programs (ctest -j), where OpenMP teams
// waiting on each other only cost time; the concurrency test brings its own threads.
EncoderOptions test_options(size_t max_batch = 16) {
  EncoderOptions options;
  options.threads = 1;
  options.max_batch = max_batch;
  return options;
}

// "imgs/x.png" -> golden/images/x.png, "edge/y.jpg" -> golden/images/edge/y.jpg.
std::filesystem::path golden_image_path(const std::string& name) {
  if (name.rfind("imgs/", 0) == 0) return golden_dir() / "images" / name.substr(5);
  if (name.rfind("edge/", 0) == 0) return golden_dir() / "images" / "edge" / name.substr(5);
  return golden_dir() / name;
}

class EncoderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(golden_dir() / "golden.json")) return;
    auto loaded = Encoder::load(tiny_model_dir(), test_options());
    ASSERT_TRUE(loaded.is_ok()) << loaded.status();
    encoder_ = *loaded;
  }
  static void TearDownTestSuite() { encoder_.reset(); }
  void SetUp() override { VISTA_REQUIRE_GOLDEN(); }

  static RgbImage crop(const std::string& golden_name) {
    auto image = load_crop(golden_image_path(golden_name), encoder_->image_size());
    EXPECT_TRUE(image.is_ok()) << image.status();
    return image.is_ok() ? *image : RgbImage{};
  }
  static EncodeInput text(const std::string& t) { return EncodeInput{t, std::nullopt}; }
  static EncodeInput image(const std::string& name) {
    return EncodeInput{std::nullopt, crop(name)};
  }
  static EncodeInput both(const std::string& name, const std::string& t) {
    return EncodeInput{t, crop(name)};
  }

 public:
  // Every golden vector through the whole pipeline of `encoder`: files decoded and cropped by
  // the image module, texts tokenized by the tokenizer, inputs batched by the encoder.
  static void check_every_golden_vector(const Encoder& encoder, double min_cosine);

  static std::shared_ptr<const Encoder> encoder_;
};
std::shared_ptr<const Encoder> EncoderTest::encoder_;

TEST_F(EncoderTest, DescribesTheModel) {
  EXPECT_EQ(encoder_->dim(), 96);
  EXPECT_EQ(encoder_->image_size(), 224);
  EXPECT_EQ(encoder_->max_text_tokens(), 512);
  EXPECT_EQ(encoder_->max_text_tokens_with_image(), 316);
  EXPECT_EQ(encoder_->model_name(), "tiny-model");
  EXPECT_TRUE(std::regex_match(encoder_->model_id(), std::regex("tiny-model@[0-9a-f]{16}")))
      << encoder_->model_id();
  EXPECT_EQ(encoder_->mode(), ComputeMode::kFp32);
}

void EncoderTest::check_every_golden_vector(const Encoder& encoder, double min_cosine) {
  auto golden = read_json_file(golden_dir() / "golden.json");
  std::vector<EncodeInput> inputs;
  std::vector<nlohmann::json> wanted;
  std::vector<std::string> labels;
  std::vector<int> truncated_to;
  auto add = [&](EncodeInput input, const nlohmann::json& vec, std::string label, int trunc) {
    inputs.push_back(std::move(input));
    wanted.push_back(vec);
    labels.push_back(std::move(label));
    truncated_to.push_back(trunc);
  };
  for (const auto& entry : golden["images"]) {
    const auto name = entry["image"].get<std::string>();
    if (entry.contains("error")) {
      auto failed = load_crop(golden_image_path(name));
      EXPECT_FALSE(failed.is_ok()) << name;
      continue;
    }
    add(image(name), entry["image_only"], name, 0);
    for (auto& [t, vec] : entry["mm"].items()) add(both(name, t), vec, name + " + " + t, 0);
  }
  for (const auto& entry : golden["texts"]) {
    const auto t = entry["text"].get<std::string>();
    add(text(t), entry["embedding"], "text " + t.substr(0, 30), entry.value("truncated_to", 0));
  }
  const auto& long_mm = golden["long_mm"];
  add(both(long_mm["image"].get<std::string>(), long_mm["text"].get<std::string>()),
      long_mm["embedding"], "long_mm", long_mm["truncated_to"].get<int>());
  for (size_t i = 0; i < golden["batch_text"]["texts"].size(); ++i) {
    add(text(golden["batch_text"]["texts"][i].get<std::string>()),
        golden["batch_text"]["embeddings"][i], "batch_text " + std::to_string(i), 0);
  }
  for (size_t i = 0; i < golden["batch_image"]["images"].size(); ++i) {
    add(image(golden["batch_image"]["images"][i].get<std::string>()),
        golden["batch_image"]["embeddings"][i], "batch_image " + std::to_string(i), 0);
  }
  for (size_t i = 0; i < golden["batch_mm"]["images"].size(); ++i) {
    add(both(golden["batch_mm"]["images"][i].get<std::string>(),
             golden["batch_mm"]["texts"][i].get<std::string>()),
        golden["batch_mm"]["embeddings"][i], "batch_mm " + std::to_string(i), 0);
  }

  auto outputs = encoder.encode(inputs);
  ASSERT_TRUE(outputs.is_ok()) << outputs.status();
  ASSERT_EQ(outputs->size(), inputs.size());
  WorstCosine worst;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto& out = (*outputs)[i];
    ASSERT_EQ(out.vector.size(), 96u) << labels[i];
    double c = cosine(out.vector, wanted[i].get<std::vector<double>>());
    worst.add(c, labels[i]);
    EXPECT_GE(c, min_cosine) << labels[i];
    EXPECT_EQ(out.truncated, truncated_to[i] != 0) << labels[i];
  }
  std::printf("encoder (%s on %s): %zu golden vectors, worst cosine %.9f (1 - cos = %.2e, %s)\n",
              compute_mode_name(encoder.mode()).c_str(), encoder.device().name().c_str(),
              inputs.size(), worst.value, 1.0 - worst.value, worst.where.c_str());
  EXPECT_GT(inputs.size(), 200u);
}

TEST_F(EncoderTest, ReproducesEveryGoldenVector) {
  check_every_golden_vector(*encoder_, kMinCosine);
}

// The whole pipeline on a CUDA device (pinned byte upload, normalisation on the device, several
// forward passes in flight with a small max_batch). Skipped, saying so, without a visible device.
void check_on_cuda(ComputeMode mode, size_t max_batch, double min_cosine) {
  if (!torch::cuda::is_available()) {
    GTEST_SKIP() << "no CUDA device visible (or a CPU-only build): the CUDA golden cases run on a "
                    "GPU machine, see scripts/gpu-check.sh";
  }
  auto options = test_options(max_batch);
  options.mode = mode;
  options.device = DeviceSpec{true, 0};
  auto loaded = Encoder::load(tiny_model_dir(), options);
  ASSERT_TRUE(loaded.is_ok()) << loaded.status();
  EXPECT_FALSE(at::globalContext().allowTF32CuBLAS());
  EncoderTest::check_every_golden_vector(**loaded, min_cosine);
}

TEST_F(EncoderTest, Fp32OnCudaReproducesEveryGoldenVector) {
  check_on_cuda(ComputeMode::kFp32, 7, kMinCosine);
}
TEST_F(EncoderTest, Fp32OnCudaWithLargeBatchesReproducesEveryGoldenVector) {
  check_on_cuda(ComputeMode::kFp32, 256, kMinCosine);
}
TEST_F(EncoderTest, Bf16OnCudaStaysClose) {
  check_on_cuda(ComputeMode::kBf16, 256, 0.999);
}
TEST_F(EncoderTest, Fp16OnCudaStaysClose) {
  check_on_cuda(ComputeMode::kFp16, 256, 0.999);
}

// Where CUDA cannot run, asking for it fails at load and says what is missing.
TEST(EncoderDeviceTest, UnavailableCudaIsAClearError) {
  VISTA_REQUIRE_GOLDEN();
  if (torch::cuda::is_available()) GTEST_SKIP() << "a CUDA device is visible here";
  auto options = test_options();
  options.device = DeviceSpec{true, 0};
  auto loaded = Encoder::load(tiny_model_dir(), options);
  ASSERT_FALSE(loaded.is_ok());
  if (build_has_cuda()) {
    EXPECT_EQ(loaded.status().code(), StatusCode::kFailedPrecondition) << loaded.status();
    EXPECT_NE(loaded.status().message().find("no CUDA device is visible"), std::string::npos);
  } else {
    EXPECT_EQ(loaded.status().code(), StatusCode::kUnsupported) << loaded.status();
    EXPECT_NE(loaded.status().message().find("has no CUDA support"), std::string::npos);
  }
}

TEST(EncoderDeviceTest, Fp16IsRefusedOnTheCpu) {
  VISTA_REQUIRE_GOLDEN();
  auto options = test_options();
  options.mode = ComputeMode::kFp16;
  auto loaded = Encoder::load(tiny_model_dir(), options);
  ASSERT_FALSE(loaded.is_ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(loaded.status().message().find("CUDA devices only"), std::string::npos);
}

TEST_F(EncoderTest, MixedBatchEqualsSingleCalls) {
  std::vector<EncodeInput> inputs = {
      text("blue whale"),
      image("imgs/datawhale01.png"),
      both("imgs/dragon02.png", "a dragon flying over a castle at sunset"),
      text("a much longer sentence about a red dragon flying over an old castle"),
      both("imgs/cir_query.png", "一条龙"),
      image("edge/palette_P.png"),
      text(""),
  };
  auto batched = encoder_->encode(inputs);
  ASSERT_TRUE(batched.is_ok()) << batched.status();
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto single = encoder_->encode(inputs[i]);
    ASSERT_TRUE(single.is_ok()) << single.status();
    ASSERT_EQ(single->vector.size(), (*batched)[i].vector.size());
    for (size_t d = 0; d < single->vector.size(); ++d) {
      ASSERT_NEAR(single->vector[d], (*batched)[i].vector[d], 1e-5) << "input " << i;
    }
  }
}

TEST_F(EncoderTest, SmallMaxBatchGivesTheSameVectors) {
  auto small = Encoder::load(tiny_model_dir(), test_options(2));
  ASSERT_TRUE(small.is_ok()) << small.status();
  std::vector<EncodeInput> inputs = {text("one"),
                                     text("two words"),
                                     text("three more words"),
                                     image("imgs/query.png"),
                                     image("imgs/other01.png"),
                                     both("imgs/query.png", "blue whale")};
  auto a = encoder_->encode(inputs);
  auto b = (*small)->encode(inputs);
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  for (size_t i = 0; i < inputs.size(); ++i) {
    for (size_t d = 0; d < (*a)[i].vector.size(); ++d) {
      ASSERT_NEAR((*a)[i].vector[d], (*b)[i].vector[d], 1e-5) << "input " << i;
    }
  }
}

TEST_F(EncoderTest, TruncatesTextAloneAt512AndWithImageAt316) {
  std::string words;
  for (int i = 0; i < 400; ++i) words += "word ";
  // 400 words = 402 tokens: fits alone, not beside an image.
  auto alone = encoder_->encode(text(words));
  ASSERT_TRUE(alone.is_ok());
  EXPECT_FALSE(alone->truncated);
  auto with_image = encoder_->encode(both("imgs/query.png", words));
  ASSERT_TRUE(with_image.is_ok());
  EXPECT_TRUE(with_image->truncated);
  for (int i = 0; i < 200; ++i) words += "word ";
  auto long_alone = encoder_->encode(text(words));
  ASSERT_TRUE(long_alone.is_ok());
  EXPECT_TRUE(long_alone->truncated);
  auto short_text = encoder_->encode(both("imgs/query.png", "blue whale"));
  ASSERT_TRUE(short_text.is_ok());
  EXPECT_FALSE(short_text->truncated);
}

TEST_F(EncoderTest, BadInputsNameTheirIndex) {
  auto empty = encoder_->encode({text("fine"), EncodeInput{}});
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(empty.status().message().find("input 1: has neither text nor image"), std::string::npos)
      << empty.status();

  RgbImage small{10, 10, std::vector<uint8_t>(300, 0)};
  auto wrong_size = encoder_->encode({EncodeInput{std::nullopt, small}});
  EXPECT_EQ(wrong_size.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(wrong_size.status().message().find("input 0: image must be a 224x224 RGB crop, got "
                                               "10x10"),
            std::string::npos)
      << wrong_size.status();

  RgbImage short_buffer{224, 224, std::vector<uint8_t>(100, 0)};
  EXPECT_EQ(encoder_->encode({EncodeInput{std::nullopt, short_buffer}}).status().code(),
            StatusCode::kInvalidArgument);

  auto bad_utf8 = encoder_->encode({text("ok"), text("ok"), text("bad \xff byte")});
  EXPECT_EQ(bad_utf8.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad_utf8.status().message().find("input 2:"), std::string::npos) << bad_utf8.status();

  auto bad_mm = encoder_->encode({both("imgs/query.png", "\xc3")});
  EXPECT_EQ(bad_mm.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(EncoderTest, ConcurrentCallsGiveTheSameVectors) {
  std::vector<EncodeInput> inputs = {text("blue whale"), image("imgs/datawhale02.png"),
                                     both("imgs/dragon03.png", "a dragon"), text("Привет, мир"),
                                     both("imgs/query.png", "")};
  std::vector<EncodeOutput> expected;
  for (const auto& input : inputs) {
    auto out = encoder_->encode(input);
    ASSERT_TRUE(out.is_ok());
    expected.push_back(*out);
  }
  constexpr int kThreads = 4;
  constexpr int kRounds = 3;
  std::vector<std::string> failures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round) {
        // Each thread mixes single calls and batches in a different order.
        size_t i = (t + round) % inputs.size();
        auto single = encoder_->encode(inputs[i]);
        auto batch = encoder_->encode(inputs);
        if (!single.is_ok() || !batch.is_ok()) {
          failures[t] = "encode failed";
          return;
        }
        for (size_t d = 0; d < expected[i].vector.size(); ++d) {
          if (std::abs(single->vector[d] - expected[i].vector[d]) > 1e-5) {
            failures[t] = "single input " + std::to_string(i) + " differs";
          }
        }
        for (size_t k = 0; k < inputs.size(); ++k) {
          for (size_t d = 0; d < expected[k].vector.size(); ++d) {
            if (std::abs((*batch)[k].vector[d] - expected[k].vector[d]) > 1e-5) {
              failures[t] = "batch input " + std::to_string(k) + " differs";
            }
          }
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], "") << "thread " << t;
}

TEST(EncoderLoadTest, MissingDirectorySaysHowToFetch) {
  vista::testing::TempDir dir;
  auto loaded = Encoder::load(dir.path() / "nope");
  EXPECT_EQ(loaded.status().code(), StatusCode::kNotFound);
  EXPECT_NE(loaded.status().message().find("does not exist"), std::string::npos);
  EXPECT_NE(loaded.status().message().find("scripts/fetch-model.sh"), std::string::npos)
      << loaded.status();
}

TEST(EncoderLoadTest, IncompleteDirectoryListsWhatIsMissing) {
  vista::testing::TempDir dir;
  std::ofstream(dir.path() / "config.json") << "{}";
  auto loaded = Encoder::load(dir.path());
  EXPECT_EQ(loaded.status().code(), StatusCode::kNotFound);
  const auto& message = loaded.status().message();
  EXPECT_NE(message.find("is incomplete: missing vocab.txt"), std::string::npos) << message;
  EXPECT_NE(message.find("Visualized_base_en_v1.5.pth"), std::string::npos) << message;
  EXPECT_EQ(message.find("missing config.json"), std::string::npos) << message;
  EXPECT_NE(message.find("scripts/fetch-model.sh"), std::string::npos) << message;
}

TEST(EncoderLoadTest, PthAndSafetensorsGiveTheSameModel) {
  VISTA_REQUIRE_GOLDEN();
  vista::testing::TempDir dir;
  for (const char* file : {"config.json", "eva_vision_config.json", "vocab.txt"}) {
    std::filesystem::copy_file(tiny_model_dir() / file, dir.path() / file);
  }
  std::filesystem::create_symlink(tiny_model_dir() / "Visualized_tiny.pth",
                                  dir.path() / "Visualized_tiny.pth");
  auto from_pth = Encoder::load(dir.path(), test_options());
  ASSERT_TRUE(from_pth.is_ok()) << from_pth.status();
  auto from_safetensors = Encoder::load(tiny_model_dir(), test_options());
  ASSERT_TRUE(from_safetensors.is_ok()) << from_safetensors.status();
  auto id_hash = [](const std::string& id) { return id.substr(id.find('@')); };
  EXPECT_EQ(id_hash((*from_pth)->model_id()), id_hash((*from_safetensors)->model_id()));
  auto a = (*from_pth)->encode(EncodeInput{"blue whale", std::nullopt});
  auto b = (*from_safetensors)->encode(EncodeInput{"blue whale", std::nullopt});
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  EXPECT_EQ(a->vector, b->vector);
}

TEST(EncoderLoadTest, MismatchedConfigNamesTheTensor) {
  VISTA_REQUIRE_GOLDEN();
  vista::testing::TempDir dir;
  for (const char* file : {"vocab.txt", "model.safetensors"}) {
    std::filesystem::create_symlink(tiny_model_dir() / file, dir.path() / file);
  }
  auto config = read_json_file(tiny_model_dir() / "config.json");
  config["num_hidden_layers"] = 3;
  std::ofstream(dir.path() / "config.json") << config.dump();
  std::filesystem::copy_file(tiny_model_dir() / "eva_vision_config.json",
                             dir.path() / "eva_vision_config.json");
  auto loaded = Encoder::load(dir.path());
  EXPECT_EQ(loaded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(loaded.status().message().find("missing tensor 'bge_encoder.layer.2."),
            std::string::npos)
      << loaded.status();
}

TEST(EncoderLoadTest, TwoPthFilesAreAmbiguous) {
  VISTA_REQUIRE_GOLDEN();
  vista::testing::TempDir dir;
  for (const char* file : {"config.json", "vocab.txt"}) {
    std::filesystem::create_symlink(tiny_model_dir() / file, dir.path() / file);
  }
  std::filesystem::create_symlink(tiny_model_dir() / "Visualized_tiny.pth", dir.path() / "a.pth");
  std::filesystem::create_symlink(tiny_model_dir() / "Visualized_tiny.pth", dir.path() / "b.pth");
  auto loaded = Encoder::load(dir.path());
  EXPECT_EQ(loaded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(loaded.status().message().find("keep exactly one weights file"), std::string::npos)
      << loaded.status();
}

TEST(ComputeModeTest, ParsesDtypeNames) {
  EXPECT_EQ(*parse_compute_mode("fp32"), ComputeMode::kFp32);
  EXPECT_EQ(*parse_compute_mode("bf16"), ComputeMode::kBf16);
  EXPECT_EQ(*parse_compute_mode("eager"), ComputeMode::kEager);
  EXPECT_EQ(*parse_compute_mode("fp16"), ComputeMode::kFp16);
  EXPECT_EQ(parse_compute_mode("fp64").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vista::encoder
