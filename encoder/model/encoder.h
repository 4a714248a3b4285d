// The Visualized-BGE encoder as the rest of Vista sees it: load a model directory once, then turn
// texts, images and image+text pairs into L2-normalised vectors, alone or in mixed batches.
//
// Thread-safety: load() is the only mutating step. The returned Encoder is immutable and shared
// read-only; any number of threads may call encode() at once. libtorch's intra-op thread count is
// process-wide: load() sets it, and every encode() call, from whatever thread, uses that many.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "encoder/image/preprocess.h"
#include "encoder/model/compute_mode.h"
#include "encoder/model/device.h"
#include "encoder/model/model_config.h"

namespace vista::encoder {

class Tokenizer;
class VisualizedBgeImpl;

struct EncoderOptions {
  // kFp32 (default): exact, oneDNN products (on CUDA: TF32 off). kBf16: faster, cosine to fp32
  // >= 0.999. kFp16: CUDA only, like bf16. kEager: plain libtorch, the reference's op sequence
  // (a baseline for benchmarks).
  ComputeMode mode = ComputeMode::kFp32;
  // Where the network runs. A CUDA device is checked at load (check_device()): never a silent
  // fall-back to the CPU. The weights are uploaded once; each forward pass runs on the device.
  DeviceSpec device;
  // Intra-op threads (libtorch and oneDNN) for the whole process; 0 means every hardware thread
  // (libtorch's own default counts physical cores only, which leaves half of a 2-vCPU machine
  // idle).
  int threads = 0;
  // Most inputs per forward pass; larger batches are split (bounds memory, not results).
  // default_max_batch() gives the usual value for a device.
  size_t max_batch = 16;
};

// One input: text alone, image alone, or both (the text then describes or modifies the image).
struct EncodeInput {
  std::optional<std::string> text;  // UTF-8
  // An image_size x image_size RGB crop, as load_crop(file, encoder.image_size()) makes it.
  std::optional<RgbImage> image;
};

struct EncodeOutput {
  std::vector<float> vector;  // dim() floats, unit length
  bool truncated = false;     // the text was cut to fit (see Encoder::max_text_tokens*)
};

class Encoder {
 public:
  // Reads `model_dir`: config.json, vocab.txt, the weights (model.safetensors, else the one
  // *.pth file) and the optional eva_vision_config.json (else EVA02-CLIP-B-16). A missing or
  // incomplete directory fails with NotFound naming every missing file and how to fetch the model
  // (scripts/fetch-model.sh); bad files fail with the config, tokenizer or checkpoint reader's
  // Status (which names the file and key at fault).
  static Result<std::shared_ptr<const Encoder>> load(const std::filesystem::path& model_dir,
                                                     const EncoderOptions& options = {});

  ~Encoder();
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;

  // Encodes every input, in order. Inputs are grouped internally (texts alone, inputs with an
  // image), sorted by length and padded into batches of at most max_batch: the vectors equal
  // those of one-by-one calls up to float rounding. Texts are truncated to max_text_tokens()
  // alone and max_text_tokens_with_image() with an image, keeping [SEP] last; the output says
  // so. Fails with InvalidArgument, naming the input's index, for an input with neither text nor
  // image, invalid UTF-8, or an image that is not an image_size() square crop; then no output
  // is returned for any input.
  Result<std::vector<EncodeOutput>> encode(const std::vector<EncodeInput>& batch) const;
  Result<EncodeOutput> encode(const EncodeInput& input) const;

  int dim() const;
  int image_size() const;
  int max_text_tokens() const;             // 512 for the base model
  int max_text_tokens_with_image() const;  // 316 for the base model
  const ModelConfig& config() const;
  ComputeMode mode() const { return options_.mode; }
  const DeviceSpec& device() const { return options_.device; }

  // The directory's name, e.g. "bge-visualized-base-en-v1.5".
  const std::string& model_name() const { return model_name_; }
  // "<model_name>@<16 hex digits>": the digits hash every tensor's name, shape, dtype and bytes,
  // so the same weights give the same id whichever file format holds them, and any change to a
  // weight changes it. Stored vectors are only comparable under the same id.
  const std::string& model_id() const { return model_id_; }
  // Seconds load() took (reading, checking, preparing the weights).
  double load_seconds() const { return load_seconds_; }

 private:
  Encoder() = default;

  Status encode_texts(const std::vector<EncodeInput>& batch, std::vector<size_t> indices,
                      std::vector<EncodeOutput>* out) const;
  Status encode_with_images(const std::vector<EncodeInput>& batch, std::vector<size_t> indices,
                            std::vector<EncodeOutput>* out) const;

  struct PixelUpload;

  EncoderOptions options_;
  std::shared_ptr<VisualizedBgeImpl> model_;
  // On a CUDA device: how crops reach it (see encoder.cpp); null on the CPU.
  std::shared_ptr<const PixelUpload> upload_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::string model_name_;
  std::string model_id_;
  double load_seconds_ = 0;
};

}  // namespace vista::encoder
