// The whole Visualized-BGE network as one module tree whose parameter and buffer names are the
// checkpoint's keys (`model_visual.visual.*`, `bge_embeddings.*`, `bge_encoder.layer.*`,
// `visual_proj.*`, `bge_pooler.*`). It works on token ids and normalised pixels; tokenizing,
// decoding, batching and truncation live in Encoder (encoder.h).
//
// Thread-safety: construction, load_weights() and prepare() are single-threaded set-up; after
// them the encode_* functions only read the module and may run concurrently. Callers hold a
// c10::InferenceMode (or NoGradGuard) guard: nothing here records autograd history.
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "encoder/model/bert.h"
#include "encoder/model/eva_vision.h"
#include "encoder/model/layers.h"
#include "encoder/model/model_config.h"

namespace vista::encoder {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Keys some checkpoints carry that the network does not use and that may be ignored.
bool is_tolerated_extra_key(const std::string& name);

// A 64-bit content hash of named tensors (names, shapes, dtypes and bytes; independent of their
// order), as 16 hex digits. Encoder::model_id() uses it.
std::string tensors_fingerprint(const NamedTensors& tensors);

class VisualizedBgeImpl : public torch::nn::Module {
 public:
  // Declares every tensor from the config, uninitialised (RoPE tables excepted): no time is
  // spent filling 200 M parameters that a checkpoint will overwrite.
  explicit VisualizedBgeImpl(const ModelConfig& config);

  const ModelConfig& config() const { return config_; }

  // Every tensor the network declares (parameters and buffers), keyed as in the checkpoint.
  NamedTensors declared_tensors() const;

  // Puts `tensors` (a checkpoint's contents) into the network. The key sets must match exactly
  // (apart from is_tolerated_extra_key), and so must every shape and dtype; otherwise nothing
  // is changed and the Status names the offending key (InvalidArgument for a missing,
  // unexpected or mis-shaped tensor, Unsupported for a dtype). The network shares the tensors'
  // storage (no copy). `source` names the checkpoint in messages. Call prepare() afterwards.
  Status load_weights(const NamedTensors& tensors, const std::string& source);

  // Lays the weights out for `target` (see ComputeTarget). For a CUDA device, or another dtype
  // than fp32, the network's tensors are first moved there and converted, once. Re-run after
  // changing weights.
  void prepare(const ComputeTarget& target);
  ComputeMode mode() const { return target_.mode; }
  const ComputeTarget& target() const { return target_; }

  // Inputs may be on any device: they are copied to the target's (asynchronously from pinned
  // memory). Outputs are fp32 on the target's device.
  //
  // Text alone: ids and 0/1 mask [B, T] (int64). Returns L2-normalised CLS vectors [B, D].
  torch::Tensor encode_text(const torch::Tensor& ids, const torch::Tensor& mask) const;

  // Image tokens ready for BERT: vision tower without its CLS, visual_proj, + positions 1..n,
  // embeddings LayerNorm. pixels [B, 3, S, S] (fp32 or the target's dtype) -> [B, n, D].
  torch::Tensor image_tokens(const torch::Tensor& pixels) const;

  // Image with text (an empty prompt [CLS][SEP] for an image alone): sequence
  // [CLS] + image tokens + text[1:], text positions 0, n+1, n+2, ...; ids and mask [B, T] with
  // T <= config().max_text_tokens_with_image(). Returns L2-normalised CLS vectors [B, D].
  torch::Tensor encode_mm(const torch::Tensor& pixels, const torch::Tensor& ids,
                          const torch::Tensor& mask) const;

  EvaClipVisual model_visual{nullptr};
  BertEmbeddings bge_embeddings{nullptr};
  BertEncoder bge_encoder{nullptr};
  Linear visual_proj{nullptr};
  BertPooler bge_pooler{nullptr};

 private:
  torch::Tensor on_device(const torch::Tensor& t) const;
  // The additive mask for a 0/1 mask [B, L] on the target's device and dtype; undefined on the
  // device path when nothing is masked (adding zeros changes nothing, and fused attention is
  // fastest without a mask).
  torch::Tensor attention_bias(const torch::Tensor& mask) const;

  ModelConfig config_;
  ComputeTarget target_;
};
TORCH_MODULE(VisualizedBge);

}  // namespace vista::encoder
