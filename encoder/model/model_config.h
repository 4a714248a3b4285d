// The Visualized-BGE architecture as numbers: the BERT text side (a Hugging Face config.json) and
// the EVA02 vision tower (an EVA-CLIP model config such as EVA02-CLIP-B-16.json). Every dimension
// of the network comes from here; nothing in the network code assumes the base model's sizes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "common/status.h"

namespace vista::encoder {

// The config.json key that marks a model whose weights are random (encoder/model/random_model.h).
inline constexpr const char* kRandomWeightsKey = "vista_random_weights";

// The fields of a BERT config.json that shape the network.
struct BertConfig {
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t intermediate_size = 3072;
  int64_t vocab_size = 30522;
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  double layer_norm_eps = 1e-12;
  int64_t pad_token_id = 0;
  // "vista_random_weights": true in a model written by write_random_base_model (for timing).
  bool random_weights = false;

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
};

// The `vision_cfg` of an EVA-CLIP model config, plus its `embed_dim` (the CLIP head's output,
// declared by the checkpoint although Visualized-BGE never uses it).
struct VisionConfig {
  int64_t image_size = 224;
  int64_t patch_size = 16;
  int64_t width = 768;
  int64_t layers = 12;
  int64_t head_width = 64;
  double mlp_ratio = 2.6667;
  int64_t embed_dim = 512;
  int64_t pt_hw_seq_len = 16;  // the grid the RoPE frequencies were trained on
  bool intp_freq = true;       // RoPE positions interpolated from pt_hw_seq_len to the grid
  double layer_norm_eps = 1e-6;

  int64_t grid() const { return image_size / patch_size; }
  int64_t num_patches() const { return grid() * grid(); }
  int64_t heads() const { return width / head_width; }
  // SwiGLU hidden width; the reference computes int(width * mlp_ratio) in double precision.
  int64_t mlp_hidden() const {
    return static_cast<int64_t>(static_cast<double>(width) * mlp_ratio);
  }
};

struct ModelConfig {
  BertConfig text;
  VisionConfig vision;

  // Output vector dimension (BERT hidden size).
  int64_t dim() const { return text.hidden_size; }
  // Image tokens placed into the BERT sequence (one per patch; the vision CLS is dropped).
  int64_t image_tokens() const { return vision.num_patches(); }
  // Most tokens (with [CLS] and [SEP]) a text alone may have: every BERT position.
  int64_t max_text_tokens() const { return text.max_position_embeddings; }
  // Most tokens a text paired with an image may have: the sequence is [CLS] + image tokens +
  // text[1:], so text tokens + image tokens must fit the BERT positions (316 for the base model).
  int64_t max_text_tokens_with_image() const {
    return text.max_position_embeddings - image_tokens();
  }
};

// The EVA02-CLIP-B-16 vision tower, used when a model directory has no eva_vision_config.json.
VisionConfig eva02_clip_b16_vision_config();

// Parses and validates a BERT config.json text. `source` names the file in error messages.
// Fails (InvalidArgument / Unsupported) on malformed JSON, missing or mistyped fields, values
// out of range, or variants the network does not implement (hidden_act other than gelu,
// non-absolute position embeddings).
Result<BertConfig> parse_bert_config(const std::string& json_text, const std::string& source);

// Parses and validates an EVA-CLIP model config (an object with `embed_dim` and `vision_cfg`).
// Fields absent from vision_cfg take the EVA02-CLIP-B-16 values; variants other than the one
// Visualized-BGE uses (rope, subln, naiveswiglu all true) are rejected as Unsupported.
Result<VisionConfig> parse_vision_config(const std::string& json_text, const std::string& source);

// Cross-checks the two halves (the fusion needs vision width == text hidden size, and the image
// tokens plus [CLS] and [SEP] must fit the BERT positions).
Status validate_model_config(const ModelConfig& config);

// Reads `<dir>/config.json` and, if present, `<dir>/eva_vision_config.json` (else the
// EVA02-CLIP-B-16 defaults), then validates the pair. NotFound when config.json is missing.
Result<ModelConfig> load_model_config(const std::filesystem::path& dir);

}  // namespace vista::encoder
