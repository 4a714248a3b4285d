// A base-size Visualized-BGE model directory with random weights, for benchmarks that need the
// real model's arithmetic without the published weights: the base config (BERT-base text side,
// EVA02-CLIP-B-16 vision tower), the real vocabulary (golden/tiny-model/vocab.txt) and a
// model.safetensors of N(0, 0.02) weights (LayerNorm scales 1; buffers as the network computes
// them). About 0.8 GB; the caller owns the folder.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "encoder/model/model_config.h"
#include "encoder/model/visualized_bge.h"

namespace vista::bench {

inline const char* safetensors_dtype(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return "F32";
    case torch::kFloat16: return "F16";
    case torch::kBFloat16: return "BF16";
    case torch::kInt64: return "I64";
    case torch::kInt32: return "I32";
    default: return nullptr;
  }
}

// Writes the model into `dir` (created) and returns it. Throws std::runtime_error on failure.
inline std::filesystem::path write_random_base_model(const std::filesystem::path& dir,
                                                     const std::filesystem::path& vocab) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  nlohmann::json config = {{"architectures", {"BertModel"}},
                           {"hidden_act", "gelu"},
                           {"hidden_size", 768},
                           {"intermediate_size", 3072},
                           {"layer_norm_eps", 1e-12},
                           {"max_position_embeddings", 512},
                           {"model_type", "bert"},
                           {"num_attention_heads", 12},
                           {"num_hidden_layers", 12},
                           {"pad_token_id", 0},
                           {"position_embedding_type", "absolute"},
                           {"type_vocab_size", 2},
                           {"vocab_size", 30522}};
  std::ofstream(dir / "config.json") << config.dump(2);
  fs::copy_file(vocab, dir / "vocab.txt", fs::copy_options::overwrite_existing);

  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  auto model_config = vista::encoder::load_model_config(dir);
  if (!model_config.is_ok()) throw std::runtime_error(model_config.status().to_string());
  vista::encoder::VisualizedBge model{*model_config};
  for (const auto& item : model->named_parameters()) {
    const auto& name = item.key();
    auto t = item.value();
    const bool norm_scale =
        t.dim() == 1 && name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0;
    if (norm_scale)
      t.fill_(1.0);
    else
      t.normal_(0.0, 0.02);
  }
  nlohmann::json header = nlohmann::json::object();
  uint64_t offset = 0;
  auto tensors = model->declared_tensors();
  for (auto& [name, tensor] : tensors) {
    tensor = tensor.contiguous();
    const char* dtype = safetensors_dtype(tensor.scalar_type());
    if (!dtype) throw std::runtime_error("unexpected dtype for " + name);
    const uint64_t bytes = tensor.numel() * tensor.element_size();
    header[name] = {{"dtype", dtype},
                    {"shape", tensor.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  while ((text.size() + 8) % 8 != 0) text.push_back(' ');
  std::ofstream out(dir / "model.safetensors", std::ios::binary);
  const uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xFF));
  out << text;
  for (const auto& [name, tensor] : tensors)
    out.write(static_cast<const char*>(tensor.data_ptr()),
              static_cast<std::streamsize>(tensor.numel() * tensor.element_size()));
  if (!out) throw std::runtime_error("cannot write " + (dir / "model.safetensors").string());
  return dir;
}

}  // namespace vista::bench
