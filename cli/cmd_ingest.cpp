// `vista ingest`: folders and manifests into a collection (engine/ingestor.h), with a progress
// bar on a terminal, log lines otherwise, an errors report and a summary. With --segment-out,
// one shard of the sources into a segment instead (engine/segment.h).
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <mutex>
#include <thread>

#include "cli/command.h"
#include "cli/data_client.h"
#include "common/limits.h"
#include "common/logging.h"
#include "engine/ingest_source.h"
#include "engine/ingest_report.h"
#include "engine/ingestor.h"
#include "engine/segment.h"

namespace {

// Set by SIGINT/SIGTERM; the ingestor polls it. A second signal ends the process at once.
std::atomic<bool> g_cancel{false};
static_assert(std::atomic<bool>::is_always_lock_free, "signal handler needs a lock-free flag");

extern "C" void on_stop_signal(int sig) {
  if (g_cancel.exchange(true)) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  const char msg[] =
      "\nvista: stopping after the current batch; everything done so far is kept "
      "(signal again to abort)\n";
  ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)ignored;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s / 60) % 60);
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%lds", s);
  return buf;
}

// "[########------------]  120/500  3.4/s  ETA 1m52s  errors 2"
std::string progress_line(const vista::engine::IngestProgress& p, int width) {
  const double rate = p.done_per_second();
  std::string counts =
      std::to_string(p.done) + "/" + (p.total >= 0 ? std::to_string(p.total) : std::string("?"));
  char tail[160];
  const double eta =
      (p.total >= 0 && rate > 0) ? static_cast<double>(p.total - p.done) / rate : -1.0;
  std::snprintf(tail, sizeof tail, "  %s  %.1f/s  ETA %s  errors %lld", counts.c_str(), rate,
                eta >= 0 ? format_duration(eta).c_str() : "?", static_cast<long long>(p.failed));
  int bar = std::max(10, width - static_cast<int>(std::strlen(tail)) - 2);
  double frac = p.total > 0 ? std::min(1.0, static_cast<double>(p.done) / p.total) : 0.0;
  int filled = static_cast<int>(frac * bar);
  return "[" + std::string(filled, '#') + std::string(bar - filled, '-') + "]" + tail;
}

// The collection inside a shard's staging folder.
constexpr const char* kStagingCollection = "segment";

// The segment already in `dir`, when it is the finished output of this same shard (same shard,
// same sources); AlreadyExists when `dir` holds a segment of something else; nullopt when there
// is none yet.
vista::Result<std::optional<vista::engine::SegmentManifest>> finished_segment(
    const std::filesystem::path& dir, const vista::engine::SegmentManifest& wanted) {
  auto existing = vista::engine::Segment::open(dir);
  if (existing.status().code() == vista::StatusCode::kNotFound)
    return std::optional<vista::engine::SegmentManifest>();
  if (!existing.is_ok()) return existing.status();
  const auto& m = existing->manifest();
  const bool same_shard = m.shard.has_value() == wanted.shard.has_value() &&
                          (!m.shard || *m.shard == *wanted.shard);
  if (!same_shard || m.sources != wanted.sources) {
    return vista::Status::already_exists(
        "folder " + dir.string() + " holds a segment of other sources or another shard (" +
        (m.shard ? "shard " + m.shard->to_string() : std::string("no shard")) +
        "); remove it or choose another --segment-out");
  }
  return std::optional<vista::engine::SegmentManifest>(m);
}

// Writes the staging collection out as the segment.
vista::Result<vista::engine::SegmentManifest> write_segment_from(
    vista::engine::Engine& engine, vista::engine::SegmentManifest header,
    const std::optional<std::filesystem::path>& errors, const std::string& dir) {
  VISTA_ASSIGN_OR_RETURN(auto coll, engine.catalog().get(kStagingCollection));
  return vista::engine::write_segment(*coll, errors, std::move(header), dir);
}

