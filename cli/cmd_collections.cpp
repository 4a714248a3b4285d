// `vista collections`: the collections of a data directory with their sizes.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "cli/command.h"
#include "cli/engine_args.h"

namespace {

vista::cli::CommandRunner setup_collections(CLI::App& sub) {
  struct Args {
    vista::cli::EngineArgs engine;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  a->engine.add_data(sub);
  sub.add_flag("--json", a->json, "print a JSON array of collection descriptions");
  return [a]() -> int {
    auto engine = a->engine.open(/*with_model=*/false, /*must_exist=*/true);
    if (!engine.is_ok()) return vista::cli::report_failure(engine.status());
    auto infos = (*engine)->catalog().list_info();
    vista::Status closed = (*engine)->close();
    if (!infos.is_ok()) return vista::cli::report_failure(infos.status());
    if (!closed.is_ok()) return vista::cli::report_failure(closed);
    if (a->json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& c : *infos)
        out.push_back(
            {{"name", c.name},
             {"count", c.count},
             {"dimension", c.dimension},
             {"index", c.index_spec},
             {"model", {{"name", c.model.name}, {"checkpoint_hash", c.model.checkpoint_hash}}}});
      std::cout << out.dump() << "\n";
      return 0;
    }
    if (infos->empty()) {
      std::printf("no collections in %s\n", a->engine.data_dir.c_str());
      return 0;
    }
    size_t width = 10;
    for (const auto& c : *infos) width = std::max(width, c.name.size());
    std::printf("%-*s  %10s  %5s  %-12s  %s\n", static_cast<int>(width), "collection", "documents",
                "dim", "index", "model");
    for (const auto& c : *infos)
      std::printf("%-*s  %10lld  %5d  %-12s  %s\n", static_cast<int>(width), c.name.c_str(),
                  static_cast<long long>(c.count), c.dimension, c.index_spec.c_str(),
                  c.model.to_string().c_str());
    return 0;
  };
}

}  // namespace

VISTA_REGISTER_COMMAND(collections, "collections",
                       "List the collections of a data directory with their document counts",
                       setup_collections);
