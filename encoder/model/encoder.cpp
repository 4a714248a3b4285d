#include "encoder/model/encoder.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <numeric>
#include <thread>

#include "common/logging.h"
#include "encoder/checkpoint/checkpoint.h"
#include "encoder/model/onednn.h"
#include "encoder/model/visualized_bge.h"
#include "encoder/text/tokenizer.h"

namespace vista::encoder {
namespace {

constexpr const char* kFetchHint =
    "Fetch the base model with scripts/fetch-model.sh (it downloads Visualized_base_en_v1.5.pth, "
    "config.json and vocab.txt into models/bge-visualized-base-en-v1.5/) and pass that directory";

// The weights file of a model directory: model.safetensors if present, else the only *.pth.
Result<std::filesystem::path> find_weights_file(const std::filesystem::path& dir) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(dir / "model.safetensors", ec)) {
    return dir / "model.safetensors";
  }
  std::vector<std::filesystem::path> pth;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.is_regular_file(ec) && entry.path().extension() == ".pth") {
      pth.push_back(entry.path());
    }
  }
  if (pth.size() > 1) {
    std::sort(pth.begin(), pth.end());
    return Status::invalid_argument("model directory " + dir.string() + " holds " +
                                    std::to_string(pth.size()) + " .pth files (" +
                                    pth[0].filename().string() + ", " + pth[1].filename().string() +
                                    ", ...): keep exactly one weights file");
  }
  if (pth.empty()) return Status::not_found("no weights file");
  return pth.front();
}

// NotFound listing everything a model directory lacks, or OK.
Status check_model_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return Status::not_found("model directory " + dir.string() + " does not exist. " + kFetchHint +
                             ".");
  }
  std::vector<std::string> missing;
  if (!std::filesystem::is_regular_file(dir / "config.json", ec)) {
    missing.push_back("config.json (the BERT config of BAAI/bge-base-en-v1.5)");
  }
  if (!std::filesystem::is_regular_file(dir / "vocab.txt", ec)) {
    missing.push_back("vocab.txt (the BERT vocabulary of BAAI/bge-base-en-v1.5)");
  }
  auto weights = find_weights_file(dir);
  if (!weights.is_ok()) {
    if (weights.status().code() != StatusCode::kNotFound) return weights.status();
    missing.push_back(
        "the weights (Visualized_base_en_v1.5.pth from BAAI/bge-visualized, or "
        "model.safetensors)");
  }
  if (missing.empty()) return Status::ok();
  std::string message = "model directory " + dir.string() + " is incomplete: missing ";
  for (size_t i = 0; i < missing.size(); ++i) message += (i ? ", " : "") + missing[i];
  return Status::not_found(message + ". " + kFetchHint + ".");
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

Status input_error(size_t index, const std::string& message) {
  return Status::invalid_argument("input " + std::to_string(index) + ": " + message);
}

// Rows of token ids padded with pad_id into [B, T] ids and a 0/1 mask.
std::pair<torch::Tensor, torch::Tensor> pad_ids(const std::vector<const TokenizedText*>& rows,
                                                int32_t pad_id) {
  size_t length = 0;
  for (const auto* r : rows) length = std::max(length, r->ids.size());
  const auto batch = static_cast<int64_t>(rows.size());
  auto ids = torch::full({batch, static_cast<int64_t>(length)}, pad_id, torch::kLong);
  auto mask = torch::zeros({batch, static_cast<int64_t>(length)}, torch::kLong);
  auto ids_a = ids.accessor<int64_t, 2>();
  auto mask_a = mask.accessor<int64_t, 2>();
  for (int64_t b = 0; b < batch; ++b) {
    const auto& row = rows[b]->ids;
    for (size_t t = 0; t < row.size(); ++t) {
      ids_a[b][t] = row[t];
      mask_a[b][t] = 1;
    }
  }
  return {ids, mask};
}

void store_vectors(const torch::Tensor& vectors, const std::vector<size_t>& indices,
                   std::vector<EncodeOutput>* out) {
  auto v = vectors.to(torch::kCPU, torch::kFloat32).contiguous();
  const int64_t dim = v.size(1);
  const float* data = v.data_ptr<float>();
  for (size_t i = 0; i < indices.size(); ++i) {
    (*out)[indices[i]].vector.assign(data + i * dim, data + (i + 1) * dim);
  }
}

