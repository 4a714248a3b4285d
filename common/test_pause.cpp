#include "common/test_pause.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

namespace vista {

void test_pause_point(std::string_view name, const std::function<bool()>& resume) {
  static const char* const wanted = std::getenv("VISTA_TEST_PAUSE");
  if (wanted == nullptr || name != wanted) return;
  static const char* const resume_file = std::getenv("VISTA_TEST_PAUSE_RESUME");
  std::fprintf(stderr, "vista: paused at %s\n", std::string(name).c_str());
  std::fflush(stderr);
  for (;;) {
    if (resume && resume()) return;
    std::error_code ec;
    if (resume_file != nullptr && std::filesystem::exists(resume_file, ec)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace vista
