#include "encoder/model/model_config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/test_support.h"

namespace vista::encoder {
namespace {

std::filesystem::path base_config_dir() {
  return vista::testing::source_dir() / "config" / "models" / "bge-visualized-base-en-v1.5";
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

const char* kTinyBert = R"({"hidden_size": 96, "num_hidden_layers": 2, "num_attention_heads": 3,
  "intermediate_size": 384, "vocab_size": 30522, "max_position_embeddings": 512,
  "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu"})";

TEST(ModelConfigTest, BaseConfigHasTheBaseDimensions) {
  auto config = load_model_config(base_config_dir());
  ASSERT_TRUE(config.is_ok()) << config.status();
  EXPECT_EQ(config->text.hidden_size, 768);
  EXPECT_EQ(config->text.num_hidden_layers, 12);
  EXPECT_EQ(config->text.num_attention_heads, 12);
  EXPECT_EQ(config->text.intermediate_size, 3072);
  EXPECT_EQ(config->text.vocab_size, 30522);
  EXPECT_EQ(config->text.max_position_embeddings, 512);
  EXPECT_EQ(config->text.type_vocab_size, 2);
  EXPECT_DOUBLE_EQ(config->text.layer_norm_eps, 1e-12);
  EXPECT_EQ(config->vision.image_size, 224);
  EXPECT_EQ(config->vision.patch_size, 16);
  EXPECT_EQ(config->vision.width, 768);
  EXPECT_EQ(config->vision.layers, 12);
  EXPECT_EQ(config->vision.heads(), 12);
  EXPECT_EQ(config->vision.mlp_hidden(), 2048);
  EXPECT_EQ(config->vision.embed_dim, 512);
  EXPECT_EQ(config->image_tokens(), 196);
  EXPECT_EQ(config->dim(), 768);
  EXPECT_EQ(config->max_text_tokens(), 512);
  EXPECT_EQ(config->max_text_tokens_with_image(), 316);
}

TEST(ModelConfigTest, BuiltInVisionDefaultsEqualTheEva02B16File) {
  auto config = load_model_config(base_config_dir());
  ASSERT_TRUE(config.is_ok()) << config.status();
  VisionConfig defaults = eva02_clip_b16_vision_config();
  EXPECT_EQ(defaults.image_size, config->vision.image_size);
  EXPECT_EQ(defaults.patch_size, config->vision.patch_size);
  EXPECT_EQ(defaults.width, config->vision.width);
  EXPECT_EQ(defaults.layers, config->vision.layers);
  EXPECT_EQ(defaults.head_width, config->vision.head_width);
  EXPECT_EQ(defaults.mlp_ratio, config->vision.mlp_ratio);
  EXPECT_EQ(defaults.embed_dim, config->vision.embed_dim);
  EXPECT_EQ(defaults.pt_hw_seq_len, config->vision.pt_hw_seq_len);
  EXPECT_EQ(defaults.intp_freq, config->vision.intp_freq);
}

TEST(ModelConfigTest, TinyGoldenModel) {
  VISTA_REQUIRE_GOLDEN();
  auto config = load_model_config(vista::testing::golden_dir() / "tiny-model");
  ASSERT_TRUE(config.is_ok()) << config.status();
  EXPECT_EQ(config->text.hidden_size, 96);
  EXPECT_EQ(config->text.num_attention_heads, 3);
  EXPECT_EQ(config->vision.width, 96);
  EXPECT_EQ(config->vision.head_width, 32);
  EXPECT_EQ(config->vision.layers, 2);
  EXPECT_EQ(config->vision.mlp_hidden(), 256);
  EXPECT_EQ(config->vision.embed_dim, 64);
}

TEST(ModelConfigTest, MissingVisionConfigMeansEva02B16) {
  vista::testing::TempDir dir;
  write_file(dir.path() / "config.json", R"({"hidden_size": 768, "num_hidden_layers": 1,
    "num_attention_heads": 12, "intermediate_size": 8, "vocab_size": 10,
    "max_position_embeddings": 512})");
  auto config = load_model_config(dir.path());
  ASSERT_TRUE(config.is_ok()) << config.status();
  EXPECT_EQ(config->vision.width, 768);
  EXPECT_EQ(config->vision.layers, 12);
  EXPECT_EQ(config->image_tokens(), 196);
}

TEST(ModelConfigTest, MissingConfigIsNotFound) {
  vista::testing::TempDir dir;
  auto config = load_model_config(dir.path());
  EXPECT_EQ(config.status().code(), StatusCode::kNotFound);
  EXPECT_NE(config.status().message().find("config.json"), std::string::npos);
}

TEST(ModelConfigTest, MalformedJsonNamesTheFile) {
  auto config = parse_bert_config("{\"hidden_size\": ", "dir/config.json");
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(config.status().message().find("dir/config.json: not valid JSON"), std::string::npos)
      << config.status();
}

