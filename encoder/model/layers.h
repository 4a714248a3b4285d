// The leaves of the network: parameter holders named as in the checkpoint (Linear, LayerNorm,
// embedding tables) and the compute kernels they run. How a matrix product is computed (plain
// libtorch, oneDNN fp32, bf16, or plain libtorch ops on a CUDA device) is chosen once, after the
// weights are loaded, by prepare(); the registered parameters and their names never change with
// it.
//
// Thread-safety: after prepare(), every forward function only reads module state, so one module
// tree may serve any number of threads at once. Loading and prepare() must not overlap a forward.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "encoder/model/compute_mode.h"
#include "encoder/model/onednn.h"

namespace vista::encoder {

// A module that only groups children under a name (e.g. `attention`, `self`), so that the
// module tree mirrors the checkpoint's key names.
class ModuleNode : public torch::nn::Module {};

using onednn::Epilogue;

// Where and how a prepared network computes. Three paths:
//  - reference: kEager, the reference's op sequence through plain libtorch ops (CPU or CUDA);
//  - oneDNN: kFp32/kBf16 on the CPU when this build has oneDNN (onednn.h);
//  - device: kFp32/kBf16/kFp16 as plain libtorch ops in dtype() on the target device, with the
//    same fusions as the oneDNN path (one QKV product, the patch embedding as one product) and
//    fused attention where libtorch offers it (scaled_dot_product_attention, libtorch >= 2.0).
//    This is the CUDA path; on the CPU it runs only where oneDNN is not built in (or when a test
//    asks for it with allow_onednn = false).
struct ComputeTarget {
  ComputeTarget(ComputeMode m = ComputeMode::kEager)  // NOLINT: a mode alone means the CPU
      : mode(m) {}
  ComputeTarget(ComputeMode m, torch::Device d, bool onednn_allowed = true)
      : mode(m), device(d), allow_onednn(onednn_allowed) {}

  ComputeMode mode = ComputeMode::kEager;
  torch::Device device = torch::kCPU;
  bool allow_onednn = true;

  bool reference() const { return mode == ComputeMode::kEager; }
  bool onednn() const;  // the oneDNN path (see above)
  bool device_path() const { return !reference() && !onednn(); }
  // The weights' and activations' type: fp32 except on the device path in bf16 or fp16.
  torch::ScalarType dtype() const;
};

// True when this build compiles the oneDNN CPU path (CMake option VISTA_WITH_ONEDNN).
bool onednn_built();

// y = epilogue(x W^T + b) with W and b laid out for one ComputeMode: the registered tensors as
// they are (kEager), or packed once for oneDNN in fp32 or bf16. Built by prepare() from the
// registered parameters. Input and output are fp32 in every mode.
class DenseOp {
 public:
  DenseOp() = default;
  // `bias` may be undefined (no bias).
  // On every path but oneDNN, the tensors are used as they are (already on the target's device
  // and in its dtype).
  DenseOp(const torch::Tensor& weight, const torch::Tensor& bias, const ComputeTarget& target);

  bool defined() const { return weight_.defined() || packed_ != nullptr; }
  torch::Tensor operator()(const torch::Tensor& x, Epilogue epilogue = Epilogue::kNone,
                           const torch::Tensor& operand = torch::Tensor()) const;

 private:
  torch::Tensor weight_;
  torch::Tensor bias_;
  std::shared_ptr<const onednn::PackedLinear> packed_;
};

// Parameters `weight` [out, in] and, optionally, `bias` [out], as in torch.nn.Linear. Tensors
// are allocated uninitialised: they are always overwritten by a checkpoint (or by a benchmark's
// random fill) before use.
class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in_features, int64_t out_features, bool with_bias);

  void prepare(const ComputeTarget& target);
  // Before prepare(): torch::linear on the registered tensors.
  torch::Tensor forward(const torch::Tensor& x, Epilogue epilogue = Epilogue::kNone,
                        const torch::Tensor& operand = torch::Tensor()) const;

  torch::Tensor weight;
  torch::Tensor bias;  // undefined when the layer has none

 private:
  DenseOp op_;
};
TORCH_MODULE(Linear);

// Parameters `weight` and `bias` [dim], as in torch.nn.LayerNorm.
class LayerNormImpl : public torch::nn::Module {
 public:
  LayerNormImpl(int64_t dim, double eps);
  // oneDNN's layer norm on the oneDNN path; libtorch's otherwise.
  void prepare(const ComputeTarget& target) { onednn_ = target.onednn(); }
  torch::Tensor forward(const torch::Tensor& x) const;

  torch::Tensor weight;
  torch::Tensor bias;

 private:
  int64_t dim_;
  double eps_;
  bool onednn_ = false;
};
TORCH_MODULE(LayerNorm);

// Parameter `weight` [rows, dim], as in torch.nn.Embedding.
class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t rows, int64_t dim);
  // ids: any integer tensor; returns [..., dim].
  torch::Tensor forward(const torch::Tensor& ids) const;

  torch::Tensor weight;
};
TORCH_MODULE(Embedding);

// An uninitialised fp32 parameter tensor (no gradient). Network constructors use this so that
// declaring the 200 M-parameter base model costs no time: the pages are never touched until
// weights are loaded into them.
torch::Tensor uninitialised(torch::IntArrayRef shape);

// softmax(q k^T * scale + mask) v for q [B, H, Nq, d], k and v [B, H, Nk, d] (any strides);
// `additive_mask` is undefined or [B, 1, 1, Nk] in q's dtype. Returns the context as
// [B, Nq, H * d]. On the device path with libtorch >= 2.0 this is one fused kernel
// (scaled_dot_product_attention: flash or memory-efficient attention where they apply), whose
// scale is 1 / sqrt(d): `scale` must be that there.
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& additive_mask, double scale,
                        const ComputeTarget& target);

}  // namespace vista::encoder
