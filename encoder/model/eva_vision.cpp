#include "encoder/model/eva_vision.h"

#include <cmath>

namespace vista::encoder {
namespace {

// EVA's rotate_half on interleaved pairs: (x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...).
torch::Tensor rotate_half(const torch::Tensor& x) {
  auto pairs = x.unflatten(-1, {-1, 2});
  auto x1 = pairs.select(-1, 0);
  auto x2 = pairs.select(-1, 1);
  return torch::stack({-x2, x1}, -1).flatten(-2);
}

// The interleaved pairs (x0, x1) of the last axis as complex numbers x0 + i x1 (a view).
torch::Tensor as_complex_pairs(const torch::Tensor& x) {
  return torch::view_as_complex(x.unflatten(-1, {-1, 2}));
}

}  // namespace

std::pair<torch::Tensor, torch::Tensor> eva_rope_tables(const VisionConfig& config) {
  // VisionRotaryEmbeddingFast(dim = head_width / 2, pt_seq_len, ft_seq_len = grid if intp_freq).
  torch::NoGradGuard no_grad;
  const int64_t dim = config.head_width / 2;
  const int64_t pt_seq_len = config.pt_hw_seq_len;
  const int64_t ft_seq_len = config.intp_freq ? config.grid() : pt_seq_len;
  auto exponents = torch::arange(0, dim, 2, torch::kLong).slice(0, 0, dim / 2).to(torch::kFloat32) /
                   static_cast<double>(dim);
  auto freqs = torch::reciprocal(torch::pow(10000.0, exponents));
  auto t = torch::arange(ft_seq_len, torch::kFloat32) / static_cast<double>(ft_seq_len) *
           static_cast<double>(pt_seq_len);
  auto f = torch::outer(t, freqs);  // [ft, dim / 2]
  f = f.repeat_interleave(2, -1);   // [ft, dim]: each frequency twice (pairs)
  auto rows = f.unsqueeze(1).expand({ft_seq_len, ft_seq_len, dim});
  auto cols = f.unsqueeze(0).expand({ft_seq_len, ft_seq_len, dim});
  auto grid = torch::cat({rows, cols}, -1).reshape({ft_seq_len * ft_seq_len, 2 * dim});
  return {grid.cos().contiguous(), grid.sin().contiguous()};
}

RotaryTablesImpl::RotaryTablesImpl(const VisionConfig& config) {
  auto [cos, sin] = eva_rope_tables(config);
  freqs_cos = register_buffer("freqs_cos", cos);
  freqs_sin = register_buffer("freqs_sin", sin);
}

EvaAttentionImpl::EvaAttentionImpl(const VisionConfig& config)
    : heads_(config.heads()), head_width_(config.head_width) {
  const int64_t width = config.width;
  q_bias_ = register_parameter("q_bias", uninitialised({width}), false);
  v_bias_ = register_parameter("v_bias", uninitialised({width}), false);
  q_proj_ = register_module("q_proj", Linear(width, width, false));
  k_proj_ = register_module("k_proj", Linear(width, width, false));
  v_proj_ = register_module("v_proj", Linear(width, width, false));
  inner_attn_ln_ = register_module("inner_attn_ln", LayerNorm(width, config.layer_norm_eps));
  proj_ = register_module("proj", Linear(width, width, true));
  rope_ = register_module("rope", RotaryTables(config));
}

void EvaAttentionImpl::prepare(const ComputeTarget& target) {
  target_ = target;
  proj_->prepare(target);
  if (target.reference()) {
    qkv_ = DenseOp();
    rotation_ = torch::Tensor();
    return;
  }
  auto weight = torch::cat({q_proj_->weight, k_proj_->weight, v_proj_->weight}, 0);
  auto bias = torch::cat({q_bias_, torch::zeros_like(q_bias_), v_bias_}, 0);
  qkv_ = DenseOp(weight, bias, target);
  // EVA repeats each frequency for both members of a pair, so one angle per pair describes the
  // tables; when a checkpoint's tables are not of that form, the eager formula is kept.
  const auto& cos = rope_->freqs_cos;
  const auto& sin = rope_->freqs_sin;
  auto even = [](const torch::Tensor& t) { return t.slice(-1, 0, t.size(-1), 2); };
  auto odd = [](const torch::Tensor& t) { return t.slice(-1, 1, t.size(-1), 2); };
  if (target.dtype() == torch::kFloat32 && torch::equal(even(cos), odd(cos)) &&
      torch::equal(even(sin), odd(sin))) {
    const int64_t patches = cos.size(0);
    rotation_ = torch::complex(even(cos).contiguous(), even(sin).contiguous())
                    .view({1, patches, 1, head_width_ / 2});
  } else {
    rotation_ = torch::Tensor();
  }
}

torch::Tensor EvaAttentionImpl::apply_rope(const torch::Tensor& t) const {
  if (!rotation_.defined()) {
    // t [B, H, 1 + patches, d]; the CLS token (index 0) is not rotated.
    auto patches = t.slice(2, 1);
    auto rotated = patches * rope_->freqs_cos + rotate_half(patches) * rope_->freqs_sin;
    return torch::cat({t.slice(2, 0, 1), rotated}, 2);
  }
  // t [B, 1 + patches, H, d], a view of the QKV output.
  auto out = torch::empty(t.sizes(), t.options());
  out.slice(1, 0, 1).copy_(t.slice(1, 0, 1));
  auto rotated = as_complex_pairs(out.slice(1, 1));
  torch::mul_out(rotated, as_complex_pairs(t.slice(1, 1)), rotation_);
  return out;
}

torch::Tensor EvaAttentionImpl::forward(const torch::Tensor& x,
                                        const torch::Tensor& residual) const {
  const int64_t batch = x.size(0);
  const int64_t tokens = x.size(1);
  const int64_t width = heads_ * head_width_;
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_width_));
  if (target_.reference()) {
    // The reference's op sequence.
    auto split = [&](const torch::Tensor& t) {
      return t.reshape({batch, tokens, heads_, head_width_}).permute({0, 2, 1, 3});
    };
    auto q = apply_rope(split(torch::linear(x, q_proj_->weight, q_bias_)));
    auto k = apply_rope(split(torch::linear(x, k_proj_->weight)));
    auto v = split(torch::linear(x, v_proj_->weight, v_bias_));
    auto context = attention(q, k, v, torch::Tensor(), scale, target_);
    return residual + proj_->forward(inner_attn_ln_->forward(context));
  }
  // q, k and v are read in place from the fused product through strided views.
  auto qkv = qkv_(x);
  auto head_view = [&](int64_t part) {
    return qkv.slice(-1, part * width, (part + 1) * width)
        .view({batch, tokens, heads_, head_width_});
  };
  torch::Tensor q, k;
  if (rotation_.defined()) {
    q = apply_rope(head_view(0)).permute({0, 2, 1, 3});
    k = apply_rope(head_view(1)).permute({0, 2, 1, 3});
  } else {
    q = apply_rope(head_view(0).permute({0, 2, 1, 3}));
    k = apply_rope(head_view(1).permute({0, 2, 1, 3}));
  }
  auto v = head_view(2).permute({0, 2, 1, 3});
  auto context = attention(q, k, v, torch::Tensor(), scale, target_);
  return proj_->forward(inner_attn_ln_->forward(context), Epilogue::kAddResidual, residual);
}

