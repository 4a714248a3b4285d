#include "tests/test_support.h"

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

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

VistaRun run_vista(const std::string& args) {
  TempDir dir;
  const auto err_path = dir.path() / "stderr";
  const std::string command =
      "'" + vista_binary().string() + "' " + args + " 2>'" + err_path.string() + "'";
  VistaRun run;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) run.out.append(buf, n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream err(err_path);
  std::stringstream ss;
  ss << err.rdbuf();
  run.err = ss.str();
  return run;
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
