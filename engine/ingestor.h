// Ingestor: turns folders and manifests (engine/ingest_source.h) into documents of a collection.
//
// Pipeline, each stage connected to the next by a BoundedQueue (so memory stays bounded and a
// slow stage holds back the ones before it):
//
//   walker (1 thread)          enumerates SourceItems in a deterministic order
//   -> preparers (N threads)   read the image file, hash the content (image bytes + text + model
//                              identity), look the id up: unchanged items end here; new and
//                              changed ones are decoded and cropped
//   -> encoder (1 thread)      batches of batch_size inputs through the Encoder (whose own
//                              intra-op threads do the arithmetic)
//   -> writer (1 thread)       upserts up to write_batch documents per atomic, fsynced batch
//                              (Engine::upsert_documents: a replaced document's stored image
//                              is removed)
//
// Idempotence and resumption. Document id = manifest id or path relative to the source folder;
// content_hash = document_content_hash(model, text, image bytes). classify_change()
// (engine/engine.h, the rule add_documents follows too) decides: a re-run skips every item whose
// stored hash, metadata and source match (kUnchanged), rewrites metadata or source changes (a
// moved folder) without encoding, and re-encodes changed content. An item is counted done only once
// its batch is committed, so a run stopped at any point (cancel flag, SIGKILL, power loss with sync
// writes) leaves only acknowledged items stored, and a re-run does the rest.
//
// Failures. A bad item (unreadable or undecodable image, bad manifest row, duplicate or invalid
// id, text the encoder refuses) never stops the run: it is counted, logged at debug level and
// written to the errors report as one JSON line {"source", "id"?, "reason", "code"}. A batch the
// encoder rejects as a whole is retried item by item. Only failures that make further progress
// pointless stop the run: the collection cannot be opened or created, the model differs from the
// collection's, or a write to storage fails (IOError/Corruption); run() then returns that Status
// after stopping the pipeline cleanly (what was committed stays).
//
// Thread-safety: run() may be called from one thread at a time per Ingestor; concurrent ingests
// into the same collection work (writes are serialised by the collection) but may report the
// same new id as inserted twice.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/shard.h"

namespace vista::engine {

class Engine;

struct IngestOptions {
  std::string collection;
  std::vector<std::filesystem::path> sources;
  // File reading + hashing + decoding workers. 0: one per two hardware threads (at least one),
  // which leaves the encoder's intra-op threads the rest of the machine.
  int prepare_threads = 0;
  int batch_size = 16;   // inputs per encoder call
  int write_batch = 64;  // most documents per committed write (1..kMaxIngestWriteBatch)
  // Capacity of each queue between stages; 0: 2 * batch_size.
  int queue_capacity = 0;
  // JSONL errors report (created or truncated at the start). Empty: no report file.
  std::optional<std::filesystem::path> errors_path;
  // Used when errors_path is empty: the report is created there on the first failure only
  // (engine/ingest_report.h: default_errors_report), so clean runs leave no files behind.
  std::optional<std::filesystem::path> fallback_errors_path;
  // Set from elsewhere (a signal handler) to stop: no new item starts, what is encoded is
  // committed, run() returns a summary with cancelled = true.
  const std::atomic<bool>* cancel = nullptr;
  // Index spec when the collection is created by this run; empty: the engine's default.
  std::string index_spec;
  // Only the items of this shard (engine/shard.h); the others are passed over before any file
  // is read and counted nowhere. Unset: every item.
  std::optional<ShardSpec> shard;
};

struct IngestProgress {
  int64_t total = -1;  // candidates counted up front (an upper bound); -1 while unknown
  int64_t done = 0;    // inserted + updated + unchanged + failed
  int64_t inserted = 0;
  int64_t updated = 0;
  int64_t unchanged = 0;
  int64_t failed = 0;
  int64_t skipped = 0;    // files in folders that are not images (not counted in done)
  int64_t truncated = 0;  // texts cut to the model's token limit
  double elapsed_seconds = 0;
  // Documents encoded and committed per second over the run so far (inserted + updated).
  double encoded_per_second() const {
    return elapsed_seconds > 0 ? static_cast<double>(inserted + updated) / elapsed_seconds : 0;
  }
  // Items finished per second (any outcome).
  double done_per_second() const {
    return elapsed_seconds > 0 ? static_cast<double>(done) / elapsed_seconds : 0;
  }
};

// One failed item, as the errors report has it.
struct IngestFailure {
  std::string source;  // the file, or "manifest:line"
  std::optional<std::string> id;
  std::string reason;
  std::string code;  // status_code_name()
};

// How busy each stage of the pipeline was: seconds spent working (not waiting on its queues),
// summed over the stage's threads. A stage whose threads were busy nearly all the time bounds
// the rate; the others waited for it.
struct IngestStages {
  double reading_seconds = 0;   // reading files, hashing, looking up stored documents
  double decoding_seconds = 0;  // decoding and cropping images
  double encoding_seconds = 0;  // encoder calls
  double writing_seconds = 0;   // committed upserts
  int prepare_threads = 0;      // threads that read and decode (one encoder, one writer)
  double wall_seconds = 0;

  // Busy share of the stage's threads over the run, 0..1: reading and decoding share the
  // prepare threads.
  double busy(const std::string& stage) const;
  // "reading", "decoding", "encoding" or "writing": the stage with the largest busy share
  // (reading and decoding together, when their threads were the busiest, name the larger).
  std::string bounding_stage() const;
};

struct IngestSummary : IngestProgress {
  IngestStages stages;
  bool cancelled = false;
  std::string collection;
  int64_t collection_count = 0;  // documents in the collection afterwards
  // The sources held nothing to ingest; no collection was created for them.
  bool empty_source = false;
  std::optional<std::filesystem::path> errors_report;  // where the failures were written
  std::vector<IngestFailure> first_failures;           // the first kFirstFailures of them
};

inline constexpr size_t kFirstFailures = 5;

class Ingestor {
 public:
  using ProgressFn = std::function<void(const IngestProgress&)>;

  // `engine` must have a model and outlive the Ingestor.
  explicit Ingestor(Engine& engine) : engine_(engine) {}

  // Called from a reporter thread every `interval`, and once more at the end.
  void set_progress_callback(ProgressFn fn,
                             std::chrono::milliseconds interval = std::chrono::milliseconds(500)) {
    progress_ = std::move(fn);
    progress_interval_ = interval;
  }

  // Runs the whole pipeline. Fails before starting for a missing source, no model, a bad
  // collection name or a model mismatch; fails after stopping for a storage failure (see above).
  // Otherwise OK with the summary, even when items failed or the run was cancelled.
  Result<IngestSummary> run(const IngestOptions& options);

 private:
  Engine& engine_;
  ProgressFn progress_;
  std::chrono::milliseconds progress_interval_{500};
};

}  // namespace vista::engine
