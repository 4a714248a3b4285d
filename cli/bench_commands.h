// The `vista bench` subcommands: each adds itself under the `bench` command and returns the
// function to run when it is the one chosen.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/command.h"

namespace vista::cli {

// `vista bench encoder` (cli/cmd_bench_encoder.cpp).
CommandRunner add_bench_encoder(CLI::App& bench);

// `vista bench index` (cli/cmd_bench_index.cpp).
CommandRunner add_bench_index(CLI::App& bench);

}  // namespace vista::cli
