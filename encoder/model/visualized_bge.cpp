#include "encoder/model/visualized_bge.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>

namespace vista::encoder {
namespace {

std::string shape_string(torch::IntArrayRef sizes) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < sizes.size(); ++i) out << (i ? ", " : "") << sizes[i];
  out << "]";
  return out.str();
}

torch::Tensor l2_normalise(const torch::Tensor& x_in) {
  // torch.nn.functional.normalize: x / max(||x||, 1e-12), in fp32 whatever the network's dtype.
  auto x = x_in.to(torch::kFloat32);
  return x / x.norm(2, -1, true).clamp_min(1e-12);
}

}  // namespace

std::string tensors_fingerprint(const NamedTensors& tensors) {
  std::vector<const std::pair<std::string, torch::Tensor>*> sorted;
  for (const auto& item : tensors) sorted.push_back(&item);
  std::sort(sorted.begin(), sorted.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  for (const auto* item : sorted) {
    const auto& name = item->first;
    const torch::Tensor tensor = item->second.contiguous();
    const uint64_t header[2] = {name.size(), static_cast<uint64_t>(tensor.dim())};
    XXH3_64bits_update(state, header, sizeof(header));
    XXH3_64bits_update(state, name.data(), name.size());
    for (int64_t d : tensor.sizes()) XXH3_64bits_update(state, &d, sizeof(d));
    const int32_t dtype = static_cast<int32_t>(tensor.scalar_type());
    XXH3_64bits_update(state, &dtype, sizeof(dtype));
    XXH3_64bits_update(state, tensor.data_ptr(), tensor.numel() * tensor.element_size());
  }
  const uint64_t hash = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(hash));
  return hex;
}

bool is_tolerated_extra_key(const std::string& name) {
  return name == "bge_embeddings.position_ids";
}

VisualizedBgeImpl::VisualizedBgeImpl(const ModelConfig& config) : config_(config) {
  model_visual = register_module("model_visual", EvaClipVisual(config.vision));
  bge_embeddings = register_module("bge_embeddings", BertEmbeddings(config.text));
  bge_encoder = register_module("bge_encoder", BertEncoder(config.text));
  visual_proj =
      register_module("visual_proj", Linear(config.vision.width, config.text.hidden_size, true));
  bge_pooler = register_module("bge_pooler", BertPooler(config.text));
}

NamedTensors VisualizedBgeImpl::declared_tensors() const {
  NamedTensors out;
  for (const auto& item : named_parameters(true)) out.emplace_back(item.key(), item.value());
  for (const auto& item : named_buffers(true)) out.emplace_back(item.key(), item.value());
  return out;
}

Status VisualizedBgeImpl::load_weights(const NamedTensors& tensors, const std::string& source) {
  std::map<std::string, torch::Tensor> declared;
  for (auto& [name, tensor] : declared_tensors()) declared.emplace(name, tensor);

  // Validate everything first so that a bad checkpoint leaves the network untouched.
  std::map<std::string, const torch::Tensor*> given;
  for (const auto& [name, tensor] : tensors) {
    auto it = declared.find(name);
    if (it == declared.end()) {
      if (is_tolerated_extra_key(name)) continue;
      return Status::invalid_argument(
          source + ": unexpected tensor '" + name + "' " + shape_string(tensor.sizes()) +
          ": the model described by config.json / eva_vision_config.json has no such tensor "
          "(is this a Visualized-BGE checkpoint of the configured size?)");
    }
    if (!given.emplace(name, &tensor).second) {
      return Status::invalid_argument(source + ": tensor '" + name + "' appears twice");
    }
    const torch::Tensor& expected = it->second;
    if (tensor.sizes() != expected.sizes()) {
      return Status::invalid_argument(source + ": tensor '" + name + "' has shape " +
                                      shape_string(tensor.sizes()) + " but the model expects " +
                                      shape_string(expected.sizes()) +
                                      " (do config.json and eva_vision_config.json match these "
                                      "weights?)");
    }
    if (tensor.scalar_type() != expected.scalar_type()) {
      return Status::unsupported(source + ": tensor '" + name + "' has dtype " +
                                 std::string(c10::toString(tensor.scalar_type())) +
                                 " but the model expects " +
                                 std::string(c10::toString(expected.scalar_type())));
    }
    if (tensor.device() != expected.device() || tensor.layout() != expected.layout()) {
      return Status::unsupported(source + ": tensor '" + name + "' is not a dense CPU tensor");
    }
  }
  std::vector<std::string> missing;
  for (const auto& [name, tensor] : declared) {
    if (!given.count(name)) missing.push_back(name);
  }
  if (!missing.empty()) {
    std::string message = source + ": missing tensor '" + missing.front() + "' " +
                          shape_string(declared.at(missing.front()).sizes());
    if (missing.size() > 1) {
      message += " and " + std::to_string(missing.size() - 1) + " more";
    }
    message += " (the checkpoint is incomplete or was made for a different model configuration)";
    return Status::invalid_argument(message);
  }

  torch::NoGradGuard no_grad;
  for (const auto& [name, source_tensor] : given) {
    // Contiguous so that every product reads its weights with unit stride; for the usual
    // checkpoint (contiguous tensors) this shares the checkpoint's memory.
    declared.at(name).set_data(source_tensor->contiguous());
  }
  target_ = ComputeTarget();
  return Status::ok();
}

