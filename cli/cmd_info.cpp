// `vista info`: version, build and the compute paths this process will use.
#include <nlohmann/json.hpp>

#include <iostream>

#include "cli/command.h"
#include "common/version.h"
#include "encoder/model/compute_info.h"

namespace {

vista::cli::CommandRunner setup_info(CLI::App& sub) {
  auto as_json = std::make_shared<bool>(false);
  sub.add_flag("--json", *as_json, "print one JSON object");
  return [as_json]() {
    auto info = vista::encoder::detect_compute_info();
    nlohmann::json j = {
        {"version", vista::kVersion},
        {"build_type", vista::kBuildType},
        {"torch_version", info.torch_version},
        {"onednn_available", info.mkldnn_available},
        {"onednn_enabled", info.mkldnn_enabled},
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
    return 0;
  };
}

}  // namespace

VISTA_REGISTER_COMMAND(info, "info", "Print version, build type and active compute paths", setup_info);
