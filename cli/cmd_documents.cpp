// `vista documents`: page through (or count) the documents of a collection.
#include <cstdio>
#include <iostream>

#include "cli/command.h"
#include "cli/data_client.h"

namespace {

vista::cli::CommandRunner setup_documents(CLI::App& sub) {
  struct Args {
    vista::cli::EngineArgs engine;
    std::string collection;
    int64_t limit = 100;
    std::string cursor;
    std::string filter;
    bool all = false;
    bool count = false;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  a->engine.add_data(sub);
  sub.add_option("--collection", a->collection, "collection to list")->required();
  sub.add_option("--limit", a->limit, "documents per page")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  auto* cursor =
      sub.add_option("--cursor", a->cursor, "start after this page (the previous next_cursor)");
  sub.add_option("--filter", a->filter, "only documents whose metadata match (docs/filters.md)");
  auto* all = sub.add_flag("--all", a->all, "every page, not just the first");
  all->excludes(cursor);
  sub.add_flag("--count", a->count, "print only how many documents match")->excludes(all)->excludes(
      cursor);
  sub.add_flag("--json", a->json,
               "print the REST response ({\"documents\": [...], \"next_cursor\"}, or "
               "{\"count\"} with --count)");
  return [a]() -> int {
    auto parsed_filter = vista::cli::filter_option(a->filter);
    if (!parsed_filter.is_ok()) return vista::cli::report_failure(parsed_filter.status());
    const std::optional<nlohmann::json>& filter = *parsed_filter;
    auto client = vista::cli::DataClient::open(a->engine, /*with_model=*/false,
                                               /*must_exist=*/true);
    if (!client.is_ok()) return vista::cli::report_failure(client.status());
    if (a->count) {
      nlohmann::json body = nlohmann::json::object();
      if (filter) body["filter"] = *filter;
      auto counted =
          (*client)->call("POST", vista::cli::collection_path(a->collection, "/count"), {}, body);
      vista::Status closed = (*client)->close();
      if (!counted.is_ok()) return vista::cli::report_failure(counted.status());
      if (!closed.is_ok()) return vista::cli::report_failure(closed);
      if (a->json)
        std::cout << counted->dump() << "\n";
      else
        std::printf("%lld\n", (*counted)["count"].get<long long>());
      return 0;
    }
    nlohmann::json documents = nlohmann::json::array();
    nlohmann::json next = a->cursor.empty() ? nlohmann::json(nullptr) : nlohmann::json(a->cursor);
    bool first = true;
    while (first || (a->all && !next.is_null())) {
      vista::cli::QueryParams query = {{"limit", std::to_string(a->limit)}};
      if (!next.is_null()) query.emplace("cursor", next.get<std::string>());
      if (filter) query.emplace("filter", filter->dump());
      auto page =
          (*client)->call("GET", vista::cli::collection_path(a->collection, "/documents"), query);
      if (!page.is_ok()) return vista::cli::report_failure(page.status());
      for (auto& d : (*page)["documents"]) documents.push_back(std::move(d));
      next = (*page)["next_cursor"];
      first = false;
    }
    vista::Status closed = (*client)->close();
    if (!closed.is_ok()) return vista::cli::report_failure(closed);
    if (a->json) {
      std::cout << nlohmann::json{{"documents", documents}, {"next_cursor", next}}.dump(
                       -1, ' ', false, nlohmann::json::error_handler_t::replace)
                << "\n";
      return 0;
    }
    size_t width = 2;
    for (const auto& d : documents)
      width = std::max(width, std::min<size_t>(40, d["id"].get<std::string>().size()));
    std::printf("%-*s  %-40s  %s\n", static_cast<int>(width), "id", "text", "metadata");
    for (const auto& d : documents) {
      const std::string text = d["text"].is_string() ? d["text"].get<std::string>() : "";
      const std::string meta =
          d["metadata"].empty()
              ? ""
              : d["metadata"].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      std::printf("%-*s  %-40s  %s\n", static_cast<int>(width),
                  vista::cli::clip(d["id"].get<std::string>(), 40).c_str(), vista::cli::clip(text, 40).c_str(),
                  vista::cli::clip(meta, 80).c_str());
    }
    if (documents.empty()) std::printf("(no documents)\n");
    if (!next.is_null())
      std::fprintf(stderr, "more: --cursor %s (or --all)\n", next.get<std::string>().c_str());
    return 0;
  };
}

}  // namespace

VISTA_REGISTER_COMMAND(documents, "documents",
                       "List (or count) the documents of a collection, page by page",
                       setup_documents);
