// Matrix products through oneDNN (the library libtorch itself links), used by the kFp32 and kBf16
// compute modes. Why not libtorch's own ops: in libtorch 1.13 fp32 `linear`/`matmul` go to BLAS,
// and `mkldnn_linear` repacks the weights on every call; batched attention products go to BLAS
// one small matrix at a time. Here weights are packed once into oneDNN's blocked layout, every
// product runs as one oneDNN matmul (AMX for bf16), bias, GELU and residual additions are fused
// into it, and attention reads q, k and v in place from the fused QKV output through strides.
//
// Thread-safety: a PackedLinear is immutable after construction; forward() and attention() may
// run concurrently from any number of threads (user-managed scratchpads, per-thread streams).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>

namespace vista::encoder::onednn {

// True when oneDNN has a CPU engine and the bf16 path has hardware support (AVX512-BF16/AMX).
bool bf16_supported();

// What to do with the product before it is stored.
enum class Epilogue {
  kNone,
  kGelu,         // erf GELU (BERT's intermediate layer)
  kSilu,         // x * sigmoid(x) (the gate of EVA's SwiGLU)
  kAddResidual,  // + operand, a tensor of the output's shape (a skip connection)
  kMultiply,     // * operand (SwiGLU's product of its two branches)
};

// y = x W^T + b with W [out, in] packed once. Products are fp32, or bf16 inputs with fp32
// accumulation and output when `bf16` is set.
class PackedLinear {
 public:
  PackedLinear(const torch::Tensor& weight, const torch::Tensor& bias, bool bf16);
  ~PackedLinear();
  PackedLinear(const PackedLinear&) = delete;
  PackedLinear& operator=(const PackedLinear&) = delete;

  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

  // x [..., in] (fp32, any leading shape) -> [..., out] fp32. `operand` must have the output's
  // shape (fp32) for kAddResidual and kMultiply.
  torch::Tensor forward(const torch::Tensor& x, Epilogue epilogue = Epilogue::kNone,
                        const torch::Tensor& operand = torch::Tensor()) const;

 private:
  struct Impl;
  int64_t in_ = 0;
  int64_t out_ = 0;
  std::unique_ptr<Impl> impl_;
};

// softmax(q k^T * scale + mask) v for q [B, H, Nq, d], k and v [B, H, Nk, d] given as strided
// views (e.g. slices of a fused QKV output; no copies are made of them in fp32); additive_mask is
// undefined or [B, 1, 1, Nk]. Returns the context laid out as [B, Nq, H, d] (contiguous), i.e.
// ready to be viewed as [B, Nq, H * d].
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& additive_mask, double scale, bool bf16);

// LayerNorm over the last axis (fp32 in and out; weight and bias [C] fp32), as one jit kernel.
torch::Tensor layer_norm(const torch::Tensor& x, const torch::Tensor& weight,
                         const torch::Tensor& bias, double eps);

}  // namespace vista::encoder::onednn
