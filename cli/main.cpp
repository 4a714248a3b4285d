#include <CLI/CLI.hpp>

#include <algorithm>
#include <iostream>

#include "cli/command.h"
#include "common/logging.h"
#include "common/version.h"

namespace vista::cli {

std::vector<CommandSpec>& command_registry() {
  static std::vector<CommandSpec> registry;
  return registry;
}

int exit_code_for(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return 0;
    case StatusCode::kNotFound: return 3;
    case StatusCode::kInvalidArgument:
    case StatusCode::kUnsupported:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kAlreadyExists:
    case StatusCode::kResourceExhausted: return 4;
    case StatusCode::kIOError:
    case StatusCode::kCorruption: return 5;
    default: return 6;
  }
}

std::string clip(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max - 3;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n) + "...";
}

int report_failure(const Status& status) {
  std::cerr << "error: " << status.message() << "\n";
  return exit_code_for(status);
}

}  // namespace vista::cli

int main(int argc, char** argv) {
  vista::init_logging();
  CLI::App app{"Vista: multimodal vector search (Visualized-BGE + FAISS + RocksDB)", "vista"};
  app.set_version_flag("--version", std::string(vista::kVersion));
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();

  auto& registry = vista::cli::command_registry();
  std::sort(registry.begin(), registry.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  std::vector<std::pair<CLI::App*, vista::cli::CommandRunner>> runners;
  for (auto& spec : registry) {
    CLI::App* sub = app.add_subcommand(spec.name, spec.description);
    runners.emplace_back(sub, spec.setup(*sub));
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (!vista::set_log_level(log_level)) {
    std::cerr << "error: unknown --log-level '" << log_level << "'\n";
    return 2;
  }
  for (auto& [sub, run] : runners) {
    if (sub->parsed()) return run();
  }
  return 2;
}
