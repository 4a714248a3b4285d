#include "encoder/model/layers.h"

#include <ATen/ATen.h>
#include <torch/version.h>

#include <cmath>

#include <algorithm>

namespace vista::encoder {

std::string compute_mode_name(ComputeMode mode) {
  switch (mode) {
    case ComputeMode::kEager: return "eager";
    case ComputeMode::kFp32: return "fp32";
    case ComputeMode::kBf16: return "bf16";
    case ComputeMode::kFp16: return "fp16";
  }
  return "unknown";
}

Result<ComputeMode> parse_compute_mode(const std::string& name) {
  if (name == "fp32") return ComputeMode::kFp32;
  if (name == "bf16") return ComputeMode::kBf16;
  if (name == "fp16") return ComputeMode::kFp16;
  if (name == "eager") return ComputeMode::kEager;
  return Status::invalid_argument("unknown dtype '" + name +
                                  "' (expected fp32, bf16, fp16 or eager)");
}

bool onednn_built() {
#ifdef VISTA_WITH_ONEDNN
  return true;
#else
  return false;
#endif
}

bool ComputeTarget::onednn() const {
  return !reference() && device.is_cpu() && allow_onednn && onednn_built();
}

torch::ScalarType ComputeTarget::dtype() const {
  if (!device_path()) return torch::kFloat32;
  switch (mode) {
    case ComputeMode::kBf16: return torch::kBFloat16;
    case ComputeMode::kFp16: return torch::kFloat16;
    default: return torch::kFloat32;
  }
}

const std::vector<std::string>& dtype_choices() {
  static const std::vector<std::string> kChoices = {"auto", compute_mode_name(ComputeMode::kFp32),
                                                    compute_mode_name(ComputeMode::kBf16),
                                                    compute_mode_name(ComputeMode::kFp16),
                                                    compute_mode_name(ComputeMode::kEager)};
  return kChoices;
}

Status validate_dtype(const std::string& dtype, const std::string& what) {
  const auto& choices = dtype_choices();
  if (std::find(choices.begin(), choices.end(), dtype) != choices.end()) return Status::ok();
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
  return Status::invalid_argument(what + " must be one of " + list + ", got '" + dtype + "'");
}

torch::Tensor uninitialised(torch::IntArrayRef shape) {
  return torch::empty(shape, torch::TensorOptions().dtype(torch::kFloat32).requires_grad(false));
}

DenseOp::DenseOp(const torch::Tensor& weight, const torch::Tensor& bias,
                 const ComputeTarget& target) {
  if (target.onednn()) {
    packed_ =
        std::make_shared<onednn::PackedLinear>(weight, bias, target.mode == ComputeMode::kBf16);
  } else {
    // Contiguous once here, not on every call (a fused QKV weight is built contiguous anyway).
    weight_ = weight.contiguous();
    bias_ = bias.defined() ? bias.contiguous() : bias;
  }
}

torch::Tensor DenseOp::operator()(const torch::Tensor& x, Epilogue epilogue,
                                  const torch::Tensor& operand) const {
  if (packed_) return packed_->forward(x, epilogue, operand);
  auto y = torch::linear(x, weight_, bias_);
  switch (epilogue) {
    case Epilogue::kNone: return y;
    case Epilogue::kGelu: return torch::gelu(y);
    case Epilogue::kSilu: return torch::silu(y);
    case Epilogue::kAddResidual: return y + operand;
    case Epilogue::kMultiply: return y * operand;
  }
  return y;
}

LinearImpl::LinearImpl(int64_t in_features, int64_t out_features, bool with_bias) {
  weight = register_parameter("weight", uninitialised({out_features, in_features}), false);
  if (with_bias) bias = register_parameter("bias", uninitialised({out_features}), false);
}

void LinearImpl::prepare(const ComputeTarget& target) {
  op_ = DenseOp(weight, bias, target);
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x, Epilogue epilogue,
                                  const torch::Tensor& operand) const {
  if (op_.defined()) return op_(x, epilogue, operand);
  return DenseOp(weight, bias, ComputeMode::kEager)(x, epilogue, operand);
}

LayerNormImpl::LayerNormImpl(int64_t dim, double eps) : dim_(dim), eps_(eps) {
  weight = register_parameter("weight", uninitialised({dim}), false);
  bias = register_parameter("bias", uninitialised({dim}), false);
}

torch::Tensor LayerNormImpl::forward(const torch::Tensor& x) const {
  if (onednn_) return onednn::layer_norm(x, weight, bias, eps_);
  return torch::layer_norm(x, {dim_}, weight, bias, eps_);
}

EmbeddingImpl::EmbeddingImpl(int64_t rows, int64_t dim) {
  weight = register_parameter("weight", uninitialised({rows, dim}), false);
}

torch::Tensor EmbeddingImpl::forward(const torch::Tensor& ids) const {
  return torch::embedding(weight, ids);
}

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& additive_mask, double scale,
                        const ComputeTarget& target) {
  const int64_t batch = q.size(0), heads = q.size(1), nq = q.size(2), dim = q.size(3);
  if (target.onednn()) {
    return onednn::attention(q, k, v, additive_mask, scale, target.mode == ComputeMode::kBf16)
        .view({batch, nq, heads * dim});
  }
#if TORCH_VERSION_MAJOR >= 2
  if (target.device_path()) {
    TORCH_CHECK(std::abs(scale * std::sqrt(static_cast<double>(dim)) - 1.0) < 1e-12,
                "fused attention scales by 1/sqrt(head dim)");
    auto context = additive_mask.defined() ? at::scaled_dot_product_attention(q, k, v, additive_mask)
                                           : at::scaled_dot_product_attention(q, k, v);
    return context.transpose(1, 2).reshape({batch, nq, heads * dim});
  }
#endif
  auto scores = torch::matmul(q * scale, k.transpose(-2, -1));
  if (additive_mask.defined()) scores = scores + additive_mask;
  auto probs = torch::softmax(scores, -1);
  return torch::matmul(probs, v).permute({0, 2, 1, 3}).reshape({batch, nq, heads * dim});
}

}  // namespace vista::encoder
