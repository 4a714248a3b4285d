// `vista drop`: delete a whole collection.
#include <cstdio>
#include <iostream>

#include "cli/command.h"
#include "cli/data_client.h"

namespace {

vista::cli::CommandRunner setup_drop(CLI::App& sub) {
  struct Args {
    vista::cli::EngineArgs engine;
    std::string collection;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  a->engine.add_data(sub);
  sub.add_option("--collection", a->collection, "collection to delete, with all its documents")
      ->required();
  sub.add_flag("--json", a->json, "print the REST response: {\"name\", \"deleted\": true}");
  return [a]() -> int {
    auto dropped = vista::cli::call_once(a->engine, /*with_model=*/false, /*must_exist=*/true,
                                         "DELETE", vista::cli::collection_path(a->collection));
    if (!dropped.is_ok()) return vista::cli::report_failure(dropped.status());
    if (a->json)
      std::cout << dropped->dump() << "\n";
    else
      std::printf("dropped collection '%s'\n", a->collection.c_str());
    return 0;
  };
}

}  // namespace

VISTA_REGISTER_COMMAND(drop, "drop", "Delete a collection and all its documents", setup_drop);
