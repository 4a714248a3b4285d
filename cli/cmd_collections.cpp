// `vista collections`: the collections of a data directory with their sizes.
#include <cstdio>
#include <iostream>

#include "cli/command.h"
#include "cli/data_client.h"

namespace {

vista::cli::CommandRunner setup_collections(CLI::App& sub) {
  struct Args {
    vista::cli::EngineArgs engine;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  a->engine.add_data(sub);
  sub.add_flag("--json", a->json,
               "print the REST response of GET /v1/collections: {\"collections\": [...]}");
  return [a]() -> int {
    auto listed = vista::cli::call_once(a->engine, /*with_model=*/false, /*must_exist=*/true,
                                        "GET", "/v1/collections");
    if (!listed.is_ok()) return vista::cli::report_failure(listed.status());
    const nlohmann::json& list = (*listed)["collections"];
    if (a->json) {
      std::cout << listed->dump() << "\n";
      return 0;
    }
    if (list.empty()) {
      std::printf("no collections in %s\n", a->engine.data_dir.c_str());
      return 0;
    }
    size_t width = 10;
    for (const auto& c : list) width = std::max(width, c["name"].get<std::string>().size());
    std::printf("%-*s  %10s  %5s  %-12s  %s\n", static_cast<int>(width), "collection", "documents",
                "dim", "index", "model");
    for (const auto& c : list)
      std::printf("%-*s  %10lld  %5d  %-12s  '%s' (checkpoint %s)\n", static_cast<int>(width),
                  c["name"].get<std::string>().c_str(), c["count"].get<long long>(),
                  c["dim"].get<int>(), c["index"].get<std::string>().c_str(),
                  c["model"]["name"].get<std::string>().c_str(),
                  c["model"]["checkpoint_hash"].get<std::string>().c_str());
    return 0;
  };
}

}  // namespace

VISTA_REGISTER_COMMAND(collections, "collections",
                       "List the collections of a data directory with their document counts",
                       setup_collections);
