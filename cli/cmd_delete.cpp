// `vista delete`: remove documents from a collection by id or by metadata filter.
#include <cstdio>
#include <iostream>

#include "cli/command.h"
#include "cli/data_client.h"

namespace {

vista::cli::CommandRunner setup_delete(CLI::App& sub) {
  struct Args {
    vista::cli::EngineArgs engine;
    std::string collection;
    std::vector<std::string> ids;
    std::string filter;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  a->engine.add_data(sub);
  sub.add_option("--collection", a->collection, "collection to delete from")->required();
  auto* filter = sub.add_option("--filter", a->filter,
                                "delete every document whose metadata match (docs/filters.md)");
  sub.add_option("ID", a->ids, "document ids")->excludes(filter);
  sub.add_flag("--json", a->json,
               "print the REST response: {\"deleted\": n, \"missing\": [ids]} (no \"missing\" "
               "with --filter)");
  return [a]() -> int {
    if (a->ids.empty() && a->filter.empty()) {
      std::cerr << "error: give the ids to delete, or --filter JSON\n";
      return 2;
    }
    auto filter = vista::cli::filter_option(a->filter);
    if (!filter.is_ok()) return vista::cli::report_failure(filter.status());
    nlohmann::json body;
    if (*filter)
      body["filter"] = **filter;
    else
      body["ids"] = a->ids;
    auto removed = vista::cli::call_once(
        a->engine, /*with_model=*/false, /*must_exist=*/true, "POST",
        vista::cli::collection_path(a->collection, "/documents/delete"), {}, body);
    if (!removed.is_ok()) return vista::cli::report_failure(removed.status());
    const auto missing = removed->value("missing", nlohmann::json::array());
    if (a->json) {
      std::cout << removed->dump() << "\n";
    } else {
      std::printf("removed %lld document(s) from '%s'", (*removed)["deleted"].get<long long>(),
                  a->collection.c_str());
      if (!missing.empty()) {
        std::printf("; %zu id(s) did not exist:", missing.size());
        for (const auto& id : missing) std::printf(" %s", id.get<std::string>().c_str());
      }
      std::printf("\n");
    }
    // Ids that were not there are "items that failed" (exit 1), so scripts can tell.
    return missing.empty() ? 0 : 1;
  };
}

}  // namespace

VISTA_REGISTER_COMMAND(delete_docs, "delete",
                       "Remove documents from a collection by id or by metadata filter",
                       setup_delete);
