// What compute paths this process will use for the network, so users and logs can tell a fast
// build from one that silently runs on the reference BLAS.
#pragma once

#include <string>

namespace vista::encoder {

struct ComputeInfo {
  std::string torch_version;
  bool mkldnn_available = false;  // libtorch was built with oneDNN (MKL-DNN)
  bool mkldnn_enabled = false;    // ...and it is switched on for this process
  std::string blas_library;       // the BLAS shared object mapped into this process
  bool avx2 = false;
  bool avx512f = false;
  bool avx512_bf16 = false;
  bool amx_tile = false;
  bool amx_bf16 = false;
  bool amx_int8 = false;
  int intra_op_threads = 0;
  int hardware_threads = 0;
};

// Reads libtorch's build and runtime state plus CPUID. Cheap; thread-safe.
ComputeInfo detect_compute_info();

// True when `blas_library` names the unoptimised reference BLAS (libblas.so.3 from netlib).
bool is_reference_blas(const std::string& blas_library);

}  // namespace vista::encoder
