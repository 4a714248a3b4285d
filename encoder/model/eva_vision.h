// The EVA02 vision tower of Visualized-BGE (`model_visual.*` in the checkpoint): patch embedding,
// CLS token, absolute positions, then pre-LN blocks with 2-D rotary attention (q/v biases,
// sub-LN before the output projection) and a SwiGLU MLP (ffn_ln before w3).
#pragma once

#include <torch/torch.h>

#include "encoder/model/layers.h"
#include "encoder/model/model_config.h"

namespace vista::encoder {

// The RoPE tables `freqs_cos` / `freqs_sin` [patches, head_width] (buffers, one copy per block in
// the checkpoint). Filled from the config at construction, so a model with random weights has
// the reference's tables; a checkpoint overwrites them with its own.
class RotaryTablesImpl : public torch::nn::Module {
 public:
  explicit RotaryTablesImpl(const VisionConfig& config);

  torch::Tensor freqs_cos;
  torch::Tensor freqs_sin;
};
TORCH_MODULE(RotaryTables);

// The tables exactly as EVA's VisionRotaryEmbeddingFast computes them (fp32).
std::pair<torch::Tensor, torch::Tensor> eva_rope_tables(const VisionConfig& config);

class EvaAttentionImpl : public torch::nn::Module {
 public:
  explicit EvaAttentionImpl(const VisionConfig& config);
  void prepare(const ComputeTarget& target);
  // residual + attention(x), for x and residual [B, 1 + patches, width] (the addition is fused
  // into the output projection in the prepared modes).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual) const;

 private:
  // Without rotation_ (eager): t [B, H, 1 + patches, d], the reference's rotate_half. With it:
  // t [B, 1 + patches, H, d] (a view of the QKV output), returned contiguous in that layout.
  torch::Tensor apply_rope(const torch::Tensor& t) const;

  int64_t heads_;
  int64_t head_width_;
  ComputeTarget target_;
  torch::Tensor q_bias_, v_bias_;
  Linear q_proj_{nullptr}, k_proj_{nullptr}, v_proj_{nullptr}, proj_{nullptr};
  LayerNorm inner_attn_ln_{nullptr};
  RotaryTables rope_{nullptr};
  // Prepared: q, k and v in one product (bias [q_bias, 0, v_bias]), and (in fp32) the RoPE tables
  // as one complex factor per pair, [1, patches, 1, head_width / 2]: EVA's rotation of the
  // interleaved pair (x0, x1) by the pair's angle is the complex product (x0 + i x1) (cos + i sin).
  // bf16 and fp16 have no complex type: there the reference's formula runs in that dtype.
  DenseOp qkv_;
  torch::Tensor rotation_;
};
TORCH_MODULE(EvaAttention);

class SwiGluImpl : public torch::nn::Module {
 public:
  SwiGluImpl(int64_t width, int64_t hidden, double eps);
  void prepare(const ComputeTarget& target);
  // residual + mlp(x).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual) const;

 private:
  bool reference_ = true;
  Linear w1_{nullptr}, w2_{nullptr}, w3_{nullptr};
  LayerNorm ffn_ln_{nullptr};
};
TORCH_MODULE(SwiGlu);

class EvaBlockImpl : public torch::nn::Module {
 public:
  explicit EvaBlockImpl(const VisionConfig& config);
  void prepare(const ComputeTarget& target);
  torch::Tensor forward(const torch::Tensor& x) const;

 private:
  LayerNorm norm1_{nullptr}, norm2_{nullptr};
  EvaAttention attn_{nullptr};
  SwiGlu mlp_{nullptr};
};
TORCH_MODULE(EvaBlock);

// `model_visual.visual`: also declares the final `norm` and CLIP `head`, which the checkpoint
// holds but Visualized-BGE does not use.
class EvaVisionTransformerImpl : public torch::nn::Module {
 public:
  explicit EvaVisionTransformerImpl(const VisionConfig& config);
  void prepare(const ComputeTarget& target);
  // pixels [B, 3, image_size, image_size] (normalised) -> last block output
  // [B, 1 + patches, width] (CLS first).
  torch::Tensor forward(const torch::Tensor& pixels) const;

 private:
  VisionConfig config_;
  torch::Tensor cls_token_, pos_embed_;
  std::shared_ptr<ModuleNode> patch_embed_;
  torch::Tensor patch_weight_, patch_bias_;
  DenseOp patch_op_;  // prepared: the stride-16 convolution as one product over patches
  RotaryTables rope_{nullptr};
  std::vector<EvaBlock> blocks_;
  LayerNorm norm_{nullptr};
  Linear head_{nullptr};
};
TORCH_MODULE(EvaVisionTransformer);

// `model_visual`: the EVA-CLIP model of which only the vision tower is kept, plus its
// `logit_scale` scalar.
class EvaClipVisualImpl : public torch::nn::Module {
 public:
  explicit EvaClipVisualImpl(const VisionConfig& config);
  EvaVisionTransformer visual{nullptr};
  torch::Tensor logit_scale;
};
TORCH_MODULE(EvaClipVisual);

}  // namespace vista::encoder
