// How the network multiplies matrices; chosen once when a model is loaded. On a CUDA device
// (encoder/model/device.h) fp32 is exact (TF32 off), and bf16 and fp16 run every layer in that
// type on the device.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace vista::encoder {

enum class ComputeMode {
  kEager,  // plain libtorch ops exactly as the reference writes them (the baseline)
  kFp32,   // fp32 through oneDNN, weights laid out once and fused where the maths allows
  kBf16,   // weights converted to bf16 once; products in bf16, normalisations in fp32
  kFp16,   // CUDA only: weights and activations in fp16
};

// "eager", "fp32", "bf16" or "fp16".
std::string compute_mode_name(ComputeMode mode);

// Parses "fp32", "bf16", "fp16" or "eager" (the CLI's and server config's --dtype values);
// anything else is InvalidArgument.
Result<ComputeMode> parse_compute_mode(const std::string& name);

// The values of the CLI's --dtype and the server's encoder.dtype: "auto" (the encoder's
// default) and the compute mode names. The one list; option checks and messages use it.
const std::vector<std::string>& dtype_choices();
// InvalidArgument naming `what` and the choices unless `dtype` is one of dtype_choices().
Status validate_dtype(const std::string& dtype, const std::string& what);

}  // namespace vista::encoder
