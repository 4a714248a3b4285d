// The encoder's --device and --dtype options, shared by every command that loads the model
// (embed, search, ingest, serve, bench encoder).
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "encoder/model/device.h"

namespace vista::cli {

// `--device cpu|cuda|cuda:N`: a malformed value is a usage error (exit 2) naming the accepted
// spellings; whether the device is available is checked when the model loads.
inline CLI::Validator device_validator() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        auto parsed = encoder::parse_device(value);
        return parsed.is_ok() ? std::string() : parsed.status().message();
      },
      "cpu|cuda|cuda:N");
}

inline CLI::Option* add_device_option(CLI::App& sub, std::string& device) {
  return sub
      .add_option("--device", device,
                  "where the encoder runs: cpu, cuda or cuda:N (a build against a CUDA libtorch "
                  "on a machine with an NVIDIA GPU)")
      ->check(device_validator())
      ->capture_default_str();
}

// "fp32", "bf16", "fp16" (CUDA only) or "eager", plus "auto" where the command offers it.
inline constexpr const char* kDtypeHelp = "encoder compute path: auto, fp32, bf16, fp16 (CUDA) or eager";

}  // namespace vista::cli
