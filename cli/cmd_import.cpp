// `vista import`: segments written by `vista ingest --segment-out` into a collection
// (engine/segment.h), each atomically and at most once.
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/engine_args.h"
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
    // Every segment's manifest is checked before anything is imported.
    std::vector<vista::engine::Segment> segments;
    for (const auto& dir : a->segments) {
      auto segment = vista::engine::Segment::open(dir);
      if (!segment.is_ok()) return vista::cli::report_failure(segment.status());
      segments.push_back(std::move(segment).value());
    }
    auto engine = a->engine.open(/*with_model=*/false, /*must_exist=*/false);
    if (!engine.is_ok()) return vista::cli::report_failure(engine.status());

    // One process at a time may open a collection: while a server holds it, say what to do.
    if (auto held = (*engine)->catalog().get(a->collection);
        held.status().code() == vista::StatusCode::kFailedPrecondition) {
      (void)(*engine)->close();
      return vista::cli::report_failure(vista::Status::failed_precondition(
          held.status().message() + "; if `vista serve` holds " + a->engine.data_dir +
          ", stop it and run this again, or import through its REST API (POST /v1/collections/" +
          a->collection + "/import, docs/api.md)"));
    }
    vista::engine::SegmentImportOptions options;
    options.index_spec = a->index_spec;
    nlohmann::json report = nlohmann::json::array();
    int64_t documents = 0, imported = 0, skipped = 0;
    double seconds = 0;
    int64_t count = 0;
    for (const auto& segment : segments) {
      auto r = vista::engine::import_segment((*engine)->catalog(), a->collection, segment, options);
      if (!r.is_ok()) {
        const vista::Status s = r.status();
        (void)(*engine)->close();
        std::fprintf(stderr, "%lld of %zu segment(s) imported before this one; run the same "
                             "command again to finish (imported segments are skipped)\n",
                     static_cast<long long>(imported + skipped), segments.size());
        return vista::cli::report_failure(s.with_context("segment " + segment.dir().string()));
      }
      const auto& m = segment.manifest();
      count = r->collection_count;
      if (r->already_imported) {
        ++skipped;
      } else {
        ++imported;
        documents += m.count;
        seconds += r->elapsed_seconds;
      }
      report.push_back({{"segment", segment.dir().string()},
                        {"id", r->segment_id},
                        {"shard", m.shard ? nlohmann::json(m.shard->to_string()) : nlohmann::json()},
                        {"already_imported", r->already_imported},
                        {"inserted", r->inserted},
                        {"updated", r->updated},
                        {"unchanged", r->unchanged},
                        {"elapsed_s", r->elapsed_seconds}});
      if (!a->json) {
        if (r->already_imported)
          std::printf("segment %s: imported before; skipped\n", segment.dir().string().c_str());
        else
          std::printf("segment %s: %lld inserted, %lld updated, %lld unchanged in %.2f s\n",
                      segment.dir().string().c_str(), static_cast<long long>(r->inserted),
                      static_cast<long long>(r->updated), static_cast<long long>(r->unchanged),
                      r->elapsed_seconds);
      }
    }
    vista::Status closed = (*engine)->close();
    if (!closed.is_ok()) return vista::cli::report_failure(closed);
    const double rate = seconds > 0 ? static_cast<double>(documents) / seconds : 0;
    if (a->json) {
      std::cout << nlohmann::json{{"collection", a->collection},
                                  {"segments", report},
                                  {"imported", imported},
                                  {"skipped", skipped},
                                  {"documents", documents},
                                  {"documents_per_s", rate},
                                  {"count", count}}
                       .dump()
                << "\n";
    } else {
      std::printf("done '%s': %lld segment(s) imported, %lld skipped (imported before), %lld "
                  "documents at %.0f documents/s; the collection holds %lld documents\n",
                  a->collection.c_str(), static_cast<long long>(imported),
                  static_cast<long long>(skipped), static_cast<long long>(documents), rate,
                  static_cast<long long>(count));
    }
    return 0;
  };
}

}  // namespace

VISTA_REGISTER_COMMAND(import, "import",
                       "Merge segments written by `ingest --segment-out` into a collection",
                       setup_import);
