// `vista ingest`: folders and manifests into a collection (engine/ingestor.h), with a progress
// bar on a terminal, log lines otherwise, an errors report and a summary.
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <mutex>

#include <filesystem>
#include <optional>

#include "cli/command.h"
#include "cli/data_client.h"
#include "common/logging.h"
#include "engine/ingest_report.h"

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

vista::cli::CommandRunner setup_ingest(CLI::App& sub) {
  struct Args {
    vista::cli::EngineArgs engine;
    std::string collection;
    std::vector<std::string> sources;
    std::string errors;
    int decode_threads = 0;
    int batch = 16;
    std::string index_spec;
    std::string progress = "auto";
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  a->engine.add_data(sub);
  sub.add_option("--collection", a->collection, "collection to add to (created on first use)")
      ->required();
  a->engine.add_model(sub);
  sub.add_option("--errors", a->errors,
                 "write failed items to this JSONL file ({\"source\", \"id\", \"reason\", "
                 "\"code\"} per line; default: DATA/reports/ingest-NAME-TIME.jsonl when an "
                 "item fails)");
  sub.add_option("--decode-threads", a->decode_threads,
                 "file reading and decoding threads (default: half the cores, at least 1)")
      ->check(CLI::NonNegativeNumber);
  sub.add_option("--batch", a->batch, "inputs per encoder call")
      ->check(CLI::Range(1, 1024))
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

  return [a]() -> int {
    namespace fs = std::filesystem;
    // Paths travel to whoever runs the ingestion (maybe a server with another working
    // directory): make them absolute here.
    nlohmann::json body = {{"sources", nlohmann::json::array()}, {"batch", a->batch}};
    for (const auto& s : a->sources) {
      std::error_code ec;
      body["sources"].push_back(fs::absolute(s, ec).lexically_normal().string());
    }
    if (!a->errors.empty()) {
      std::error_code ec;
      body["errors"] = fs::absolute(a->errors, ec).string();
    }
    if (!a->index_spec.empty()) body["index"] = a->index_spec;
    if (a->decode_threads > 0) body["decode_threads"] = a->decode_threads;

    auto client = vista::cli::DataClient::open(a->engine, /*with_model=*/true,
                                               /*must_exist=*/false);
    if (!client.is_ok()) return vista::cli::report_failure(client.status());

    std::string mode = a->progress;
    if (mode == "auto") mode = isatty(STDERR_FILENO) ? "bar" : "log";
    bool bar_drawn = false;
    auto last_log = std::chrono::steady_clock::now();
    std::optional<vista::engine::IngestSummary> summary;
    vista::Status failure;
    auto on_line = [&](const nlohmann::json& line) {
      if (line.contains("progress")) {
        auto p = vista::engine::ingest_progress_from_json(line["progress"]);
        if (!p.is_ok()) return;
        if (mode == "bar") {
          std::fprintf(stderr, "\r%s\x1b[K", progress_line(*p, 72).c_str());
          std::fflush(stderr);
          bar_drawn = true;
        } else if (mode == "log") {
          const auto now = std::chrono::steady_clock::now();
          if (now - last_log < std::chrono::seconds(10)) return;
          last_log = now;
          spdlog::info("progress {}", progress_line(*p, 40));
        }
      } else if (line.contains("summary")) {
        auto s = vista::engine::ingest_summary_from_json(line["summary"]);
        if (s.is_ok()) summary = std::move(s).value();
        else failure = s.status();
      } else if (line.contains("error")) {
        failure = vista::cli::status_for_http(line.value("http_status", 500),
                                              line["error"].value("message", "ingestion failed"));
      }
    };

    // Kept until the process exits: a signal that arrives after the last batch (while the
    // collection is closed, the summary printed, the process torn down) must not turn a
    // finished run into a killed one.
    g_cancel = false;
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
    vista::Status streamed =
        (*client)->stream(vista::cli::collection_path(a->collection, "/ingest"), body, on_line,
                          [] { return !g_cancel.load(); });
    if (bar_drawn) std::fputc('\n', stderr);
    vista::Status closed = (*client)->close();
    if (!streamed.is_ok()) return vista::cli::report_failure(streamed);
    if (!failure.is_ok()) return vista::cli::report_failure(failure);
    if (!closed.is_ok()) return vista::cli::report_failure(closed);
    if (!summary) {
      // Stopped while a server did the work: it finishes its current batch and keeps it.
      std::printf("interrupted; what was done is kept; run the same command again to continue\n");
      return 130;
    }
    const auto& s = *summary;
    if (a->json) {
      std::cout << vista::engine::ingest_summary_json(s).dump() << "\n";
    } else if (s.empty_source) {
      std::fprintf(stderr,
                   "warning: nothing to ingest in %s; collection '%s' was not created or changed\n",
                   a->sources.size() == 1 ? a->sources[0].c_str() : "the sources",
                   s.collection.c_str());
    } else {
      std::printf("%s '%s': %lld ingested, %lld updated, %lld unchanged, %lld failed",
                  s.cancelled ? "interrupted" : "done", s.collection.c_str(),
                  static_cast<long long>(s.inserted), static_cast<long long>(s.updated),
                  static_cast<long long>(s.unchanged), static_cast<long long>(s.failed));
      if (s.skipped) std::printf(", %lld skipped (not images)", static_cast<long long>(s.skipped));
      std::printf(" in %s (%.2f documents/s); the collection holds %lld documents\n",
                  format_duration(s.elapsed_seconds).c_str(), s.encoded_per_second(),
                  static_cast<long long>(s.collection_count));
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
        if (s.errors_report)
          std::printf("every failure is listed in %s\n", s.errors_report->c_str());
      }
      if (s.cancelled) std::printf("run the same command again to continue\n");
    }
    std::fflush(stdout);
    if (s.empty_source && a->json)
      std::fprintf(stderr, "warning: nothing to ingest; collection '%s' was not created or changed\n",
                   s.collection.c_str());
    if (s.cancelled) return 130;
    return s.failed > 0 ? 1 : 0;
  };
}

}  // namespace

VISTA_REGISTER_COMMAND(ingest, "ingest",
                       "Add images and texts from folders and manifests to a collection",
                       setup_ingest);
