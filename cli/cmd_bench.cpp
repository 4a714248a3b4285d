// `vista bench`: the benchmarks' parent command (cli/bench_commands.h). `bench index` needs the
// engine and FAISS, which the encoder-only build leaves out.
#include "cli/bench_commands.h"

namespace {

vista::cli::CommandRunner setup_bench(CLI::App& bench) {
  bench.require_subcommand(1);
  auto encoder = vista::cli::add_bench_encoder(bench);
  CLI::App* encoder_sub = bench.get_subcommand("encoder");
#ifdef VISTA_WITH_ENGINE
  auto index = vista::cli::add_bench_index(bench);
  return [encoder, index, encoder_sub]() { return encoder_sub->parsed() ? encoder() : index(); };
#else
  return encoder;
#endif
}

}  // namespace

VISTA_REGISTER_COMMAND(bench, "bench",
                       "Benchmarks (bench encoder: encoding speed; bench index: recall vs speed)",
                       setup_bench);
