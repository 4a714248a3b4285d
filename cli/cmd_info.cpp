// `vista info`: version, build and the compute paths this process will use.
#include <nlohmann/json.hpp>

#include <iostream>

#include "cli/command.h"
#include "common/version.h"
#include "encoder/model/compute_info.h"
#include "encoder/model/device.h"
#include "encoder/model/layers.h"

namespace {

vista::cli::CommandRunner setup_info(CLI::App& sub) {
  auto as_json = std::make_shared<bool>(false);
  sub.add_flag("--json", *as_json, "print one JSON object");
  return [as_json]() {
    auto info = vista::encoder::detect_compute_info();
    const bool cuda_build = vista::encoder::build_has_cuda();
    const auto gpus = vista::encoder::cuda_devices();
    nlohmann::json devices = nlohmann::json::array();
    for (const auto& d : gpus) {
      devices.push_back({{"device", "cuda:" + std::to_string(d.index)},
                         {"name", d.name},
                         {"memory_bytes", d.memory_bytes},
                         {"compute_capability", std::to_string(d.compute_major) + "." +
                                                    std::to_string(d.compute_minor)}});
    }
    nlohmann::json j = {
        {"version", vista::kVersion},
        {"build_type", vista::kBuildType},
        {"torch_version", info.torch_version},
        {"onednn_available", info.mkldnn_available},
        {"onednn_enabled", info.mkldnn_enabled},
        {"onednn_path_built", vista::encoder::onednn_built()},
        {"cuda_build", cuda_build},
        {"cuda_devices", devices},
        {"blas_library", info.blas_library},
        {"reference_blas", vista::encoder::is_reference_blas(info.blas_library)},
        {"cpu", {{"avx2", info.avx2}, {"avx512f", info.avx512f}, {"avx512_bf16", info.avx512_bf16},
                 {"amx_tile", info.amx_tile}, {"amx_bf16", info.amx_bf16}, {"amx_int8", info.amx_int8}}},
        {"intra_op_threads", info.intra_op_threads},
        {"hardware_threads", info.hardware_threads},
    };
    if (*as_json) {
      std::cout << j.dump() << "\n";
      return 0;
    }
    auto yes = [](bool b) { return b ? "yes" : "no"; };
    std::cout << "vista " << vista::kVersion << " (" << vista::kBuildType << ")\n"
              << "libtorch          " << info.torch_version << "\n"
              << "oneDNN            " << (info.mkldnn_enabled ? "on" : "off")
              << (info.mkldnn_available ? "" : " (not built in)") << "\n"
              << "BLAS              " << info.blas_library
              << (vista::encoder::is_reference_blas(info.blas_library)
                      ? "  (reference BLAS: slow; install libopenblas0-openmp)"
                      : "")
              << "\n"
              << "CPU               avx2 " << yes(info.avx2) << ", avx512f " << yes(info.avx512f)
              << ", avx512_bf16 " << yes(info.avx512_bf16) << ", amx_tile " << yes(info.amx_tile)
              << ", amx_bf16 " << yes(info.amx_bf16) << ", amx_int8 " << yes(info.amx_int8) << "\n"
              << "threads           " << info.intra_op_threads << " intra-op of "
              << info.hardware_threads << " hardware\n";
    std::cout << "CUDA              ";
    if (!cuda_build) {
      std::cout << "none: this build has no CUDA support (README, \"GPU build\")\n";
    } else if (gpus.empty()) {
      std::cout << "built in, but no CUDA device is visible\n";
    } else {
      for (size_t i = 0; i < gpus.size(); ++i) {
        const auto& d = gpus[i];
        std::cout << (i ? "                  " : "") << "cuda:" << d.index << " " << d.name << ", "
                  << (d.memory_bytes >> 20) << " MiB, compute capability " << d.compute_major
                  << "." << d.compute_minor << "\n";
      }
    }
    return 0;
  };
}

}  // namespace

VISTA_REGISTER_COMMAND(info, "info", "Print version, build type and active compute paths", setup_info);
