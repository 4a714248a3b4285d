// `vista embed` and `vista compare` as a user runs them, on the golden tiny model.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "tests/golden_model.h"
#include "tests/test_support.h"

namespace vista {
namespace {

using vista::testing::golden_dir;
using vista::testing::read_json_file;
using vista::testing::tiny_model_dir;

using vista::testing::run_vista;

std::string quoted(const std::filesystem::path& p) {
  return "'" + p.string() + "'";
}

class EmbedCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    VISTA_REQUIRE_GOLDEN();
    VISTA_REQUIRE_VISTA_BINARY();
  }
  std::string model_arg() const { return "--model " + quoted(tiny_model_dir()) + " --threads 1"; }
};

TEST_F(EmbedCliTest, TextPrintsOneJsonLineMatchingTheReference) {
  auto run = run_vista("embed " + model_arg() + " --text 'blue whale'");
  ASSERT_EQ(run.exit_code, 0) << run.out;
  ASSERT_EQ(std::count(run.out.begin(), run.out.end(), '\n'), 1) << run.out;
  auto j = nlohmann::ordered_json::parse(run.out);
  EXPECT_EQ(j.begin().key(), "vector");  // {"vector": [...], "dim": N, "truncated": false}
  EXPECT_EQ(j["dim"], 96);
  EXPECT_EQ(j["truncated"], false);
  auto golden = read_json_file(golden_dir() / "golden.json");
  for (const auto& entry : golden["texts"]) {
    if (entry["text"] == "blue whale") {
      EXPECT_GE(vista::testing::cosine(j["vector"].get<std::vector<float>>(),
                                       entry["embedding"].get<std::vector<double>>()),
                0.99999);
    }
  }
}

TEST_F(EmbedCliTest, ImageWithTextMatchesTheReference) {
  auto run = run_vista("embed " + model_arg() + " --text 'blue whale' --image " +
                       quoted(golden_dir() / "images" / "datawhale01.png"));
  ASSERT_EQ(run.exit_code, 0) << run.out;
  auto j = nlohmann::json::parse(run.out);
  auto golden = read_json_file(golden_dir() / "golden.json");
  for (const auto& entry : golden["images"]) {
    if (entry["image"] == "imgs/datawhale01.png") {
      EXPECT_GE(vista::testing::cosine(j["vector"].get<std::vector<float>>(),
                                       entry["mm"]["blue whale"].get<std::vector<double>>()),
                0.99999);
    }
  }
}

TEST_F(EmbedCliTest, BatchPrintsOneLinePerInputInOrderAndReportsFailures) {
  vista::testing::TempDir dir;
  const auto batch = dir.path() / "batch.jsonl";
  std::ofstream(batch) << "{\"text\": \"blue whale\"}\n"
                       << "\n"
                       << "{\"image\": \"" << (golden_dir() / "images" / "query.png").string()
                       << "\"}\n"
                       << "{\"image\": \"" << (dir.path() / "missing.png").string() << "\"}\n"
                       << "not json\n"
                       << "{\"text\": \"a dragon\", \"image\": \""
                       << (golden_dir() / "images" / "dragon02.png").string() << "\"}\n";
  auto run = run_vista("embed " + model_arg() + " --batch " + quoted(batch));
  EXPECT_EQ(run.exit_code, 1) << run.out;  // some inputs failed
  std::istringstream lines(run.out);
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(lines, line);) out.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(out.size(), 5u) << run.out;
  EXPECT_EQ(out[0]["dim"], 96);
  EXPECT_EQ(out[1]["dim"], 96);
  EXPECT_EQ(out[2]["line"], 4);
  EXPECT_NE(out[2]["error"].get<std::string>().find("missing.png"), std::string::npos);
  EXPECT_EQ(out[3]["line"], 5);
  EXPECT_EQ(out[4]["dim"], 96);

  // Batched, the text gets the reference's vector as it does alone.
  auto golden = read_json_file(golden_dir() / "golden.json");
  for (const auto& entry : golden["texts"]) {
    if (entry["text"] == "blue whale") {
      EXPECT_GE(vista::testing::cosine(out[0]["vector"].get<std::vector<float>>(),
                                       entry["embedding"].get<std::vector<double>>()),
                0.99999);
    }
  }
}

TEST_F(EmbedCliTest, UsageAndModelErrors) {
  EXPECT_EQ(run_vista("embed " + model_arg()).exit_code, 2);
  vista::testing::TempDir dir;
  EXPECT_EQ(run_vista("embed --model " + quoted(dir.path()) + " --text x").exit_code, 3);
}

