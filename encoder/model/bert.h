// The BERT half of Visualized-BGE (`bge_embeddings`, `bge_encoder`, `bge_pooler`): post-LN
// transformer layers with exact (erf) GELU, as in Hugging Face's BertModel.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "encoder/model/layers.h"
#include "encoder/model/model_config.h"

namespace vista::encoder {

class BertEmbeddingsImpl : public torch::nn::Module {
 public:
  explicit BertEmbeddingsImpl(const BertConfig& config);
  // ids [B, T] int64, positions [T] or [B, T] int64 -> LayerNorm(word + position + type 0).
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& positions) const;

  Embedding word_embeddings{nullptr};
  Embedding position_embeddings{nullptr};
  Embedding token_type_embeddings{nullptr};
  LayerNorm layer_norm{nullptr};  // registered as "LayerNorm"
};
TORCH_MODULE(BertEmbeddings);

class BertLayerImpl : public torch::nn::Module {
 public:
  explicit BertLayerImpl(const BertConfig& config);
  void prepare(const ComputeTarget& target);
  // x [B, L, D]; additive_mask [B, 1, 1, L] (0 to attend, -65504 to ignore).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& additive_mask) const;

 private:
  int64_t heads_;
  int64_t head_dim_;
  ComputeTarget target_;
  Linear query_{nullptr}, key_{nullptr}, value_{nullptr};
  Linear attention_dense_{nullptr}, intermediate_dense_{nullptr}, output_dense_{nullptr};
  LayerNorm attention_ln_{nullptr}, output_ln_{nullptr};
  DenseOp qkv_;  // prepared: query, key and value in one product
};
TORCH_MODULE(BertLayer);

class BertEncoderImpl : public torch::nn::Module {
 public:
  explicit BertEncoderImpl(const BertConfig& config);
  void prepare(const ComputeTarget& target);
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& additive_mask) const;

 private:
  std::vector<BertLayer> layers_;
};
TORCH_MODULE(BertEncoder);

// Declared because the checkpoint holds it; Visualized-BGE pools the CLS token without it.
class BertPoolerImpl : public torch::nn::Module {
 public:
  explicit BertPoolerImpl(const BertConfig& config);
  Linear dense{nullptr};
};
TORCH_MODULE(BertPooler);

// The additive attention mask Hugging Face builds from a 0/1 mask [B, L]: (1 - mask) * -65504,
// shaped [B, 1, 1, L] (fp32, on the mask's device).
torch::Tensor additive_attention_mask(const torch::Tensor& mask);

}  // namespace vista::encoder