// Forward passes already queued (on a CUDA device they run while the host prepares the next
// chunk) and the inputs whose vectors they give; read back once all are queued.
using PendingVectors = std::vector<std::pair<torch::Tensor, std::vector<size_t>>>;

void store_all(const PendingVectors& pending, std::vector<EncodeOutput>* out) {
  for (const auto& [vectors, chunk] : pending) store_vectors(vectors, chunk, out);
}

}  // namespace

// Crops reach a CUDA device as bytes (a quarter of the floats' size) copied from pinned memory
// without blocking the host, and are normalised there through a table holding normalize_to_chw's
// float arithmetic for each channel and byte value: the pixels are identical to the CPU path's.
struct Encoder::PixelUpload {
  torch::Device device;
  torch::Tensor table;    // [3 * 256] fp32 on the device
  torch::Tensor offsets;  // [1, 3, 1, 1] int64 on the device: 256 * channel

  explicit PixelUpload(torch::Device d) : device(d) {
    RgbImage ramp;
    ramp.width = 256;
    ramp.height = 1;
    for (int v = 0; v < 256; ++v) ramp.pixels.insert(ramp.pixels.end(), 3, static_cast<uint8_t>(v));
    auto cpu_table = torch::empty({3 * 256}, torch::kFloat32);
    normalize_to_chw(ramp, cpu_table.data_ptr<float>());
    table = cpu_table.to(device);
    offsets = (torch::arange(3, torch::kLong) * 256).view({1, 3, 1, 1}).to(device);
  }

  // crops [B, S, S, 3] uint8 in pinned memory -> [B, 3, S, S] fp32 on the device.
  torch::Tensor normalise(const torch::Tensor& crops) const {
    auto bytes = crops.to(device, /*non_blocking=*/true);
    auto index = bytes.permute({0, 3, 1, 2}).to(torch::kLong) + offsets;
    return table.take(index);
  }
};

Encoder::~Encoder() = default;

Result<std::shared_ptr<const Encoder>> Encoder::load(const std::filesystem::path& model_dir,
                                                     const EncoderOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (options.max_batch == 0) return Status::invalid_argument("max_batch must be at least 1");
  if (options.threads < 0) return Status::invalid_argument("threads must not be negative");
  VISTA_RETURN_IF_ERROR(check_device(options.device));
  const ComputeTarget target(
      options.mode,
      options.device.cuda ? torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(options.device.index))
                          : torch::Device(torch::kCPU));
  if (options.mode == ComputeMode::kFp16 && !options.device.cuda) {
    return Status::unsupported("the fp16 compute mode runs on CUDA devices only; use fp32 or bf16 "
                               "on the CPU");
  }
  if (options.mode == ComputeMode::kBf16 && target.onednn() && !onednn::bf16_supported()) {
    return Status::unsupported(
        "the bf16 compute mode needs a CPU with AVX512-BF16 or AMX; use fp32 on this machine");
  }
  VISTA_RETURN_IF_ERROR(check_model_dir(model_dir));
  const int threads = options.threads > 0
                          ? options.threads
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  at::set_num_threads(threads);

  VISTA_ASSIGN_OR_RETURN(ModelConfig config, load_model_config(model_dir));
  if (config.text.random_weights) {
    spdlog::warn("{} holds random weights (written for timing): its vectors mean nothing",
                 model_dir.string());
  }
  VISTA_ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::from_vocab_file(model_dir / "vocab.txt"));
  if (static_cast<int64_t>(tokenizer.vocab_size()) > config.text.vocab_size) {
    return Status::invalid_argument(
        (model_dir / "vocab.txt").string() + " has " + std::to_string(tokenizer.vocab_size()) +
        " tokens but config.json declares vocab_size " + std::to_string(config.text.vocab_size));
  }
  VISTA_ASSIGN_OR_RETURN(auto weights_path, find_weights_file(model_dir));
  VISTA_ASSIGN_OR_RETURN(Checkpoint checkpoint, read_checkpoint(weights_path));
  const double read_seconds = seconds_since(start);

  std::shared_ptr<Encoder> encoder(new Encoder());
  encoder->options_ = options;
  encoder->tokenizer_ = std::make_unique<Tokenizer>(std::move(tokenizer));
  auto normal = std::filesystem::absolute(model_dir).lexically_normal();
  if (!normal.has_filename()) normal = normal.parent_path();  // "models/base/"
  encoder->model_name_ = normal.filename().string();
  try {
    encoder->model_ = std::make_shared<VisualizedBgeImpl>(config);
    encoder->model_->eval();
    VISTA_RETURN_IF_ERROR(
        encoder->model_->load_weights(checkpoint.tensors(), weights_path.string()));
    encoder->model_id_ =
        encoder->model_name_ + "@" + tensors_fingerprint(encoder->model_->declared_tensors());
    if (options.device.cuda) {
      // fp32 on the GPU is exact: no TF32 in cuBLAS products or cuDNN.
      at::globalContext().setAllowTF32CuBLAS(false);
      at::globalContext().setAllowTF32CuDNN(false);
      encoder->upload_ = std::make_shared<const PixelUpload>(target.device);
    }
    encoder->model_->prepare(target);
  } catch (const c10::Error& e) {
    return Status::internal("preparing the network from " + weights_path.string() +
                            " failed: " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    // oneDNN reports through dnnl::error (e.g. a compute mode this CPU cannot run).
    return Status::internal("preparing the network from " + weights_path.string() + " for " +
                            compute_mode_name(options.mode) + " failed: " + e.what());
  }
  encoder->load_seconds_ = seconds_since(start);
  spdlog::info(
      "encoder: loaded {} ({}, {} mode on {}, {} intra-op threads) in {:.2f} s (read {:.2f} s)",
      encoder->model_id_, weights_path.filename().string(), compute_mode_name(options.mode),
      options.device.name(), at::get_num_threads(), encoder->load_seconds_, read_seconds);
  return std::shared_ptr<const Encoder>(std::move(encoder));
}

