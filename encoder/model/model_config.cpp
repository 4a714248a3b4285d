#include "encoder/model/model_config.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

namespace vista::encoder {
namespace {

using nlohmann::json;

// Reads an integer field; absent fields keep `*out` when `required` is false.
Status read_int(const json& obj, const char* key, bool required, int64_t min_value,
                const std::string& where, int64_t* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (required) return Status::invalid_argument(where + ": missing field \"" + key + "\"");
    return Status::ok();
  }
  if (!it->is_number_integer()) {
    return Status::invalid_argument(where + ": field \"" + key + "\" must be an integer, got " +
                                    it->dump());
  }
  int64_t value = it->get<int64_t>();
  if (value < min_value) {
    return Status::invalid_argument(where + ": field \"" + key + "\" must be at least " +
                                    std::to_string(min_value) + ", got " + std::to_string(value));
  }
  *out = value;
  return Status::ok();
}

Status read_double(const json& obj, const char* key, bool required, const std::string& where,
                   double* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (required) return Status::invalid_argument(where + ": missing field \"" + key + "\"");
    return Status::ok();
  }
  if (!it->is_number()) {
    return Status::invalid_argument(where + ": field \"" + key + "\" must be a number, got " +
                                    it->dump());
  }
  double value = it->get<double>();
  if (!(value > 0)) {
    return Status::invalid_argument(where + ": field \"" + key + "\" must be positive, got " +
                                    it->dump());
  }
  *out = value;
  return Status::ok();
}

// A boolean switch the network only implements one way: absent is fine, the other value is not.
Status require_flag(const json& obj, const char* key, bool expected, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return Status::ok();
  if (!it->is_boolean()) {
    return Status::invalid_argument(where + ": field \"" + key + "\" must be true or false, got " +
                                    it->dump());
  }
  if (it->get<bool>() != expected) {
    return Status::unsupported(where + ": \"" + key + "\": " + (expected ? "false" : "true") +
                               " is not supported (the Visualized-BGE vision tower uses " +
                               (expected ? "true" : "false") + ")");
  }
  return Status::ok();
}

Result<json> parse_object(const std::string& json_text, const std::string& source) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::exception& e) {
    return Status::invalid_argument(source + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) return Status::invalid_argument(source + ": expected a JSON object");
  return j;
}

Result<std::string> read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::io_error("cannot open " + path.string());
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return Status::io_error("cannot read " + path.string());
  return buffer.str();
}

}  // namespace

VisionConfig eva02_clip_b16_vision_config() {
  return VisionConfig{};
}

Result<BertConfig> parse_bert_config(const std::string& json_text, const std::string& source) {
  VISTA_ASSIGN_OR_RETURN(json j, parse_object(json_text, source));
  BertConfig c;
  VISTA_RETURN_IF_ERROR(read_int(j, "hidden_size", true, 1, source, &c.hidden_size));
  VISTA_RETURN_IF_ERROR(read_int(j, "num_hidden_layers", true, 1, source, &c.num_hidden_layers));
  VISTA_RETURN_IF_ERROR(
      read_int(j, "num_attention_heads", true, 1, source, &c.num_attention_heads));
  VISTA_RETURN_IF_ERROR(read_int(j, "intermediate_size", true, 1, source, &c.intermediate_size));
  VISTA_RETURN_IF_ERROR(read_int(j, "vocab_size", true, 1, source, &c.vocab_size));
  VISTA_RETURN_IF_ERROR(
      read_int(j, "max_position_embeddings", true, 2, source, &c.max_position_embeddings));
  VISTA_RETURN_IF_ERROR(read_int(j, "type_vocab_size", false, 1, source, &c.type_vocab_size));
  VISTA_RETURN_IF_ERROR(read_int(j, "pad_token_id", false, 0, source, &c.pad_token_id));
  VISTA_RETURN_IF_ERROR(read_double(j, "layer_norm_eps", false, source, &c.layer_norm_eps));

  if (auto it = j.find(kRandomWeightsKey); it != j.end()) {
    if (!it->is_boolean()) {
      return Status::invalid_argument(source + ": " + kRandomWeightsKey + " must be true or false");
    }
    c.random_weights = it->get<bool>();
  }

  if (c.hidden_size % c.num_attention_heads != 0) {
    return Status::invalid_argument(source + ": hidden_size " + std::to_string(c.hidden_size) +
                                    " is not a multiple of num_attention_heads " +
                                    std::to_string(c.num_attention_heads));
  }
  if (c.pad_token_id >= c.vocab_size) {
    return Status::invalid_argument(source + ": pad_token_id " + std::to_string(c.pad_token_id) +
                                    " is outside the vocabulary of " +
                                    std::to_string(c.vocab_size));
  }
  if (auto it = j.find("hidden_act"); it != j.end() && !it->is_null()) {
    if (!it->is_string() || it->get<std::string>() != "gelu") {
      return Status::unsupported(source + ": hidden_act " + it->dump() +
                                 " is not supported (only \"gelu\", the exact erf form)");
    }
  }
  if (auto it = j.find("position_embedding_type"); it != j.end() && !it->is_null()) {
    if (!it->is_string() || it->get<std::string>() != "absolute") {
      return Status::unsupported(source + ": position_embedding_type " + it->dump() +
                                 " is not supported (only \"absolute\")");
    }
  }
  return c;
}

