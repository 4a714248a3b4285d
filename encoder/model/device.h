// Where the encoder computes: the CPU, or one CUDA device of a build linked against a CUDA
// libtorch. Parsing and checking live here so that every command, the server config and the
// benchmarks accept the same spellings and refuse an unavailable device with the same message.
//
// Thread-safety: every function is safe to call from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace vista::encoder {

struct DeviceSpec {
  bool cuda = false;
  int index = 0;  // the CUDA ordinal; 0 for the CPU

  // "cpu" or "cuda:N".
  std::string name() const;
  bool operator==(const DeviceSpec& other) const {
    return cuda == other.cuda && index == other.index;
  }
};

// "cpu", "cuda" (= cuda:0) or "cuda:N"; anything else is InvalidArgument.
Result<DeviceSpec> parse_device(const std::string& text);

// True when this binary was built against a libtorch with CUDA support.
bool build_has_cuda();

struct CudaDeviceInfo {
  int index = 0;
  std::string name;           // e.g. "NVIDIA H200"
  int64_t memory_bytes = 0;   // total device memory
  int compute_major = 0;      // compute capability, e.g. 9.0 for Hopper
  int compute_minor = 0;
};

// The CUDA devices this process sees; empty on a CPU-only build or when none is visible.
std::vector<CudaDeviceInfo> cuda_devices();

// The usual number of inputs per forward pass: 16 on the CPU (larger batches are no faster
// there), 256 on a CUDA device (a GPU needs a few hundred images in flight to be busy).
size_t default_max_batch(const DeviceSpec& device);

// OK when `device` can run the encoder here. Never falls back to another device: a CUDA request
// on a build without CUDA is Unsupported ("this build has no CUDA support ..."), one on a CUDA
// build that sees no device is FailedPrecondition ("no CUDA device is visible ..."), and an
// ordinal past the last visible device is InvalidArgument naming how many there are.
Status check_device(const DeviceSpec& device);

}  // namespace vista::encoder