vista::cli::CommandRunner setup_ingest(CLI::App& sub) {
  struct Args {
    vista::cli::EngineArgs engine;
    std::string collection;
    std::vector<std::string> sources;
    std::string errors;
    int decode_threads = 0;
    int batch = 16;
    int write_batch = 64;
    std::string index_spec;
    std::string progress = "auto";
    bool json = false;
    std::string shard;
    std::string segment_out;
  };
  auto a = std::make_shared<Args>();
  auto* data = a->engine.add_data(sub, /*required=*/false);
  auto* collection =
      sub.add_option("--collection", a->collection, "collection to add to (created on first use)");
  auto* segment_out = sub.add_option(
      "--segment-out", a->segment_out,
      "write a segment to this folder instead of adding to a collection (see vista import)");
  segment_out->excludes(data)->excludes(collection);
  sub.add_option("--shard", a->shard,
                 "K/N: only the K-th of N parts of the sources (K from 0), split by a hash of each "
                 "document id; needs --segment-out")
      ->needs(segment_out);
  a->engine.add_model(sub);
  sub.add_option("--errors", a->errors,
                 "write failed items to this JSONL file ({\"source\", \"id\", \"reason\", "
                 "\"code\"} per line; default: DATA/reports/ingest-NAME-TIME.jsonl when an "
                 "item fails)");
  auto* decode_threads =
      sub.add_option("--decode-threads", a->decode_threads,
                     "file reading and decoding threads (default: half the cores, at least 1; "
                     "with --device cuda every core, as the GPU encodes)")
          ->check(CLI::NonNegativeNumber);
  auto* batch = sub.add_option("--batch", a->batch,
                               "inputs per encoder call (default: 16; 256 with --device cuda)")
                    ->check(CLI::Range(1, 1024));
  sub.add_option("--write-batch", a->write_batch,
                 "most documents per committed (atomic, fsynced) write: smaller commits keep more "
                 "of an interrupted run, larger ones cost fewer syncs")
      ->check(CLI::Range(1, vista::kMaxIngestWriteBatch))
      ->capture_default_str();
  sub.add_option("--index", a->index_spec,
                 "FAISS index spec when the collection is created (default: Flat); an existing "
                 "collection must have this spec");
  sub.add_option("--progress", a->progress,
                 "auto (a bar on a terminal, log lines otherwise), bar, log or none")
      ->check(CLI::IsMember({"auto", "bar", "log", "none"}))
      ->capture_default_str();
  sub.add_flag("--json", a->json, "print the summary as one JSON object");
  sub.add_option("SOURCE", a->sources,
                 "folders (recursive), manifests (.jsonl, .csv) or image files")
      ->required();

  return [a, decode_threads, batch]() -> int {
    namespace fs = std::filesystem;
    const bool to_segment = !a->segment_out.empty();
    if (!to_segment && (a->engine.data_dir.empty() || a->collection.empty())) {
      std::fprintf(stderr, "error: give --data and --collection, or --segment-out\n");
      return 2;
    }
    vista::engine::SegmentManifest header;
    std::optional<fs::path> staging;
    if (to_segment) {
      if (!a->shard.empty()) {
        auto shard = vista::engine::ShardSpec::parse(a->shard);
        if (!shard.is_ok()) return vista::cli::report_failure(shard.status());
        header.shard = *shard;
      }
      for (const auto& s : a->sources) {
        std::error_code ec;
        const fs::path p = fs::absolute(s, ec);
        header.sources.push_back((ec ? fs::path(s) : p).lexically_normal().string());
      }
      auto done = finished_segment(a->segment_out, header);
      if (!done.is_ok()) return vista::cli::report_failure(done.status());
      if (*done) {
        std::printf("segment %s is complete already (%lld documents); nothing to do\n",
                    a->segment_out.c_str(), static_cast<long long>((*done)->count));
        return 0;
      }
      staging = vista::engine::segment_staging_dir(a->segment_out);
      a->engine.data_dir = staging->string();
      a->collection = kStagingCollection;
    }
    // A bad name or a missing source fails before the model is loaded.
    if (!to_segment) {
      if (vista::Status s = vista::engine::Catalog::validate_name(a->collection); !s.is_ok())
        return vista::cli::report_failure(s);
    }
    {
      std::vector<fs::path> sources(a->sources.begin(), a->sources.end());
      if (auto walker = vista::engine::SourceWalker::create(sources); !walker.is_ok())
        return vista::cli::report_failure(walker.status());
    }
    // A GPU wants a few hundred images per call, and leaves the CPU cores to decoding.
    const auto device = vista::encoder::parse_device(a->engine.device);
    if (batch->count() == 0) a->batch = static_cast<int>(vista::encoder::default_max_batch(*device));
    if (decode_threads->count() == 0 && device->cuda) {
      a->decode_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    }
    std::string mode = a->progress;
    if (mode == "auto") mode = isatty(STDERR_FILENO) ? "bar" : "log";
    std::mutex out_mutex;
    bool bar_drawn = false;
    auto last_log = std::chrono::steady_clock::time_point{};
    auto show_progress = [&](const vista::engine::IngestProgress& p) {
      std::lock_guard<std::mutex> lock(out_mutex);
      if (mode == "bar") {
        std::fprintf(stderr, "\r%s\x1b[K", progress_line(p, 72).c_str());
        std::fflush(stderr);
        bar_drawn = true;
      } else if (mode == "log") {
        auto now = std::chrono::steady_clock::now();
        if (now - last_log < std::chrono::seconds(10)) return;
        last_log = now;
        spdlog::info("progress {}", progress_line(p, 40));
      }
    };

    // Kept until the process exits: a signal that arrives after the last batch (while the
    // collection is closed, the summary printed, the process torn down) must not turn a
    // finished run into a killed one.
    g_cancel = false;
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);

    vista::Result<vista::engine::IngestSummary> result =
        vista::Status::internal("ingestion did not report a summary");
    std::optional<vista::engine::SegmentManifest> segment;
    std::optional<fs::path> errors_path;
    if (!a->errors.empty()) errors_path = fs::absolute(a->errors);
    if (staging) {
      // A segment is built in its own private staging folder: no server can hold it.
      auto engine = a->engine.open(/*with_model=*/true, /*must_exist=*/false);
      if (!engine.is_ok()) return vista::cli::report_failure(engine.status());
      vista::engine::IngestOptions options;
      options.collection = a->collection;
      for (const auto& s : a->sources) options.sources.emplace_back(s);
      options.errors_path = *staging / "errors.jsonl";
      options.shard = header.shard;
      options.prepare_threads = a->decode_threads;
      options.batch_size = a->batch;
      options.write_batch = a->write_batch;
      options.index_spec = a->index_spec;
      options.cancel = &g_cancel;
      vista::engine::Ingestor ingestor(**engine);
      ingestor.set_progress_callback(show_progress, std::chrono::milliseconds(250));
      result = ingestor.run(options);
      if (bar_drawn) std::fputc('\n', stderr);
      if (result.is_ok() && !result->cancelled) {
        auto written = write_segment_from(**engine, header, options.errors_path, a->segment_out);
        if (!written.is_ok()) return vista::cli::report_failure(written.status());
        segment = std::move(written).value();
      }
      vista::Status closed = (*engine)->close();
      if (!result.is_ok()) return vista::cli::report_failure(result.status());
      if (!closed.is_ok()) return vista::cli::report_failure(closed);
      if (segment) {
        // The segment is complete and fsynced: the staging collection has served its purpose.
        std::error_code ec;
        fs::remove_all(*staging, ec);
        if (!a->errors.empty()) fs::copy_file(fs::path(a->segment_out) / vista::engine::kSegmentErrorsFile, a->errors, fs::copy_options::overwrite_existing, ec);
      }
    } else {
      // Into a collection through the data directory's one door (cli/data_client.h): the
      // running server when there is one, else this process. Paths travel to whoever runs the
      // ingestion, maybe a server with another working directory: they are made absolute.
      nlohmann::json body = {{"sources", nlohmann::json::array()},
                             {"batch", a->batch},
                             {"write_batch", a->write_batch}};
      for (const auto& s : a->sources) {
        std::error_code ec;
        const fs::path p = fs::absolute(s, ec);
        body["sources"].push_back((ec ? fs::path(s) : p).lexically_normal().string());
      }
      if (errors_path) body["errors"] = errors_path->string();
      if (!a->index_spec.empty()) body["index"] = a->index_spec;
      if (a->decode_threads > 0) body["decode_threads"] = a->decode_threads;
      auto client = vista::cli::DataClient::open(a->engine, /*with_model=*/true,
                                                 /*must_exist=*/false);
      if (!client.is_ok()) return vista::cli::report_failure(client.status());
      vista::Status failure;
      auto on_line = [&](const nlohmann::json& line) {
        if (line.contains("progress")) {
          auto p = vista::engine::ingest_progress_from_json(line["progress"]);
          if (p.is_ok()) show_progress(*p);
        } else if (line.contains("summary")) {
          result = vista::engine::ingest_summary_from_json(line["summary"]);
        } else if (line.contains("error")) {
          failure = vista::cli::status_for_http(
              line.value("http_status", 500), line["error"].value("message", "ingestion failed"));
        }
      };
      vista::Status streamed =
          (*client)->stream(vista::cli::collection_path(a->collection, "/ingest"), body, on_line,
                            [] { return !g_cancel.load(); });
      if (bar_drawn) std::fputc('\n', stderr);
      vista::Status closed = (*client)->close();
      if (!streamed.is_ok()) return vista::cli::report_failure(streamed);
      if (!failure.is_ok()) return vista::cli::report_failure(failure);
      if (!closed.is_ok()) return vista::cli::report_failure(closed);
      if (!result.is_ok() && g_cancel) {
        // Stopped while a server did the work: it finishes its current batch and keeps it.
        std::printf("interrupted; what was done is kept; run the same command again to continue\n");
        return 130;
      }
      if (!result.is_ok()) return vista::cli::report_failure(result.status());
    }
    const auto& s = *result;
    if (s.empty_source)
      std::fprintf(stderr,
                   "warning: nothing to ingest in %s; collection '%s' was not created or changed\n",
                   a->sources.size() == 1 ? a->sources[0].c_str() : "the sources",
                   s.collection.c_str());
    if (a->json) {
      nlohmann::json j = vista::engine::ingest_summary_json(s);
      if (segment) {
        j.erase("collection");
        j["segment"] = a->segment_out;
        j["shard"] = header.shard ? nlohmann::json(header.shard->to_string()) : nlohmann::json();
        j["count"] = segment->count;
      }
      std::cout << j.dump() << "\n";
    } else if (!s.empty_source) {
      const std::string target =
          staging ? "segment " + a->segment_out : "'" + s.collection + "'";
      std::printf("%s %s: %lld ingested, %lld updated, %lld unchanged, %lld failed",
                  s.cancelled ? "interrupted" : "done", target.c_str(),
                  static_cast<long long>(s.inserted), static_cast<long long>(s.updated),
                  static_cast<long long>(s.unchanged), static_cast<long long>(s.failed));
      if (s.skipped) std::printf(", %lld skipped (not images)", static_cast<long long>(s.skipped));
      std::printf(" in %s (%.2f documents/s); the %s holds %lld documents\n",
                  format_duration(s.elapsed_seconds).c_str(), s.encoded_per_second(),
                  staging ? "segment" : "collection",
                  static_cast<long long>(segment ? segment->count : s.collection_count));
      if (s.inserted + s.updated > 0 && s.stages.wall_seconds > 0) {
        const auto& st = s.stages;
        std::printf(
            "bounded by %s; busy: reading %.0f%% and decoding %.0f%% of %d thread(s), encoding "
            "%.0f%%, writing %.0f%%\n",
            st.bounding_stage().c_str(), 100 * st.busy("reading"), 100 * st.busy("decoding"),
            st.prepare_threads, 100 * st.busy("encoding"), 100 * st.busy("writing"));
      }
      if (segment)
        std::printf("import it with: vista import --data DATA --collection NAME %s\n",
                    a->segment_out.c_str());
      if (s.truncated)
        std::printf("note: %lld text(s) were cut to the model's token limit\n",
                    static_cast<long long>(s.truncated));
      if (s.failed) {
        std::printf("failed:\n");
        for (const auto& f : s.first_failures) {
          // Most reasons name the file already.
          const bool named = f.reason.rfind(f.source, 0) == 0;
          std::printf("  %s%s%s\n", named ? "" : f.source.c_str(), named ? "" : ": ",
                      f.reason.c_str());
        }
        if (s.failed > static_cast<int64_t>(s.first_failures.size()))
          std::printf("  ... and %lld more\n",
                      static_cast<long long>(s.failed - s.first_failures.size()));
        if (!a->errors.empty())
          std::printf("every failure is listed in %s\n", a->errors.c_str());
        else if (s.errors_report)
          std::printf("every failure is listed in %s\n", s.errors_report->c_str());
      }
      if (s.cancelled) std::printf("run the same command again to continue\n");
    }
    std::fflush(stdout);
    if (s.cancelled) return 130;
    return s.failed > 0 ? 1 : 0;
  };
}

}  // namespace

VISTA_REGISTER_COMMAND(ingest, "ingest",
                       "Add images and texts from folders and manifests to a collection",
                       setup_ingest);
