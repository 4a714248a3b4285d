#include "engine/encoder_adapter.h"

#include <c10/util/Exception.h>

#include <algorithm>

#include "encoder/model/encoder.h"
#include "engine/encode_queue.h"

namespace vista::engine {

Result<std::shared_ptr<const encoder::Encoder>> load_encoder(const std::filesystem::path& model_dir,
                                                             int threads, const std::string& dtype,
                                                             const std::string& device,
                                                             int max_batch) {
  encoder::EncoderOptions options;
  if (!dtype.empty() && dtype != "auto") {
    VISTA_ASSIGN_OR_RETURN(options.mode, encoder::parse_compute_mode(dtype));
  }
  VISTA_ASSIGN_OR_RETURN(options.device, encoder::parse_device(device.empty() ? "cpu" : device));
  options.threads = std::max(0, threads);
  options.max_batch = max_batch > 0 ? static_cast<size_t>(max_batch)
                                    : encoder::default_max_batch(options.device);
  std::error_code ec;
  if (!std::filesystem::is_directory(model_dir, ec))
    return Status::not_found("model directory " + model_dir.string() +
                             " does not exist; download the model with scripts/fetch-model.sh "
                             "(or pass --model DIR / set VISTA_MODEL)");
  try {
    return encoder::Encoder::load(model_dir, options);
  } catch (const c10::Error& e) {
    return Status::internal("loading the model from " + model_dir.string() +
                            " failed: " + e.what_without_backtrace());
  }
}

ModelIdentity encoder_identity(const encoder::Encoder& encoder) {
  ModelIdentity id;
  id.name = encoder.model_name();
  const std::string& full = encoder.model_id();  // "<name>@<fingerprint>"
  auto at = full.rfind('@');
  id.checkpoint_hash = at == std::string::npos ? full : full.substr(at + 1);
  return id;
}

int encoder_default_batch(const encoder::Encoder& encoder) {
  return static_cast<int>(encoder::default_max_batch(encoder.device()));
}

int encoder_dimension(const encoder::Encoder& encoder) {
  return encoder.dim();
}

int encoder_image_size(const encoder::Encoder& encoder) {
  return encoder.image_size();
}

Result<std::vector<Embedding>> encode_items(const encoder::Encoder& encoder,
                                            const std::vector<EncodeItem>& items) {
  std::vector<encoder::EncodeInput> inputs(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    inputs[i].text = items[i].text;
    inputs[i].image = items[i].image;
  }
  Result<std::vector<encoder::EncodeOutput>> out = Status::internal("not run");
  try {
    out = encoder.encode(inputs);
  } catch (const c10::Error& e) {
    return Status::internal(std::string("the encoder failed: ") + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return Status::internal(std::string("the encoder failed: ") + e.what());
  }
  if (!out.is_ok()) return out.status();
  std::vector<Embedding> result(out->size());
  for (size_t i = 0; i < out->size(); ++i) {
    result[i].vector = std::move((*out)[i].vector);
    result[i].truncated = (*out)[i].truncated;
  }
  return result;
}

}  // namespace vista::engine
