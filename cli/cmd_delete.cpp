// `vista delete`: remove documents from a collection by id.
#include <cstdio>

#include "cli/command.h"
#include "cli/engine_args.h"

namespace {

vista::cli::CommandRunner setup_delete(CLI::App& sub) {
  struct Args {
    vista::cli::EngineArgs engine;
    std::string collection;
    std::vector<std::string> ids;
  };
  auto a = std::make_shared<Args>();
  a->engine.add_data(sub);
  sub.add_option("--collection", a->collection, "collection to delete from")->required();
  sub.add_option("ID", a->ids, "document ids")->required();
  return [a]() -> int {
    auto engine = a->engine.open(/*with_model=*/false, /*must_exist=*/true);
    if (!engine.is_ok()) return vista::cli::report_failure(engine.status());
    auto removed = (*engine)->delete_documents(a->collection, a->ids);
    vista::Status closed = (*engine)->close();
    if (!removed.is_ok()) return vista::cli::report_failure(removed.status());
    if (!closed.is_ok()) return vista::cli::report_failure(closed);
    std::printf("removed %lld document(s) from '%s'", static_cast<long long>(removed->removed),
                a->collection.c_str());
    if (removed->missing)
      std::printf("; %lld id(s) did not exist", static_cast<long long>(removed->missing));
    std::printf("\n");
    // Ids that were not there are "items that failed" (exit 1), so scripts can tell.
    return removed->missing > 0 ? 1 : 0;
  };
}

}  // namespace

VISTA_REGISTER_COMMAND(delete_docs, "delete", "Remove documents from a collection by id",
                       setup_delete);
