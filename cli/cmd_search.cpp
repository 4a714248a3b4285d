// `vista search`: top-k documents of a collection for a text, an image, both, or a stored
// document ("more like this"), as a table or as JSON.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "cli/command.h"
#include "cli/engine_args.h"
#include "common/limits.h"
#include "engine/filter.h"

namespace {

// Cuts a UTF-8 string to at most `max` bytes without splitting a character.
std::string clip(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max - 3;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n) + "...";
}

vista::cli::CommandRunner setup_search(CLI::App& sub) {
  struct Args {
    vista::cli::EngineArgs engine;
    std::string collection;
    std::optional<std::string> text;
    std::optional<std::string> image;
    std::optional<std::string> id;
    int64_t k = 10;
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
  sub.add_flag("--json", a->json,
               R"(print {"hits": [{"id", "score", "metadata"}], "took_ms"} instead of a table)");

  return [a]() -> int {
    if (!a->text && !a->image && !a->id)
      return vista::cli::report_failure(
          vista::Status::invalid_argument("give --text, --image, both, or --id"));
    vista::engine::SearchOptions options;
    options.k = a->k;
    options.params.ef_search = a->ef_search;
    options.params.nprobe = a->nprobe;
    if (!a->filter.empty()) {
      auto filter = vista::engine::Filter::parse(a->filter);
      if (!filter.is_ok())
        return vista::cli::report_failure(filter.status().with_context("--filter"));
      options.filter = std::move(filter).value();
    }
    vista::engine::Query query;
    query.text = a->text;
    if (a->image) query.image_path = *a->image;
    query.id = a->id;
    const bool needs_model = a->text || a->image;
    if (vista::Status s = a->engine.check_collection(a->collection); !s.is_ok())
      return vista::cli::report_failure(s);
    if (a->image) {
      if (vista::Status s = vista::cli::EngineArgs::check_file(*a->image, "query image");
          !s.is_ok())
        return vista::cli::report_failure(s);
    }

    auto engine = a->engine.open(needs_model, /*must_exist=*/true);
    if (!engine.is_ok()) return vista::cli::report_failure(engine.status());
    auto result = (*engine)->search(a->collection, query, options);
    vista::Status closed = (*engine)->close();
    if (!result.is_ok()) return vista::cli::report_failure(result.status());
    if (!closed.is_ok()) return vista::cli::report_failure(closed);

    const auto& r = *result;
    if (a->json) {
      nlohmann::json hits = nlohmann::json::array();
      for (const auto& h : r.hits)
        hits.push_back(
            {{"id", h.document.id}, {"score", h.score}, {"metadata", h.document.metadata}});
      nlohmann::json j = {{"hits", hits}, {"took_ms", r.took_ms}};
      if (r.truncated) j["truncated"] = true;
      std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      return 0;
    }
    size_t id_width = 2;
    for (const auto& h : r.hits)
      id_width = std::max(id_width, std::min<size_t>(40, h.document.id.size()));
    std::printf("%-4s  %-*s  %-7s  %s\n", "rank", static_cast<int>(id_width), "id", "score",
                "metadata");
    int rank = 0;
    for (const auto& h : r.hits) {
      std::string meta =
          h.document.metadata.empty()
              ? ""
              : h.document.metadata.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      std::printf("%-4d  %-*s  %.4f   %s\n", ++rank, static_cast<int>(id_width),
                  clip(h.document.id, 40).c_str(), h.score, clip(meta, 100).c_str());
    }
    if (r.hits.empty()) std::printf("(no hits)\n");
    std::fprintf(stderr, "%zu hit(s) in %.1f ms%s\n", r.hits.size(), r.took_ms,
                 r.truncated ? " (query text truncated to the model's limit)" : "");
    return 0;
  };
}

}  // namespace

VISTA_REGISTER_COMMAND(search, "search",
                       "Find the documents closest to a text, an image, both, or a stored document",
                       setup_search);
