// Process-wide logging: spdlog to stderr, so stdout stays free for command output (JSON, tables).
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace vista {

// Sets the global log level from a name ("trace", "debug", "info", "warn", "error", "off").
// Unknown names leave the level unchanged and return false. Thread-safe.
bool set_log_level(std::string_view level);

// Installs the stderr logger once; later calls are no-ops. Called by main() and test mains.
void init_logging();

}  // namespace vista
