#include "encoder/model/layers.h"

#include <ATen/ATen.h>

namespace vista::encoder {

std::string compute_mode_name(ComputeMode mode) {
  switch (mode) {
    case ComputeMode::kEager: return "eager";
    case ComputeMode::kFp32: return "fp32";
    case ComputeMode::kBf16: return "bf16";
  }
  return "unknown";
}

Result<ComputeMode> parse_compute_mode(const std::string& name) {
  if (name == "fp32") return ComputeMode::kFp32;
  if (name == "bf16") return ComputeMode::kBf16;
  if (name == "eager") return ComputeMode::kEager;
  return Status::invalid_argument("unknown dtype '" + name + "' (expected fp32, bf16 or eager)");
}

torch::Tensor uninitialised(torch::IntArrayRef shape) {
  return torch::empty(shape, torch::TensorOptions().dtype(torch::kFloat32).requires_grad(false));
}

DenseOp::DenseOp(const torch::Tensor& weight, const torch::Tensor& bias, ComputeMode mode)
    : mode_(mode) {
  switch (mode) {
    case ComputeMode::kEager:
      weight_ = weight;
      bias_ = bias;
      break;
    case ComputeMode::kFp32:
      // oneDNN reads a dense row-major weight directly; keep one contiguous copy at most.
      weight_ = weight.contiguous();
      bias_ = bias.defined() ? bias.contiguous() : bias;
      break;
    case ComputeMode::kBf16:
      weight_ = weight.to(torch::kBFloat16).contiguous();
      // The bias is added in fp32 after the product: rounding it to bf16 would cost accuracy
      // for nothing.
      bias_ = bias.defined() ? bias.contiguous() : bias;
      break;
  }
}

torch::Tensor DenseOp::operator()(const torch::Tensor& x) const {
  switch (mode_) {
    case ComputeMode::kEager: return torch::linear(x, weight_, bias_);
    case ComputeMode::kFp32: {
      auto sizes = x.sizes().vec();
      auto x2 = x.reshape({-1, sizes.back()}).contiguous();
      c10::optional<torch::Tensor> bias;
      if (bias_.defined()) bias = bias_;
      auto y = at::mkldnn_linear(x2.to_mkldnn(), weight_, bias).to_dense();
      sizes.back() = weight_.size(0);
      return y.view(sizes);
    }
    case ComputeMode::kBf16: {
      auto y = torch::linear(x.to(torch::kBFloat16), weight_).to(torch::kFloat32);
      if (bias_.defined()) y.add_(bias_);
      return y;
    }
  }
  return {};
}

LinearImpl::LinearImpl(int64_t in_features, int64_t out_features, bool with_bias) {
  weight = register_parameter("weight", uninitialised({out_features, in_features}), false);
  if (with_bias) bias = register_parameter("bias", uninitialised({out_features}), false);
}

void LinearImpl::prepare(ComputeMode mode) {
  op_ = DenseOp(weight, bias, mode);
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) const {
  if (op_.defined()) return op_(x);
  return torch::linear(x, weight, bias);
}

LayerNormImpl::LayerNormImpl(int64_t dim, double eps) : dim_(dim), eps_(eps) {
  weight = register_parameter("weight", uninitialised({dim}), false);
  bias = register_parameter("bias", uninitialised({dim}), false);
}

torch::Tensor LayerNormImpl::forward(const torch::Tensor& x) const {
  return torch::layer_norm(x, {dim_}, weight, bias, eps_);
}

EmbeddingImpl::EmbeddingImpl(int64_t rows, int64_t dim) {
  weight = register_parameter("weight", uninitialised({rows, dim}), false);
}

torch::Tensor EmbeddingImpl::forward(const torch::Tensor& ids) const {
  return torch::embedding(weight, ids);
}

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& additive_mask, double scale, ComputeMode mode) {
  auto scores = torch::matmul(q * scale, k.transpose(-2, -1));
  if (additive_mask.defined()) scores = scores + additive_mask;
  auto probs = torch::softmax(scores, -1);
  return torch::matmul(probs, v);
}

}  // namespace vista::encoder
