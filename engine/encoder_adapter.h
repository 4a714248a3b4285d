// The engine's contact points with encoder::Encoder beyond encode_items(): loading a model
// directory and turning its identity into the one collections record.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "common/status.h"
#include "engine/collection.h"

namespace vista::encoder {
class Encoder;
}  // namespace vista::encoder

namespace vista::engine {

// Loads `model_dir` with `threads` intra-op threads (0: libtorch's default) and `dtype`
// ("auto" = the encoder's default, "fp32", "bf16", "fp16", "eager") on `device` ("cpu", "cuda",
// "cuda:N"), batching at most `max_batch` inputs per forward pass (0: the device's usual batch).
// NotFound, naming the folder and scripts/fetch-model.sh, when it is missing; InvalidArgument
// for a malformed device; the encoder's Status for an unavailable one (encoder/model/device.h).
Result<std::shared_ptr<const encoder::Encoder>> load_encoder(const std::filesystem::path& model_dir,
                                                             int threads, const std::string& dtype,
                                                             const std::string& device,
                                                             int max_batch);

// The encoder's usual batch on its device (encoder::default_max_batch).
int encoder_default_batch(const encoder::Encoder& encoder);

// name = the model directory's name (for people), checkpoint_hash = the weights' fingerprint
// (what decides whether vectors are comparable; see Engine).
ModelIdentity encoder_identity(const encoder::Encoder& encoder);
int encoder_dimension(const encoder::Encoder& encoder);

}  // namespace vista::engine
