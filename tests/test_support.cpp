#include "tests/test_support.h"

#include <cstdlib>
#include <random>

namespace vista::testing {

std::filesystem::path golden_dir() {
  if (const char* env = std::getenv("VISTA_GOLDEN_DIR"); env && *env) return env;
  return VISTA_DEFAULT_GOLDEN_DIR;
}

bool running_in_ci() {
  const char* env = std::getenv("CI");
  return env && *env;
}

std::filesystem::path source_dir() { return VISTA_SOURCE_DIR; }

std::filesystem::path vista_binary() {
  if (const char* env = std::getenv("VISTA_BINARY"); env && *env) return env;
  return std::filesystem::path(VISTA_BINARY_DIR) / "vista";
}

TempDir::TempDir() {
  std::random_device rd;
  std::mt19937_64 gen(rd());
  for (;;) {
    auto candidate = std::filesystem::temp_directory_path() /
                     ("vista-test-" + std::to_string(gen() % 1000000000000ULL));
    if (std::filesystem::create_directory(candidate)) {
      path_ = candidate;
      return;
    }
  }
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace vista::testing
