#include "encoder/model/device.h"

#include <torch/cuda.h>
#include <torch/version.h>

#include <cctype>

#ifdef VISTA_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace vista::encoder {

std::string DeviceSpec::name() const {
  return cuda ? "cuda:" + std::to_string(index) : "cpu";
}

Result<DeviceSpec> parse_device(const std::string& text) {
  if (text == "cpu") return DeviceSpec{};
  if (text == "cuda") return DeviceSpec{true, 0};
  const std::string prefix = "cuda:";
  if (text.rfind(prefix, 0) == 0 && text.size() > prefix.size() && text.size() <= prefix.size() + 3) {
    int index = 0;
    for (size_t i = prefix.size(); i < text.size(); ++i) {
      if (!std::isdigit(static_cast<unsigned char>(text[i]))) {
        index = -1;
        break;
      }
      index = index * 10 + (text[i] - '0');
    }
    if (index >= 0) return DeviceSpec{true, index};
  }
  return Status::invalid_argument("unknown device '" + text +
                                  "' (expected cpu, cuda or cuda:N, e.g. cuda:1)");
}

size_t default_max_batch(const DeviceSpec& device) {
  return device.cuda ? 256 : 16;
}

bool build_has_cuda() {
#ifdef VISTA_WITH_CUDA
  return true;
#else
  return false;
#endif
}

std::vector<CudaDeviceInfo> cuda_devices() {
  std::vector<CudaDeviceInfo> out;
  if (!torch::cuda::is_available()) return out;
  const int count = static_cast<int>(torch::cuda::device_count());
  for (int i = 0; i < count; ++i) {
    CudaDeviceInfo info;
    info.index = i;
#ifdef VISTA_WITH_CUDA
    const auto* properties = at::cuda::getDeviceProperties(i);
    info.name = properties->name;
    info.memory_bytes = static_cast<int64_t>(properties->totalGlobalMem);
    info.compute_major = properties->major;
    info.compute_minor = properties->minor;
#endif
    out.push_back(std::move(info));
  }
  return out;
}

Status check_device(const DeviceSpec& device) {
  if (!device.cuda) return Status::ok();
  if (!build_has_cuda()) {
    return Status::unsupported(
        "device " + device.name() + " requested, but this build of Vista has no CUDA support (it "
        "is linked against a CPU-only libtorch " TORCH_VERSION "); build it against a CUDA "
        "libtorch (README, \"GPU build\") or use --device cpu");
  }
  const int count = torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
  if (count == 0) {
    return Status::failed_precondition(
        "device " + device.name() + " requested, but no CUDA device is visible to this process "
        "(this build supports CUDA; check nvidia-smi, the driver and CUDA_VISIBLE_DEVICES) or use "
        "--device cpu");
  }
  if (device.index >= count) {
    return Status::invalid_argument("device " + device.name() + " does not exist: " +
                                    std::to_string(count) + " CUDA device" +
                                    (count == 1 ? " is" : "s are") + " visible (cuda:0" +
                                    (count > 1 ? " to cuda:" + std::to_string(count - 1) : "") +
                                    ")");
  }
  return Status::ok();
}

}  // namespace vista::encoder