int Encoder::dim() const {
  return static_cast<int>(model_->config().dim());
}
int Encoder::image_size() const {
  return static_cast<int>(model_->config().vision.image_size);
}
int Encoder::max_text_tokens() const {
  return static_cast<int>(model_->config().max_text_tokens());
}
int Encoder::max_text_tokens_with_image() const {
  return static_cast<int>(model_->config().max_text_tokens_with_image());
}
const ModelConfig& Encoder::config() const {
  return model_->config();
}

Result<EncodeOutput> Encoder::encode(const EncodeInput& input) const {
  VISTA_ASSIGN_OR_RETURN(auto outputs, encode(std::vector<EncodeInput>{input}));
  return std::move(outputs.front());
}

Result<std::vector<EncodeOutput>> Encoder::encode(const std::vector<EncodeInput>& batch) const {
  std::vector<size_t> texts, with_images;
  const int size = image_size();
  for (size_t i = 0; i < batch.size(); ++i) {
    const auto& input = batch[i];
    if (!input.text && !input.image) return input_error(i, "has neither text nor image");
    if (input.image) {
      const auto& image = *input.image;
      if (image.width != size || image.height != size ||
          image.pixels.size() != static_cast<size_t>(size) * size * 3) {
        return input_error(i, "image must be a " + std::to_string(size) + "x" +
                                  std::to_string(size) + " RGB crop, got " +
                                  std::to_string(image.width) + "x" + std::to_string(image.height) +
                                  " with " + std::to_string(image.pixels.size()) + " bytes");
      }
      with_images.push_back(i);
    } else {
      texts.push_back(i);
    }
  }
  std::vector<EncodeOutput> out(batch.size());
  try {
    // OpenMP thread counts are per calling thread: apply the process setting to this one, once
    // per thread. (at::init_num_threads() on every call also rebuilt libtorch's thread pool:
    // ~20 ms, doubling the time of a short text.)
    at::internal::lazy_init_num_threads();
    c10::InferenceMode inference;
    VISTA_RETURN_IF_ERROR(encode_texts(batch, std::move(texts), &out));
    VISTA_RETURN_IF_ERROR(encode_with_images(batch, std::move(with_images), &out));
  } catch (const c10::Error& e) {
    return Status::internal(std::string("encoder forward pass failed: ") +
                            e.what_without_backtrace());
  } catch (const std::exception& e) {
    return Status::internal(std::string("encoder forward pass failed: ") + e.what());
  }
  return out;
}

