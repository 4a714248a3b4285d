// Subcommand registry for the single `vista` binary.
//
// Each cli/cmd_*.cpp file registers one subcommand at static-initialisation time with
// VISTA_REGISTER_COMMAND. Its setup function adds options to the CLI11 subcommand and returns
// the function main() runs when that subcommand is chosen; that function returns the process
// exit code (see exit_code_for()).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

#include "common/status.h"

namespace vista::cli {

using CommandRunner = std::function<int()>;
using CommandSetup = std::function<CommandRunner(CLI::App& subcommand)>;

struct CommandSpec {
  std::string name;
  std::string description;
  CommandSetup setup;
};

std::vector<CommandSpec>& command_registry();

struct CommandRegistrar {
  CommandRegistrar(std::string name, std::string description, CommandSetup setup) {
    command_registry().push_back({std::move(name), std::move(description), std::move(setup)});
  }
};

// Exit codes, documented in docs/cli.md: 0 success, 1 the command ran but some items failed,
// 2 usage error, 3 not found, 4 invalid input/data, 5 I/O or corruption, 6 other failure.
int exit_code_for(const Status& status);

// Prints "error: <message>" to stderr and returns exit_code_for(status).
int report_failure(const Status& status);

// Cuts a UTF-8 string to at most `max` bytes (with "..."), never inside a character: for tables.
std::string clip(const std::string& s, size_t max);

}  // namespace vista::cli

#define VISTA_REGISTER_COMMAND(ident, name, description, setup) \
  static ::vista::cli::CommandRegistrar vista_command_registrar_##ident(name, description, setup)
