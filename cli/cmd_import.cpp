// `vista import`: segments written by `vista ingest --segment-out` into a collection
// (engine/segment.h), each atomically and at most once, through the data directory's one door
// (POST /v1/collections/{name}/import to the running server, or the same route in-process).
#include <cstdio>
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/data_client.h"
#include "engine/catalog.h"
#include "engine/segment.h"

namespace {

vista::cli::CommandRunner setup_import(CLI::App& sub) {
  struct Args {
    vista::cli::EngineArgs engine;
    std::string collection;
    std::vector<std::string> segments;
    std::string index_spec;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  a->engine.add_data(sub);
  sub.add_option("--collection", a->collection, "collection to import into (created on first use)")
      ->required();
  sub.add_option("--index", a->index_spec,
                 "FAISS index spec when the collection is created (default: Flat)");
  sub.add_flag("--json", a->json, "print the summary as one JSON object");
  sub.add_option("SEGMENT", a->segments, "segment folders (vista ingest --segment-out)")
      ->required();

  return [a]() -> int {
    namespace fs = std::filesystem;
    // Every segment's manifest is checked before anything is imported. Paths travel to whoever
    // imports, maybe a server with another working directory: they are made absolute.
    std::vector<vista::engine::Segment> segments;
    std::vector<std::string> paths;
    for (const auto& dir : a->segments) {
      auto segment = vista::engine::Segment::open(dir);
      if (!segment.is_ok()) return vista::cli::report_failure(segment.status());
      std::error_code ec;
      const fs::path absolute = fs::absolute(dir, ec);
      paths.push_back((ec ? fs::path(dir) : absolute).lexically_normal().string());
      segments.push_back(std::move(segment).value());
    }
    if (vista::Status s = vista::engine::Catalog::validate_name(a->collection); !s.is_ok())
      return vista::cli::report_failure(s);
    // Through the data directory's one door (cli/data_client.h): the running server when there
    // is one, else this process. Segments carry their vectors: no model is loaded here.
    auto client = vista::cli::DataClient::open(a->engine, /*with_model=*/false,
                                               /*must_exist=*/false);
    if (!client.is_ok()) return vista::cli::report_failure(client.status());
    const std::string route = vista::cli::collection_path(a->collection, "/import");
    nlohmann::json report = nlohmann::json::array();
    int64_t documents = 0, imported = 0, skipped = 0;
    double seconds = 0;
    int64_t count = 0;
    for (size_t i = 0; i < segments.size(); ++i) {
      nlohmann::json request = {{"segment", paths[i]}};
      if (!a->index_spec.empty()) request["index"] = a->index_spec;
      auto r = (*client)->call("POST", route, {}, request);
      if (!r.is_ok()) {
        const vista::Status s = r.status();
        (void)(*client)->close();
        std::fprintf(stderr, "%lld of %zu segment(s) imported before this one; run the same "
                             "command again to finish (imported segments are skipped)\n",
                     static_cast<long long>(imported + skipped), segments.size());
        return vista::cli::report_failure(s.with_context("segment " + paths[i]));
      }
      const auto& m = segments[i].manifest();
      const bool already = (*r)["already_imported"].get<bool>();
      const double elapsed_s = (*r)["took_ms"].get<double>() / 1000.0;
      count = (*r)["count"].get<int64_t>();
      if (already) {
        ++skipped;
      } else {
        ++imported;
        documents += m.count;
        seconds += elapsed_s;
      }
      report.push_back({{"segment", paths[i]},
                        {"id", (*r)["segment_id"]},
                        {"shard", (*r)["shard"]},
                        {"already_imported", already},
                        {"inserted", (*r)["inserted"]},
                        {"updated", (*r)["updated"]},
                        {"unchanged", (*r)["unchanged"]},
                        {"elapsed_s", elapsed_s}});
      if (!a->json) {
        if (already)
          std::printf("segment %s: imported before; skipped\n", a->segments[i].c_str());
        else
          std::printf("segment %s: %lld inserted, %lld updated, %lld unchanged in %.2f s\n",
                      a->segments[i].c_str(), (*r)["inserted"].get<long long>(),
                      (*r)["updated"].get<long long>(), (*r)["unchanged"].get<long long>(),
                      elapsed_s);
      }
    }
    const std::string server = (*client)->server_url();
    const std::string through = server.empty() ? "" : " through " + server;
    vista::Status closed = (*client)->close();
    if (!closed.is_ok()) return vista::cli::report_failure(closed);
    const double rate = seconds > 0 ? static_cast<double>(documents) / seconds : 0;
    if (a->json) {
      std::cout << nlohmann::json{{"collection", a->collection},
                                  {"segments", report},
                                  {"imported", imported},
                                  {"skipped", skipped},
                                  {"documents", documents},
                                  {"documents_per_s", rate},
                                  {"count", count},
                                  {"server", server.empty() ? nlohmann::json() : nlohmann::json(server)}}
                       .dump()
                << "\n";
    } else {
      std::printf("done '%s'%s: %lld segment(s) imported, %lld skipped (imported before), %lld "
                  "documents at %.0f documents/s; the collection holds %lld documents\n",
                  a->collection.c_str(), through.c_str(),
                  static_cast<long long>(imported), static_cast<long long>(skipped),
                  static_cast<long long>(documents), rate, static_cast<long long>(count));
    }
    return 0;
  };
}

}  // namespace

VISTA_REGISTER_COMMAND(import, "import",
                       "Merge segments written by `ingest --segment-out` into a collection",
                       setup_import);
