#include "encoder/model/compute_info.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <cpuid.h>
#include <torch/version.h>

#include <fstream>
#include <string>
#include <thread>

namespace vista::encoder {
namespace {

// The real path of each BLAS-like library mapped into this process.
std::string mapped_blas_library() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  std::string found;
  while (std::getline(maps, line)) {
    auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    std::string path = line.substr(slash);
    auto base = path.substr(path.rfind('/') + 1);
    bool is_blas = base.rfind("libblas", 0) == 0 || base.rfind("libopenblas", 0) == 0 ||
                   base.rfind("libmkl_rt", 0) == 0 || base.rfind("libblis", 0) == 0;
    if (is_blas && found.find(path) == std::string::npos) {
      if (!found.empty()) found += ", ";
      found += path;
    }
  }
  return found.empty() ? "none mapped" : found;
}

}  // namespace

bool is_reference_blas(const std::string& blas_library) {
  return blas_library.find("/blas/libblas") != std::string::npos;
}

ComputeInfo detect_compute_info() {
  ComputeInfo info;
  info.torch_version = TORCH_VERSION;
  info.mkldnn_available = at::hasMKLDNN();
  info.mkldnn_enabled = info.mkldnn_available && at::globalContext().userEnabledMkldnn();
  info.blas_library = mapped_blas_library();
  info.intra_op_threads = at::get_num_threads();
  info.hardware_threads = static_cast<int>(std::thread::hardware_concurrency());

  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) {
    info.avx2 = (ebx >> 5) & 1;
    info.avx512f = (ebx >> 16) & 1;
    info.amx_bf16 = (edx >> 22) & 1;
    info.amx_tile = (edx >> 24) & 1;
    info.amx_int8 = (edx >> 25) & 1;
  }
  if (__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) info.avx512_bf16 = (eax >> 5) & 1;
  return info;
}

}  // namespace vista::encoder