SwiGluImpl::SwiGluImpl(int64_t width, int64_t hidden, double eps) {
  w1_ = register_module("w1", Linear(width, hidden, true));
  w2_ = register_module("w2", Linear(width, hidden, true));
  ffn_ln_ = register_module("ffn_ln", LayerNorm(hidden, eps));
  w3_ = register_module("w3", Linear(hidden, width, true));
}

void SwiGluImpl::prepare(const ComputeTarget& target) {
  reference_ = target.reference();
  w1_->prepare(target);
  w2_->prepare(target);
  w3_->prepare(target);
}

torch::Tensor SwiGluImpl::forward(const torch::Tensor& x, const torch::Tensor& residual) const {
  if (reference_) {
    auto hidden = torch::silu(w1_->forward(x)) * w2_->forward(x);
    return residual + w3_->forward(ffn_ln_->forward(hidden));
  }
  // The gate and the product are applied as the products are stored: w2 x + b2 is multiplied
  // by silu(w1 x + b1) inside its own GEMM.
  auto gate = w1_->forward(x, Epilogue::kSilu);
  auto hidden = w2_->forward(x, Epilogue::kMultiply, gate);
  return w3_->forward(ffn_ln_->forward(hidden), Epilogue::kAddResidual, residual);
}

EvaBlockImpl::EvaBlockImpl(const VisionConfig& config) {
  norm1_ = register_module("norm1", LayerNorm(config.width, config.layer_norm_eps));
  attn_ = register_module("attn", EvaAttention(config));
  norm2_ = register_module("norm2", LayerNorm(config.width, config.layer_norm_eps));
  mlp_ = register_module("mlp", SwiGlu(config.width, config.mlp_hidden(), config.layer_norm_eps));
}