TEST(ModelConfigTest, MissingAndMistypedFieldsAreNamed) {
  auto missing = parse_bert_config(R"({"hidden_size": 96})", "c.json");
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("missing field \"num_hidden_layers\""),
            std::string::npos)
      << missing.status();
  auto mistyped = parse_bert_config(
      R"({"hidden_size": "96", "num_hidden_layers": 2, "num_attention_heads": 3,
          "intermediate_size": 384, "vocab_size": 30522, "max_position_embeddings": 512})",
      "c.json");
  EXPECT_NE(mistyped.status().message().find("\"hidden_size\" must be an integer"),
            std::string::npos)
      << mistyped.status();
  auto negative = parse_bert_config(
      R"({"hidden_size": 96, "num_hidden_layers": -2, "num_attention_heads": 3,
          "intermediate_size": 384, "vocab_size": 30522, "max_position_embeddings": 512})",
      "c.json");
  EXPECT_NE(negative.status().message().find("\"num_hidden_layers\" must be at least 1"),
            std::string::npos)
      << negative.status();
}

TEST(ModelConfigTest, RandomWeightsMarkerIsReadAndChecked) {
  auto real = parse_bert_config(kTinyBert, "c.json");
  ASSERT_TRUE(real.is_ok()) << real.status();
  EXPECT_FALSE(real->random_weights);

  std::string marked = kTinyBert;
  marked.insert(1, "\"vista_random_weights\": true, ");
  auto random = parse_bert_config(marked, "c.json");
  ASSERT_TRUE(random.is_ok()) << random.status();
  EXPECT_TRUE(random->random_weights);

  std::string mistyped = kTinyBert;
  mistyped.insert(1, "\"vista_random_weights\": \"yes\", ");
  EXPECT_EQ(parse_bert_config(mistyped, "c.json").status().code(), StatusCode::kInvalidArgument);
}

TEST(ModelConfigTest, HeadsMustDivideHidden) {
  auto config = parse_bert_config(
      R"({"hidden_size": 100, "num_hidden_layers": 2, "num_attention_heads": 3,
          "intermediate_size": 384, "vocab_size": 30522, "max_position_embeddings": 512})",
      "c.json");
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(config.status().message().find("not a multiple of num_attention_heads"),
            std::string::npos);
}

TEST(ModelConfigTest, UnsupportedVariantsAreRejected) {
  auto relu = parse_bert_config(
      R"({"hidden_size": 96, "num_hidden_layers": 2, "num_attention_heads": 3,
          "intermediate_size": 384, "vocab_size": 30522, "max_position_embeddings": 512,
          "hidden_act": "relu"})",
      "c.json");
  EXPECT_EQ(relu.status().code(), StatusCode::kUnsupported);
  auto no_rope = parse_vision_config(R"({"vision_cfg": {"rope": false}})", "eva.json");
  EXPECT_EQ(no_rope.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(no_rope.status().message().find("\"rope\""), std::string::npos);
  auto no_subln = parse_vision_config(R"({"vision_cfg": {"subln": false}})", "eva.json");
  EXPECT_EQ(no_subln.status().code(), StatusCode::kUnsupported);
  auto no_vision = parse_vision_config(R"({"embed_dim": 512})", "eva.json");
  EXPECT_EQ(no_vision.status().code(), StatusCode::kInvalidArgument);
  auto bad_patch = parse_vision_config(R"({"vision_cfg": {"patch_size": 15}})", "eva.json");
  EXPECT_NE(bad_patch.status().message().find("not a multiple of patch_size"), std::string::npos);
}

TEST(ModelConfigTest, VisionWidthMustEqualTextHidden) {
  vista::testing::TempDir dir;
  write_file(dir.path() / "config.json", kTinyBert);
  write_file(dir.path() / "eva_vision_config.json",
             R"({"embed_dim": 64, "vision_cfg": {"width": 128, "head_width": 32}})");
  auto config = load_model_config(dir.path());
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(config.status().message().find("vision width 128 differs from the text hidden_size 96"),
            std::string::npos)
      << config.status();
}

TEST(ModelConfigTest, ImageTokensMustFitPositions) {
  vista::testing::TempDir dir;
  write_file(dir.path() / "config.json", R"({"hidden_size": 96, "num_hidden_layers": 2,
    "num_attention_heads": 3, "intermediate_size": 384, "vocab_size": 30522,
    "max_position_embeddings": 128})");
  write_file(dir.path() / "eva_vision_config.json",
             R"({"vision_cfg": {"width": 96, "head_width": 32}})");
  auto config = load_model_config(dir.path());
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(config.status().message().find("196 image tokens do not fit 128"), std::string::npos)
      << config.status();
}

}  // namespace
}  // namespace vista::encoder
