// `vista bench encoder` as a user runs it: on the golden tiny model (seconds), its report has
// every case, a measured peak, a baseline with speed-up and cosine, and errors exit with their
// documented codes.
#include <gtest/gtest.h>

#include <cstdlib>

#include <nlohmann/json.hpp>
#include <string>

#include "tests/test_support.h"

namespace {

using nlohmann::json;
using vista::testing::run_vista;

std::string tiny_model() {
  return "'" + (vista::testing::golden_dir() / "tiny-model").string() + "'";
}

TEST(BenchEncoderCli, ReportsEveryCaseAgainstPeakAndBaseline) {
  VISTA_REQUIRE_GOLDEN();
  const auto run = run_vista("bench encoder --model " + tiny_model() +
                             " --threads 1 --batch 2 --min-seconds 0.05 --json");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const json report = json::parse(run.out);
  EXPECT_EQ(report["dtype"], "fp32");
  EXPECT_EQ(report["batch"], 2);
  EXPECT_EQ(report["threads"], 1);
  EXPECT_GT(report["gemm_peak_gflops"].get<double>(), 0.0);
  EXPECT_GT(report["fp32_gemm_peak_gflops"].get<double>(), 0.0);
  EXPECT_GT(report["libtorch_linear_gflops"].get<double>(), 0.0);
  EXPECT_GT(report["load_seconds"].get<double>(), 0.0);
  EXPECT_GT(report["peak_rss_mib"].get<double>(), 0.0);
  ASSERT_EQ(report["cases"].size(), 3u);
  const char* names[] = {"image", "image+text", "short text"};
  for (size_t i = 0; i < 3; ++i) {
    const json& c = report["cases"][i];
    EXPECT_EQ(c["case"], names[i]);
    EXPECT_GT(c["ms_per_item"].get<double>(), 0.0) << c;
    EXPECT_NEAR(c["items_per_second"].get<double>() * c["ms_per_item"].get<double>(), 1000.0,
                1e-6 * 1000.0)
        << c;
    EXPECT_GT(c["gflops"].get<double>(), 0.0) << c;
    EXPECT_GE(c["calls"].get<int64_t>(), 1) << c;
    EXPECT_GT(c["speedup_vs_eager"].get<double>(), 0.0) << c;
    // fp32 is the exact mode: its vectors equal the eager reference's.
    EXPECT_GE(c["worst_cosine_vs_eager"].get<double>(), 0.99999) << c;
    EXPECT_GT(c["eager"]["ms_per_item"].get<double>(), 0.0) << c;
  }
  // An image with a text costs more arithmetic than the image alone, and both more than a text.
  EXPECT_GT(report["cases"][1]["gflops"].get<double>() * report["cases"][1]["ms_per_item"].get<double>(),
            report["cases"][0]["gflops"].get<double>() * report["cases"][0]["ms_per_item"].get<double>());
}

TEST(BenchEncoderCli, TableWithoutBaseline) {
  VISTA_REQUIRE_GOLDEN();
  const auto run = run_vista("bench encoder --model " + tiny_model() +
                             " --threads 1 --min-seconds 0.01 --no-baseline");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("GEMM peak"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("short text"), std::string::npos) << run.out;
  EXPECT_EQ(run.out.find("eager "), std::string::npos) << run.out;
}

TEST(BenchEncoderCli, UsageErrorsNameTheProblem) {
  // Usage errors exit 2, like every other command's (docs/cli.md).
  auto run = run_vista("bench encoder --random tiny");
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.err.find("tiny"), std::string::npos) << run.err;
  run = run_vista("bench encoder --random base --dtype fp64");
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.err.find("fp64"), std::string::npos) << run.err;
  run = run_vista("bench encoder --random base --model /some/model");
  EXPECT_EQ(run.exit_code, 2);
  run = run_vista("bench encoder --model /some/model --random-model-dir /tmp/x");
  EXPECT_EQ(run.exit_code, 2);
  run = run_vista("bench encoder --model /nonexistent/model --no-baseline");
  EXPECT_EQ(run.exit_code, 3);
  EXPECT_NE(run.err.find("fetch-model.sh"), std::string::npos) << run.err;
  // Without --model the model is $VISTA_MODEL (here: one that does not exist).
  ::setenv("VISTA_MODEL", "/nonexistent/from-env", 1);
  run = run_vista("bench encoder --min-seconds 0.01 --no-baseline");
  ::unsetenv("VISTA_MODEL");
  EXPECT_EQ(run.exit_code, 3);
  EXPECT_NE(run.err.find("/nonexistent/from-env"), std::string::npos) << run.err;
}

TEST(BenchEncoderCli, AKeptRandomModelFolderMustHoldARandomModel) {
  VISTA_REQUIRE_GOLDEN();
  // A real model's folder is refused before anything is written or timed.
  const auto run = run_vista("bench encoder --random base --random-model-dir " + tiny_model() +
                             " --no-baseline --min-seconds 0.01");
  EXPECT_EQ(run.exit_code, 4) << run.err;  // InvalidArgument (docs/cli.md)
  EXPECT_NE(run.err.find("random weights"), std::string::npos) << run.err;
}

}  // namespace