void VisualizedBgeImpl::prepare(const ComputeTarget& target) {
  torch::NoGradGuard no_grad;
  target_ = target;
  // Uploaded (and converted) once: every forward pass then reads the weights where it runs.
  if (!target.device.is_cpu() || target.dtype() != torch::kFloat32) {
    to(target.device, target.dtype());
  }
  model_visual->visual->prepare(target);
  bge_encoder->prepare(target);
  visual_proj->prepare(target);
  for (const auto& module : modules()) {
    if (auto* norm = module->as<LayerNormImpl>()) norm->prepare(target);
  }
}

torch::Tensor VisualizedBgeImpl::on_device(const torch::Tensor& t) const {
  if (t.device() == target_.device) return t;
  return t.to(target_.device, /*non_blocking=*/true);
}

torch::Tensor VisualizedBgeImpl::attention_bias(const torch::Tensor& mask) const {
  if (target_.device_path() && mask.device().is_cpu() && mask.all().item<bool>()) {
    return torch::Tensor();
  }
  return additive_attention_mask(mask).to(target_.device, target_.dtype(), /*non_blocking=*/true);
}

torch::Tensor VisualizedBgeImpl::encode_text(const torch::Tensor& ids,
                                             const torch::Tensor& mask) const {
  const int64_t length = ids.size(1);
  auto positions = on_device(torch::arange(length, torch::kLong));
  auto x = bge_embeddings->forward(on_device(ids), positions);
  x = bge_encoder->forward(x, attention_bias(mask));
  return l2_normalise(x.select(1, 0));
}

torch::Tensor VisualizedBgeImpl::image_tokens(const torch::Tensor& pixels) const {
  auto input = pixels.to(target_.device, target_.dtype(), /*non_blocking=*/true);
  auto tokens = model_visual->visual->forward(input).slice(1, 1);  // drop the vision CLS
  auto x = visual_proj->forward(tokens);
  const int64_t n = x.size(1);
  auto positions = on_device(torch::arange(1, 1 + n, torch::kLong));
  x = x + bge_embeddings->position_embeddings->forward(positions);
  return bge_embeddings->layer_norm->forward(x);
}

torch::Tensor VisualizedBgeImpl::encode_mm(const torch::Tensor& pixels, const torch::Tensor& ids,
                                           const torch::Tensor& mask) const {
  auto image = image_tokens(pixels);
  const int64_t batch = ids.size(0);
  const int64_t n = image.size(1);
  const int64_t length = ids.size(1);
  // Text positions: [CLS] keeps 0, the rest continue after the image tokens (n+1, n+2, ...).
  auto positions = torch::arange(n, n + length, torch::kLong);
  positions[0] = 0;
  auto text = bge_embeddings->forward(on_device(ids), on_device(positions));
  auto sequence = torch::cat({text.slice(1, 0, 1), image, text.slice(1, 1)}, 1);
  auto full_mask = torch::cat({torch::ones({batch, n + 1}, mask.options()), mask.slice(1, 1)}, 1);
  auto x = bge_encoder->forward(sequence, attention_bias(full_mask));
  return l2_normalise(x.select(1, 0));
}

}  // namespace vista::encoder
