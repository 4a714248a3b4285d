// Reading model weights files (PyTorch `torch.save` state dicts and safetensors) without Python.
//
// The reader is neutral: it returns every named tensor the file holds, in file order, and leaves
// deciding which names a network needs (missing, unexpected, ignorable keys, shapes) to the model
// loader. Nothing in a weights file is executed: the .pth pickle is interpreted by a strict
// allow-list (see pickle_reader.h), anything outside it is rejected.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/status.h"

namespace vista::encoder {

// Named tensors from a weights file, in file order. Tensors are CPU, contiguous or views sharing
// storages exactly as stored (offset/stride honoured). Immutable after load: callers must copy a
// tensor before modifying it (safetensors tensors alias a private, copy-on-write mapping of the
// file; .pth views alias one storage per record, so an in-place write would show through every
// view of it). All const methods are safe to call concurrently.
class Checkpoint {
 public:
  Checkpoint() = default;  // empty, format ""

  // Builds a checkpoint from tensors made elsewhere (tests, conversions). Fails with
  // InvalidArgument when a name repeats, a name is empty or a tensor is undefined or not on CPU.
  static Result<Checkpoint> from_tensors(
      std::string format, std::vector<std::pair<std::string, torch::Tensor>> tensors);

  const std::vector<std::pair<std::string, torch::Tensor>>& tensors() const { return tensors_; }
  size_t size() const { return tensors_.size(); }
  bool empty() const { return tensors_.empty(); }

  // The tensor stored under `name`, or nullptr when absent. The pointer lives as long as *this.
  const torch::Tensor* find(const std::string& name) const;

  // Sum of numel() over all named tensors: every element the file declares, buffers included (for
  // the base Visualized-BGE file the rope buffers add 326,144 to the 196,335,873 the network
  // counts as parameters). Views of a shared storage count once per name.
  int64_t parameter_count() const;

  // "pth" or "safetensors" for files read here; whatever from_tensors() was given otherwise.
  std::string format() const { return format_; }

 private:
  Checkpoint(std::string format, std::vector<std::pair<std::string, torch::Tensor>> tensors,
             std::unordered_map<std::string, size_t> index);

  std::string format_;
  std::vector<std::pair<std::string, torch::Tensor>> tensors_;
  std::unordered_map<std::string, size_t> index_;
};

// Detects the format by content, not by file name: a zip (local-header magic "PK\3\4") is read as
// .pth, an 8-byte little-endian header length followed by a JSON object as safetensors.
// Failure: NotFound (no such file), IOError (unreadable), Corruption (empty, truncated, damaged,
// malformed), Unsupported (well-formed but outside what is read: legacy pre-1.6 .pth, an unknown
// pickle opcode or global, a dtype libtorch 1.13 lacks). Messages name the file and the record,
// key or byte offset at fault.
Result<Checkpoint> read_checkpoint(const std::filesystem::path& file);

// A `torch.save` zip archive holding a state dict (`<root>/data.pkl` + `<root>/data/<key>`).
// Each storage record is read once (one read, CRC-checked) and shared by all views of it.
Result<Checkpoint> read_pth(const std::filesystem::path& file);

// A safetensors file, memory-mapped: no tensor data is read or copied here; the mapping lives as
// long as any tensor from it.
Result<Checkpoint> read_safetensors(const std::filesystem::path& file);

// Python's spelling of a dtype, as torch prints it: "torch.float32", "torch.bfloat16", ...
std::string torch_dtype_name(torch::ScalarType dtype);

}  // namespace vista::encoder
