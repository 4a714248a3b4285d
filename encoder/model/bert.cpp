#include "encoder/model/bert.h"

#include <cmath>

namespace vista::encoder {

BertEmbeddingsImpl::BertEmbeddingsImpl(const BertConfig& config) {
  const int64_t d = config.hidden_size;
  word_embeddings = register_module("word_embeddings", Embedding(config.vocab_size, d));
  position_embeddings =
      register_module("position_embeddings", Embedding(config.max_position_embeddings, d));
  token_type_embeddings =
      register_module("token_type_embeddings", Embedding(config.type_vocab_size, d));
  layer_norm = register_module("LayerNorm", LayerNorm(d, config.layer_norm_eps));
}

torch::Tensor BertEmbeddingsImpl::forward(const torch::Tensor& ids,
                                          const torch::Tensor& positions) const {
  // Same summation order as Hugging Face: (word + token type) + position.
  auto x = word_embeddings->forward(ids) + token_type_embeddings->weight[0];
  x = x + position_embeddings->forward(positions);
  return layer_norm->forward(x);
}

BertLayerImpl::BertLayerImpl(const BertConfig& config)
    : heads_(config.num_attention_heads), head_dim_(config.head_dim()) {
  const int64_t d = config.hidden_size;
  const double eps = config.layer_norm_eps;
  auto attention = register_module("attention", std::make_shared<ModuleNode>());
  auto self = attention->register_module("self", std::make_shared<ModuleNode>());
  query_ = self->register_module("query", Linear(d, d, true));
  key_ = self->register_module("key", Linear(d, d, true));
  value_ = self->register_module("value", Linear(d, d, true));
  auto attention_output = attention->register_module("output", std::make_shared<ModuleNode>());
  attention_dense_ = attention_output->register_module("dense", Linear(d, d, true));
  attention_ln_ = attention_output->register_module("LayerNorm", LayerNorm(d, eps));
  auto intermediate = register_module("intermediate", std::make_shared<ModuleNode>());
  intermediate_dense_ =
      intermediate->register_module("dense", Linear(d, config.intermediate_size, true));
  auto output = register_module("output", std::make_shared<ModuleNode>());
  output_dense_ = output->register_module("dense", Linear(config.intermediate_size, d, true));
  output_ln_ = output->register_module("LayerNorm", LayerNorm(d, eps));
}

void BertLayerImpl::prepare(const ComputeTarget& target) {
  target_ = target;
  for (auto* linear : {&attention_dense_, &intermediate_dense_, &output_dense_}) {
    (*linear)->prepare(target);
  }
  if (target.reference()) {
    qkv_ = DenseOp();
  } else {
    qkv_ = DenseOp(torch::cat({query_->weight, key_->weight, value_->weight}, 0),
                   torch::cat({query_->bias, key_->bias, value_->bias}, 0), target);
  }
}

torch::Tensor BertLayerImpl::forward(const torch::Tensor& x,
                                     const torch::Tensor& additive_mask) const {
  const int64_t batch = x.size(0);
  const int64_t length = x.size(1);
  const int64_t d = heads_ * head_dim_;
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim_));
  torch::Tensor q, k, v;
  if (qkv_.defined()) {
    // Strided views into the fused product: no copies before the attention products.
    auto qkv = qkv_(x);
    auto head_view = [&](int64_t part) {
      return qkv.slice(-1, part * d, (part + 1) * d)
          .view({batch, length, heads_, head_dim_})
          .permute({0, 2, 1, 3});
    };
    q = head_view(0);
    k = head_view(1);
    v = head_view(2);
  } else {
    auto split = [&](const torch::Tensor& t) {
      return t.reshape({batch, length, heads_, head_dim_}).permute({0, 2, 1, 3});
    };
    q = split(query_->forward(x));
    k = split(key_->forward(x));
    v = split(value_->forward(x));
  }
  auto context = attention(q, k, v, additive_mask, scale, target_);
  auto attended =
      attention_ln_->forward(attention_dense_->forward(context, Epilogue::kAddResidual, x));
  auto hidden = intermediate_dense_->forward(attended, Epilogue::kGelu);
  return output_ln_->forward(output_dense_->forward(hidden, Epilogue::kAddResidual, attended));
}

BertEncoderImpl::BertEncoderImpl(const BertConfig& config) {
  auto list = register_module("layer", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    layers_.push_back(BertLayer(config));
    list->push_back(layers_.back());
  }
}

void BertEncoderImpl::prepare(const ComputeTarget& target) {
  for (auto& layer : layers_) layer->prepare(target);
}

torch::Tensor BertEncoderImpl::forward(torch::Tensor x, const torch::Tensor& additive_mask) const {
  for (const auto& layer : layers_) x = layer->forward(x, additive_mask);
  return x;
}

BertPoolerImpl::BertPoolerImpl(const BertConfig& config) {
  dense = register_module("dense", Linear(config.hidden_size, config.hidden_size, true));
}

torch::Tensor additive_attention_mask(const torch::Tensor& mask) {
  auto m = mask.to(torch::kFloat32);
  return ((1.0 - m) * -65504.0).unsqueeze(1).unsqueeze(2);
}

}  // namespace vista::encoder