Status Encoder::encode_texts(const std::vector<EncodeInput>& batch, std::vector<size_t> indices,
                             std::vector<EncodeOutput>* out) const {
  if (indices.empty()) return Status::ok();
  std::vector<TokenizedText> tokens(batch.size());
  for (size_t i : indices) {
    auto encoded = tokenizer_->encode(*batch[i].text, static_cast<size_t>(max_text_tokens()));
    if (!encoded.is_ok()) return input_error(i, encoded.status().message());
    tokens[i] = std::move(encoded).value();
    (*out)[i].truncated = tokens[i].truncated;
  }
  // Similar lengths share a batch, so little is spent on padding.
  std::stable_sort(indices.begin(), indices.end(),
                   [&](size_t a, size_t b) { return tokens[a].ids.size() < tokens[b].ids.size(); });
  PendingVectors pending;
  for (size_t begin = 0; begin < indices.size(); begin += options_.max_batch) {
    std::vector<size_t> chunk(
        indices.begin() + begin,
        indices.begin() + std::min(indices.size(), begin + options_.max_batch));
    std::vector<const TokenizedText*> rows;
    for (size_t i : chunk) rows.push_back(&tokens[i]);
    auto [ids, mask] = pad_ids(rows, tokenizer_->pad_id());
    pending.emplace_back(model_->encode_text(ids, mask), std::move(chunk));
  }
  store_all(pending, out);
  return Status::ok();
}

Status Encoder::encode_with_images(const std::vector<EncodeInput>& batch,
                                   std::vector<size_t> indices,
                                   std::vector<EncodeOutput>* out) const {
  if (indices.empty()) return Status::ok();
  std::vector<TokenizedText> tokens(batch.size());
  for (size_t i : indices) {
    // An image alone is the reference's empty prompt, [CLS][SEP].
    auto encoded = tokenizer_->encode(batch[i].text ? *batch[i].text : std::string(),
                                      static_cast<size_t>(max_text_tokens_with_image()));
    if (!encoded.is_ok()) return input_error(i, encoded.status().message());
    tokens[i] = std::move(encoded).value();
    (*out)[i].truncated = tokens[i].truncated;
  }
  std::stable_sort(indices.begin(), indices.end(),
                   [&](size_t a, size_t b) { return tokens[a].ids.size() < tokens[b].ids.size(); });
  const int64_t size = image_size();
  const int64_t crop_bytes = size * size * 3;
  PendingVectors pending;
  for (size_t begin = 0; begin < indices.size(); begin += options_.max_batch) {
    std::vector<size_t> chunk(
        indices.begin() + begin,
        indices.begin() + std::min(indices.size(), begin + options_.max_batch));
    const auto n = static_cast<int64_t>(chunk.size());
    std::vector<const TokenizedText*> rows;
    for (size_t i : chunk) rows.push_back(&tokens[i]);
    torch::Tensor pixels;
    if (upload_) {
      // Pinned, so that the copy to the device is asynchronous; libtorch's caching host
      // allocator keeps the block until that copy has finished.
      auto crops = torch::empty({n, size, size, 3},
                                torch::TensorOptions(torch::kUInt8).pinned_memory(true));
      uint8_t* dst = crops.data_ptr<uint8_t>();
      for (int64_t k = 0; k < n; ++k) {
        std::memcpy(dst + k * crop_bytes, batch[chunk[k]].image->pixels.data(), crop_bytes);
      }
      pixels = upload_->normalise(crops);
    } else {
      pixels = torch::empty({n, 3, size, size}, torch::kFloat32);
      float* dst = pixels.data_ptr<float>();
      for (int64_t k = 0; k < n; ++k) normalize_to_chw(*batch[chunk[k]].image, dst + k * crop_bytes);
    }
    auto [ids, mask] = pad_ids(rows, tokenizer_->pad_id());
    pending.emplace_back(model_->encode_mm(pixels, ids, mask), std::move(chunk));
  }
  store_all(pending, out);
  return Status::ok();
}

}  // namespace vista::encoder