// `--device cuda` where CUDA cannot run: a clear error naming what is missing (the build's CUDA
// support, or a visible device), exit 4 as for other unsupported requests, nothing on stdout.
TEST_F(EmbedCliTest, CudaWhereItCannotRunIsAClearError) {
  auto info = run_vista("info --json");
  ASSERT_EQ(info.exit_code, 0) << info.err;
  auto j = nlohmann::json::parse(info.out);
  if (!j["cuda_devices"].empty()) GTEST_SKIP() << "a CUDA device is visible here";
  auto run = run_vista("embed " + model_arg() + " --device cuda --text 'blue whale'");
  EXPECT_EQ(run.exit_code, 4) << run.err;
  EXPECT_TRUE(run.out.empty()) << run.out;
  const std::string expected = j["cuda_build"].get<bool>() ? "no CUDA device is visible"
                                                            : "this build of Vista has no CUDA support";
  EXPECT_NE(run.err.find("error: device cuda:0 requested, but " + expected), std::string::npos)
      << run.err;
  EXPECT_NE(run.err.find("--device cpu"), std::string::npos) << run.err;
}

TEST_F(EmbedCliTest, MalformedDeviceIsAUsageError) {
  auto run = run_vista("embed " + model_arg() + " --device gpu --text 'blue whale'");
  EXPECT_EQ(run.exit_code, 2) << run.err;
  EXPECT_NE(run.err.find("expected cpu, cuda or cuda:N"), std::string::npos) << run.err;
}

TEST_F(EmbedCliTest, InfoReportsCuda) {
  auto run = run_vista("info");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("CUDA  "), std::string::npos) << run.out;
  auto j = nlohmann::json::parse(run_vista("info --json").out);
  ASSERT_TRUE(j.contains("cuda_build"));
  ASSERT_TRUE(j["cuda_devices"].is_array());
  if (!j["cuda_build"].get<bool>()) {
    EXPECT_NE(run.out.find("this build has no CUDA support"), std::string::npos) << run.out;
    EXPECT_TRUE(j["cuda_devices"].empty());
  }
}

TEST_F(EmbedCliTest, CompareShowsTheDemoTable) {
  const auto a = golden_dir() / "images" / "datawhale01.png";
  const auto b = golden_dir() / "images" / "datawhale02.png";
  auto run = run_vista("compare " + model_arg() + " --image " + quoted(a) + " --image " +
                       quoted(b) + " --text 'blue whale'");
  ASSERT_EQ(run.exit_code, 0) << run.out;
  for (const char* row : {"image A . image B", "(A+T) . image A", "(A+T) . text T", "(A+T) . (B+T)",
                          "vector dimension 96"}) {
    EXPECT_NE(run.out.find(row), std::string::npos) << row << "\n" << run.out;
  }
  auto json = run_vista("compare " + model_arg() + " --image " + quoted(a) + " --image " +
                        quoted(b) + " --text 'blue whale' --json");
  ASSERT_EQ(json.exit_code, 0);
  auto j = nlohmann::json::parse(json.out);
  // The reference's vectors for these inputs give the same similarities.
  auto golden = read_json_file(golden_dir() / "golden.json");
  std::map<std::string, std::vector<double>> v;
  for (const auto& entry : golden["images"]) {
    if (entry["image"] == "imgs/datawhale01.png") {
      v["a"] = entry["image_only"].get<std::vector<double>>();
      v["at"] = entry["mm"]["blue whale"].get<std::vector<double>>();
    }
    if (entry["image"] == "imgs/datawhale02.png") {
      v["b"] = entry["image_only"].get<std::vector<double>>();
      v["bt"] = entry["mm"]["blue whale"].get<std::vector<double>>();
    }
  }
  auto dot = [](const std::vector<double>& x, const std::vector<double>& y) {
    double s = 0;
    for (size_t i = 0; i < x.size(); ++i) s += x[i] * y[i];
    return s;
  };
  EXPECT_NEAR(j["image_a_image_b"].get<double>(), dot(v["a"], v["b"]), 1e-4);
  EXPECT_NEAR(j["a_text_image_a"].get<double>(), dot(v["at"], v["a"]), 1e-4);
  EXPECT_NEAR(j["a_text_b_text"].get<double>(), dot(v["at"], v["bt"]), 1e-4);
  EXPECT_EQ(j["dim"], 96);
}

}  // namespace
}  // namespace vista
