#include "encoder/model/random_model.h"

#include <torch/torch.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "encoder/model/model_config.h"
#include "encoder/model/visualized_bge.h"

namespace vista::encoder {
namespace {

namespace fs = std::filesystem;

constexpr int kBertVocabSize = 30522;

const char* safetensors_dtype(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return "F32";
    case torch::kFloat16: return "F16";
    case torch::kBFloat16: return "BF16";
    case torch::kInt64: return "I64";
    case torch::kInt32: return "I32";
    default: return nullptr;
  }
}

// BERT-uncased's layout: [PAD] 0, [unused0..98] 1-99, [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103,
// then pieces. Words are what benchmark texts and captions commonly use.
std::string stand_in_vocab() {
  std::vector<std::string> tokens{"[PAD]"};
  for (int i = 0; i < 99; ++i) tokens.push_back("[unused" + std::to_string(i) + "]");
  for (const char* s : {"[UNK]", "[CLS]", "[SEP]", "[MASK]"}) tokens.emplace_back(s);
  std::set<std::string> seen(tokens.begin(), tokens.end());
  auto add = [&](const std::string& t) {
    if (seen.insert(t).second) tokens.push_back(t);
  };
  for (char c = 33; c < 127; ++c) {
    if (c >= 'A' && c <= 'Z') continue;  // the uncased tokenizer lowercases first
    add(std::string(1, c));
  }
  std::istringstream words(
      "a an the of in on at to and or with without over under near by for from is are was "
      "photo picture image painting drawing of red green blue yellow black white small large old "
      "young dog cat bird horse dragon car tree flower house city street beach mountain mountains "
      "river sea sky cloud sunset night day people person man woman child flying running sitting "
      "standing walking sleeping eating playing looking water snow grass field forest road bridge "
      "boat train plane window door table chair book phone computer food fruit apple orange "
      "coffee cup glass wall floor light color colors bright dark happy two three many some this "
      "that it its his her their very");
  for (std::string w; words >> w;) add(w);
  for (char c = 'a'; c <= 'z'; ++c) add(std::string("##") + c);
  for (char c = '0'; c <= '9'; ++c) add(std::string("##") + c);
  for (int i = 99; static_cast<int>(tokens.size()) < kBertVocabSize; ++i) {
    add("[unused" + std::to_string(i) + "]");
  }
  std::string text;
  for (const auto& t : tokens) text += t + "\n";
  return text;
}

Status write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) return Status::io_error("cannot write " + path.string());
  return Status::ok();
}

Status write_weights(const fs::path& dir) {
  VISTA_ASSIGN_OR_RETURN(auto model_config, load_model_config(dir));
  VisualizedBge model{model_config};
  randomize_weights(*model, 0);
  nlohmann::json header = nlohmann::json::object();
  uint64_t offset = 0;
  auto tensors = model->declared_tensors();
  for (auto& [name, tensor] : tensors) {
    tensor = tensor.contiguous();
    const char* dtype = safetensors_dtype(tensor.scalar_type());
    if (!dtype) return Status::internal("random model: unexpected dtype of " + name);
    const uint64_t bytes = tensor.numel() * tensor.element_size();
    header[name] = {{"dtype", dtype},
                    {"shape", tensor.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  while (text.size() % 8 != 0) text.push_back(' ');
  const fs::path path = dir / "model.safetensors";
  std::ofstream out(path, std::ios::binary);
  const uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xFF));
  out << text;
  for (const auto& [name, tensor] : tensors) {
    out.write(static_cast<const char*>(tensor.data_ptr()),
              static_cast<std::streamsize>(tensor.numel() * tensor.element_size()));
  }
  out.close();
  if (!out) return Status::io_error("cannot write " + path.string() + " (is the disk full?)");
  return Status::ok();
}

}  // namespace

void randomize_weights(VisualizedBgeImpl& model, uint64_t seed) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(seed);
  for (const auto& item : model.named_parameters()) {
    const auto& name = item.key();
    auto t = item.value();
    // The 1-D ".weight" tensors are exactly the LayerNorm scales.
    const bool norm_scale =
        t.dim() == 1 && name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0;
    if (norm_scale) {
      t.fill_(1.0);
    } else {
      t.normal_(0.0, 0.02);
    }
  }
}

Status write_random_base_model(const fs::path& dir, const fs::path& vocab) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::io_error("cannot create " + dir.string() + ": " + ec.message());
  const nlohmann::json config = {{"architectures", {"BertModel"}},
                                 {"hidden_act", "gelu"},
                                 {"hidden_size", 768},
                                 {"intermediate_size", 3072},
                                 {"layer_norm_eps", 1e-12},
                                 {"max_position_embeddings", 512},
                                 {"model_type", "bert"},
                                 {"num_attention_heads", 12},
                                 {"num_hidden_layers", 12},
                                 {"pad_token_id", 0},
                                 {"position_embedding_type", "absolute"},
                                 {"type_vocab_size", 2},
                                 {"vocab_size", kBertVocabSize},
                                 {kRandomWeightsKey, true}};
  VISTA_RETURN_IF_ERROR(write_file(dir / "config.json", config.dump(2)));
  if (vocab.empty()) {
    VISTA_RETURN_IF_ERROR(write_file(dir / "vocab.txt", stand_in_vocab()));
  } else {
    fs::copy_file(vocab, dir / "vocab.txt", fs::copy_options::overwrite_existing, ec);
    if (ec) return Status::io_error("cannot copy " + vocab.string() + ": " + ec.message());
  }
  try {
    return write_weights(dir);
  } catch (const std::exception& e) {
    return Status::internal(std::string("random model: ") + e.what());
  }
}

}  // namespace vista::encoder
