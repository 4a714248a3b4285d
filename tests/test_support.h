// Shared helpers for the test suite: where the golden reference data lives, temp directories.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace vista::testing {

// The golden reference directory: $VISTA_GOLDEN_DIR, else ../shared/golden beside the checkout.
std::filesystem::path golden_dir();

// True when the CI environment variable is set (non-empty).
bool running_in_ci();

// The project's source root and build directory (for configs and the vista binary).
std::filesystem::path source_dir();
std::filesystem::path vista_binary();

// What a run of the `vista` binary printed and how it exited.
struct VistaRun {
  int exit_code = -1;  // -1: it did not exit normally
  std::string out;     // stdout
  std::string err;     // stderr
};

// Runs vista_binary() with `args`, which the caller has quoted for the shell.
VistaRun run_vista(const std::string& args);

// A fresh directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace vista::testing

// Skips the test when the golden data is missing, except under CI, where that is a failure.
#define VISTA_REQUIRE_GOLDEN()                                                              \
  do {                                                                                      \
    if (!std::filesystem::exists(::vista::testing::golden_dir() / "golden.json")) {        \
      if (::vista::testing::running_in_ci()) {                                              \
        FAIL() << "golden data missing at " << ::vista::testing::golden_dir()               \
               << " (set VISTA_GOLDEN_DIR)";                                                \
      } else {                                                                              \
        GTEST_SKIP() << "golden data missing at " << ::vista::testing::golden_dir();        \
      }                                                                                     \
    }                                                                                       \
  } while (0)

// The same rule for the vista binary that process-level tests run: a developer may run such a
// test alone before building it (skip); CI must not pass it (fail).
#define VISTA_REQUIRE_VISTA_BINARY()                                                        \
  do {                                                                                      \
    if (!std::filesystem::exists(::vista::testing::vista_binary())) {                       \
      if (::vista::testing::running_in_ci()) {                                              \
        FAIL() << "vista binary not built at " << ::vista::testing::vista_binary();         \
      } else {                                                                              \
        GTEST_SKIP() << "vista binary not built at " << ::vista::testing::vista_binary();   \
      }                                                                                     \
    }                                                                                       \
  } while (0)