Result<VisionConfig> parse_vision_config(const std::string& json_text, const std::string& source) {
  VISTA_ASSIGN_OR_RETURN(json j, parse_object(json_text, source));
  VisionConfig c = eva02_clip_b16_vision_config();
  VISTA_RETURN_IF_ERROR(read_int(j, "embed_dim", false, 1, source, &c.embed_dim));
  auto vit = j.find("vision_cfg");
  if (vit == j.end() || !vit->is_object()) {
    return Status::invalid_argument(source + ": missing object \"vision_cfg\"");
  }
  const json& v = *vit;
  const std::string where = source + " vision_cfg";
  VISTA_RETURN_IF_ERROR(read_int(v, "image_size", false, 1, where, &c.image_size));
  VISTA_RETURN_IF_ERROR(read_int(v, "patch_size", false, 1, where, &c.patch_size));
  VISTA_RETURN_IF_ERROR(read_int(v, "width", false, 1, where, &c.width));
  VISTA_RETURN_IF_ERROR(read_int(v, "layers", false, 1, where, &c.layers));
  VISTA_RETURN_IF_ERROR(read_int(v, "head_width", false, 2, where, &c.head_width));
  VISTA_RETURN_IF_ERROR(read_double(v, "mlp_ratio", false, where, &c.mlp_ratio));
  VISTA_RETURN_IF_ERROR(read_int(v, "pt_hw_seq_len", false, 1, where, &c.pt_hw_seq_len));
  if (auto it = v.find("intp_freq"); it != v.end() && !it->is_null()) {
    if (!it->is_boolean()) {
      return Status::invalid_argument(where + ": field \"intp_freq\" must be true or false");
    }
    c.intp_freq = it->get<bool>();
  }
  VISTA_RETURN_IF_ERROR(require_flag(v, "rope", true, where));
  VISTA_RETURN_IF_ERROR(require_flag(v, "subln", true, where));
  VISTA_RETURN_IF_ERROR(require_flag(v, "naiveswiglu", true, where));
  VISTA_RETURN_IF_ERROR(require_flag(v, "postnorm", false, where));
  VISTA_RETURN_IF_ERROR(require_flag(v, "use_rms_norm", false, where));
  if (auto it = v.find("ls_init_value"); it != v.end() && !it->is_null()) {
    return Status::unsupported(where + ": \"ls_init_value\" (layer scale) is not supported");
  }

  if (c.image_size % c.patch_size != 0) {
    return Status::invalid_argument(where + ": image_size " + std::to_string(c.image_size) +
                                    " is not a multiple of patch_size " +
                                    std::to_string(c.patch_size));
  }
  if (c.width % c.head_width != 0) {
    return Status::invalid_argument(where + ": width " + std::to_string(c.width) +
                                    " is not a multiple of head_width " +
                                    std::to_string(c.head_width));
  }
  if (c.head_width % 4 != 0) {
    // RoPE splits each head in two halves (x and y positions), each rotated in pairs.
    return Status::invalid_argument(where + ": head_width " + std::to_string(c.head_width) +
                                    " must be a multiple of 4 for 2-D rotary embeddings");
  }
  if (!c.intp_freq && c.grid() != c.pt_hw_seq_len) {
    return Status::invalid_argument(
        where + ": with intp_freq false the RoPE grid pt_hw_seq_len " +
        std::to_string(c.pt_hw_seq_len) +
        " must equal image_size / patch_size = " + std::to_string(c.grid()));
  }
  if (c.mlp_hidden() < 1) {
    return Status::invalid_argument(where + ": width * mlp_ratio is below 1");
  }
  return c;
}

Status validate_model_config(const ModelConfig& config) {
  if (config.vision.width != config.text.hidden_size) {
    return Status::invalid_argument(
        "vision width " + std::to_string(config.vision.width) +
        " differs from the text hidden_size " + std::to_string(config.text.hidden_size) +
        " (Visualized-BGE projects image tokens with a square hidden x hidden visual_proj)");
  }
  // [CLS] + image tokens + at least [SEP] must fit the position table.
  if (config.image_tokens() + 2 > config.text.max_position_embeddings) {
    return Status::invalid_argument(
        std::to_string(config.image_tokens()) + " image tokens do not fit " +
        std::to_string(config.text.max_position_embeddings) + " text positions");
  }
  return Status::ok();
}

Result<ModelConfig> load_model_config(const std::filesystem::path& dir) {
  ModelConfig config;
  const auto text_path = dir / "config.json";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(text_path, ec)) {
    return Status::not_found("model config " + text_path.string() + " does not exist");
  }
  VISTA_ASSIGN_OR_RETURN(std::string text_json, read_text_file(text_path));
  VISTA_ASSIGN_OR_RETURN(config.text, parse_bert_config(text_json, text_path.string()));

  const auto vision_path = dir / "eva_vision_config.json";
  if (std::filesystem::exists(vision_path, ec)) {
    VISTA_ASSIGN_OR_RETURN(std::string vision_json, read_text_file(vision_path));
    VISTA_ASSIGN_OR_RETURN(config.vision, parse_vision_config(vision_json, vision_path.string()));
  } else {
    config.vision = eva02_clip_b16_vision_config();
  }
  VISTA_RETURN_IF_ERROR(validate_model_config(config).with_context(dir.string()));
  return config;
}

}  // namespace vista::encoder
