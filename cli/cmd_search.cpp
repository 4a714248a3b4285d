// `vista search`: top-k documents of a collection for a text, an image, both, or a stored
// document ("more like this"), as a table or as JSON.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include <fstream>
#include <sstream>

#include "api/base64.h"
#include "cli/command.h"
#include "cli/engine_args.h"
#include "common/limits.h"
#include "cli/data_client.h"

namespace {

vista::cli::CommandRunner setup_search(CLI::App& sub) {
  struct Args {
    vista::cli::EngineArgs engine;
    std::string collection;
    std::optional<std::string> text;
    std::optional<std::string> image;
    std::optional<std::string> id;
    int64_t k = 10;
    int64_t offset = 0;
    std::string filter;
    int ef_search = 0;
    int nprobe = 0;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  a->engine.add_data(sub);
  sub.add_option("--collection", a->collection, "collection to search")->required();
  a->engine.add_model(sub);
  auto* text = sub.add_option("--text", a->text, "query text");
  auto* image = sub.add_option("--image", a->image, "query image file (with --text: composed)");
  auto* id = sub.add_option("--id", a->id, "find documents like this stored one");
  id->excludes(text)->excludes(image);
  sub.add_option("--k", a->k, "number of hits")
      ->check(CLI::Range(int64_t{1}, vista::kMaxSearchK))
      ->capture_default_str();
  sub.add_option("--filter", a->filter,
                 R"(metadata filter as JSON, e.g. '{"year": {"$gte": 2000}}')");
  sub.add_option("--ef-search", a->ef_search, "HNSW candidate list size (0: index default)")
      ->check(CLI::NonNegativeNumber);
  sub.add_option("--nprobe", a->nprobe, "IVF lists to visit (0: index default)")
      ->check(CLI::NonNegativeNumber);
  sub.add_option("--offset", a->offset, "leave out this many best hits first (paging)")
      ->check(CLI::NonNegativeNumber);
  sub.add_flag("--json", a->json,
               "print the REST response ({\"hits\": [{\"id\", \"score\", \"metadata\", "
               "\"text\", \"image\"}], \"took_ms\", \"truncated\"}) instead of a table");

  return [a]() -> int {
    if (!a->text && !a->image && !a->id) {
      std::cerr << "error: give --text, --image, both, or --id\n";
      return 2;
    }
    nlohmann::json body = {{"k", a->k}};
    if (a->offset > 0) body["offset"] = a->offset;
    if (a->ef_search > 0) body["params"]["ef_search"] = a->ef_search;
    if (a->nprobe > 0) body["params"]["nprobe"] = a->nprobe;
    auto filter = vista::cli::filter_option(a->filter);
    if (!filter.is_ok()) return vista::cli::report_failure(filter.status());
    if (*filter) body["filter"] = **filter;
    if (a->text) body["text"] = *a->text;
    if (a->id) body["id"] = *a->id;
    if (a->image) {
      std::ifstream in(*a->image, std::ios::binary);
      if (!in)
        return vista::cli::report_failure(
            vista::Status::not_found("cannot read the query image " + *a->image));
      std::stringstream bytes;
      bytes << in.rdbuf();
      body["image"] = vista::api::base64_encode(bytes.str());
    }
    if (vista::Status s = a->engine.check_collection(a->collection); !s.is_ok())
      return vista::cli::report_failure(s);
    const bool needs_model = a->text || a->image;
    auto result = vista::cli::call_once(a->engine, needs_model, /*must_exist=*/true, "POST",
                                        vista::cli::collection_path(a->collection, "/search"), {},
                                        body);
    if (!result.is_ok()) return vista::cli::report_failure(result.status());

    const auto& r = *result;
    if (a->json) {
      std::cout << r.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      return 0;
    }
    const auto& hits = r["hits"];
    size_t id_width = 2;
    for (const auto& h : hits)
      id_width = std::max(id_width, std::min<size_t>(40, h["id"].get<std::string>().size()));
    std::printf("%-4s  %-*s  %-7s  %s\n", "rank", static_cast<int>(id_width), "id", "score",
                "metadata");
    int64_t rank = a->offset;
    for (const auto& h : hits) {
      const auto& md = h["metadata"];
      std::string meta =
          md.empty() ? "" : md.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      std::printf("%-4lld  %-*s  %.4f   %s\n", static_cast<long long>(++rank),
                  static_cast<int>(id_width), vista::cli::clip(h["id"].get<std::string>(), 40).c_str(),
                  h["score"].get<double>(), vista::cli::clip(meta, 100).c_str());
    }
    if (hits.empty()) std::printf("(no hits)\n");
    std::fprintf(stderr, "%zu hit(s) in %.1f ms%s\n", hits.size(), r["took_ms"].get<double>(),
                 r.value("truncated", false) ? " (query text truncated to the model's limit)" : "");
    return 0;
  };
}

}  // namespace

VISTA_REGISTER_COMMAND(search, "search",
                       "Find the documents closest to a text, an image, both, or a stored document",
                       setup_search);
