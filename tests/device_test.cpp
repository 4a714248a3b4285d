// Device names and the checks that refuse an unavailable CUDA device (encoder/model/device.h).
#include "encoder/model/device.h"

#include <gtest/gtest.h>
#include <torch/cuda.h>

namespace vista::encoder {
namespace {

TEST(DeviceTest, ParsesCpuCudaAndOrdinals) {
  ASSERT_TRUE(parse_device("cpu").is_ok());
  EXPECT_FALSE(parse_device("cpu")->cuda);
  EXPECT_EQ(parse_device("cuda")->name(), "cuda:0");
  EXPECT_EQ(parse_device("cuda:0")->name(), "cuda:0");
  EXPECT_EQ(parse_device("cuda:12")->index, 12);
  EXPECT_EQ(parse_device("cpu")->name(), "cpu");
}

TEST(DeviceTest, RefusesOtherSpellings) {
  for (const char* bad : {"", "gpu", "CUDA", "cuda:", "cuda:-1", "cuda:x", "cuda:1:2", "cpu:0",
                          "cuda:12345"}) {
    auto parsed = parse_device(bad);
    ASSERT_FALSE(parsed.is_ok()) << bad;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(parsed.status().message().find("expected cpu, cuda or cuda:N"), std::string::npos)
        << parsed.status();
  }
}

TEST(DeviceTest, UsualBatchIsLargerOnAGpu) {
  EXPECT_EQ(default_max_batch(DeviceSpec{}), 16u);
  EXPECT_EQ(default_max_batch(DeviceSpec{true, 0}), 256u);
}

TEST(DeviceTest, CpuIsAlwaysAvailable) {
  EXPECT_TRUE(check_device(DeviceSpec{}).is_ok());
}

// Which of the two is missing is said: the build's CUDA support or a visible device.
TEST(DeviceTest, UnavailableCudaSaysWhatIsMissing) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "a CUDA device is visible here";
  Status s = check_device(DeviceSpec{true, 0});
  ASSERT_FALSE(s.is_ok());
  if (build_has_cuda()) {
    EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s;
    EXPECT_NE(s.message().find("no CUDA device is visible"), std::string::npos) << s;
  } else {
    EXPECT_EQ(s.code(), StatusCode::kUnsupported) << s;
    EXPECT_NE(s.message().find("this build of Vista has no CUDA support"), std::string::npos) << s;
  }
  EXPECT_TRUE(cuda_devices().empty());
}

TEST(DeviceTest, OrdinalPastTheLastDeviceIsNamed) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible";
  const int count = static_cast<int>(torch::cuda::device_count());
  Status s = check_device(DeviceSpec{true, count});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("does not exist"), std::string::npos) << s;
  EXPECT_EQ(static_cast<int>(cuda_devices().size()), count);
  EXPECT_FALSE(cuda_devices().front().name.empty());
}

}  // namespace
}  // namespace vista::encoder
