#include "encoder/checkpoint/checkpoint.h"

#include <cctype>

#include "encoder/checkpoint/file_probe.h"

namespace vista::encoder {

Checkpoint::Checkpoint(std::string format,
                       std::vector<std::pair<std::string, torch::Tensor>> tensors,
                       std::unordered_map<std::string, size_t> index)
    : format_(std::move(format)), tensors_(std::move(tensors)), index_(std::move(index)) {}

Result<Checkpoint> Checkpoint::from_tensors(
    std::string format, std::vector<std::pair<std::string, torch::Tensor>> tensors) {
  std::unordered_map<std::string, size_t> index;
  index.reserve(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, tensor] = tensors[i];
    if (name.empty()) return Status::invalid_argument("checkpoint tensor with an empty name");
    if (!tensor.defined())
      return Status::invalid_argument("checkpoint tensor '" + name + "' is undefined");
    if (!tensor.device().is_cpu()) {
      return Status::invalid_argument("checkpoint tensor '" + name + "' is not on the CPU");
    }
    if (!index.emplace(name, i).second) {
      return Status::invalid_argument("checkpoint tensor name '" + name + "' appears twice");
    }
  }
  return Checkpoint(std::move(format), std::move(tensors), std::move(index));
}

const torch::Tensor* Checkpoint::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second].second;
}

int64_t Checkpoint::parameter_count() const {
  int64_t n = 0;
  for (const auto& entry : tensors_) n += entry.second.numel();
  return n;
}

Result<Checkpoint> read_checkpoint(const std::filesystem::path& file) {
  VISTA_ASSIGN_OR_RETURN(auto probe, detail::probe_file(file));
  const std::string& head = probe.head;
  if (head.size() >= 4 && head.compare(0, 4, "PK\x03\x04", 4) == 0) return read_pth(file);
  if (head.size() >= 9 && head[8] == '{') {
    uint64_t header_size = 0;
    for (int i = 0; i < 8; ++i) {
      header_size |= static_cast<uint64_t>(static_cast<uint8_t>(head[i])) << (8 * i);
    }
    if (header_size <= probe.size - 8) return read_safetensors(file);
  }
  // torch.save before 1.6 wrote a bare pickle stream (starting with PROTO 2) or a tar file.
  if (head.size() >= 2 && static_cast<uint8_t>(head[0]) == 0x80 && head[1] == 0x02) {
    return Status::unsupported(file.string() +
                               ": legacy (pre-1.6) torch.save format; re-save it with a current "
                               "torch.save, or convert it to safetensors");
  }
  return Status::corruption(file.string() +
                            ": neither a torch.save zip archive (.pth) nor a safetensors file");
}

std::string torch_dtype_name(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kFloat32: return "torch.float32";
    case torch::kFloat64: return "torch.float64";
    case torch::kFloat16: return "torch.float16";
    case torch::kBFloat16: return "torch.bfloat16";
    case torch::kInt64: return "torch.int64";
    case torch::kInt32: return "torch.int32";
    case torch::kInt16: return "torch.int16";
    case torch::kInt8: return "torch.int8";
    case torch::kUInt8: return "torch.uint8";
    case torch::kBool: return "torch.bool";
    case torch::kComplexHalf: return "torch.complex32";
    case torch::kComplexFloat: return "torch.complex64";
    case torch::kComplexDouble: return "torch.complex128";
    default: break;
  }
  std::string name = c10::toString(dtype);
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return "torch." + name;
}

}  // namespace vista::encoder