void EvaBlockImpl::prepare(const ComputeTarget& target) {
  attn_->prepare(target);
  mlp_->prepare(target);
}

torch::Tensor EvaBlockImpl::forward(const torch::Tensor& x) const {
  auto h = attn_->forward(norm1_->forward(x), x);
  return mlp_->forward(norm2_->forward(h), h);
}

EvaVisionTransformerImpl::EvaVisionTransformerImpl(const VisionConfig& config) : config_(config) {
  const int64_t width = config.width;
  const int64_t p = config.patch_size;
  cls_token_ = register_parameter("cls_token", uninitialised({1, 1, width}), false);
  pos_embed_ =
      register_parameter("pos_embed", uninitialised({1, 1 + config.num_patches(), width}), false);
  patch_embed_ = register_module("patch_embed", std::make_shared<ModuleNode>());
  auto proj = patch_embed_->register_module("proj", std::make_shared<ModuleNode>());
  patch_weight_ = proj->register_parameter("weight", uninitialised({width, 3, p, p}), false);
  patch_bias_ = proj->register_parameter("bias", uninitialised({width}), false);
  rope_ = register_module("rope", RotaryTables(config));
  auto blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.layers; ++i) {
    blocks_.push_back(EvaBlock(config));
    blocks->push_back(blocks_.back());
  }
  norm_ = register_module("norm", LayerNorm(width, config.layer_norm_eps));
  head_ = register_module("head", Linear(width, config.embed_dim, true));
}

void EvaVisionTransformerImpl::prepare(const ComputeTarget& target) {
  for (auto& block : blocks_) block->prepare(target);
  if (target.reference()) {
    patch_op_ = DenseOp();
  } else {
    patch_op_ = DenseOp(patch_weight_.reshape({config_.width, -1}), patch_bias_, target);
  }
}

torch::Tensor EvaVisionTransformerImpl::forward(const torch::Tensor& pixels) const {
  const int64_t batch = pixels.size(0);
  const int64_t grid = config_.grid();
  const int64_t p = config_.patch_size;
  torch::Tensor patches;
  if (patch_op_.defined()) {
    // A stride-p convolution with a p x p kernel is one product over the flattened patches
    // (row-major patch order, channel-major within a patch, as the kernel is laid out).
    auto unfolded = pixels.reshape({batch, 3, grid, p, grid, p})
                        .permute({0, 2, 4, 1, 3, 5})
                        .reshape({batch * grid * grid, 3 * p * p});
    patches = patch_op_(unfolded).view({batch, grid * grid, config_.width});
  } else {
    patches = torch::conv2d(pixels, patch_weight_, patch_bias_, {p, p}).flatten(2).transpose(1, 2);
  }
  auto x = torch::cat({cls_token_.expand({batch, 1, config_.width}), patches}, 1) + pos_embed_;
  for (const auto& block : blocks_) x = block->forward(x);
  return x;
}

EvaClipVisualImpl::EvaClipVisualImpl(const VisionConfig& config) {
  logit_scale = register_parameter("logit_scale", uninitialised({}), false);
  visual = register_module("visual", EvaVisionTransformer(config));
}

}  // namespace vista::encoder
