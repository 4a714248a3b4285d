#include "engine/ingestor.h"

#include <algorithm>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/logging.h"
#include "common/test_pause.h"
#include "engine/bounded_queue.h"
#include "engine/encode_queue.h"
#include "engine/engine.h"
#include "engine/ingest_source.h"

namespace vista::engine {

namespace {

// The document's `source`: the absolute image path when there is an image (so the server can
// return the picture and its thumbnails, and users can find the file), else where the row came
// from ("<manifest>:<line>"). Errors keep naming the manifest line.
std::string stored_source(const SourceItem& item) {
  if (!item.image_path) return item.source;
  std::error_code ec;
  const std::filesystem::path absolute = std::filesystem::absolute(*item.image_path, ec);
  return (ec ? *item.image_path : absolute).lexically_normal().string();
}

using Clock = std::chrono::steady_clock;

// An item whose content is read, hashed and (when it must be encoded) decoded.
struct Prepared {
  SourceItem item;
  std::string hash;
  EncodeItem input;
  bool existed = false;
};

// A document ready to commit.
struct Pending {
  Document doc;
  ItemStatus status = ItemStatus::kInserted;
  bool truncated = false;
};

bool is_storage_failure(const Status& s) {
  return s.code() == StatusCode::kIOError || s.code() == StatusCode::kCorruption;
}

// The JSONL errors report; every line is flushed so a killed run still leaves a useful report.
class ErrorReport {
 public:
  Status open(const std::optional<std::filesystem::path>& path,
              const std::optional<std::filesystem::path>& fallback) {
    if (!path) {
      lazy_path_ = fallback;
      return Status::ok();
    }
    out_.open(*path, std::ios::out | std::ios::trunc);
    if (!out_) return Status::io_error("cannot write the errors report " + path->string());
    return Status::ok();
  }
  void add(const std::string& source, const std::optional<std::string>& id, const Status& error) {
    spdlog::debug("failed: {}: {}", source, error.message());
    std::lock_guard<std::mutex> lock(mutex_);
    if (first_.size() < kFirstFailures)
      first_.push_back({source, id, error.message(), std::string(status_code_name(error.code()))});
    if (lazy_path_ && !out_.is_open()) {
      out_.open(*lazy_path_, std::ios::out | std::ios::trunc);
      if (!out_) spdlog::warn("cannot write the errors report {}", lazy_path_->string());
      lazy_path_.reset();
    }
    if (!out_.is_open()) return;
    nlohmann::json line = {{"source", source},
                           {"reason", error.message()},
                           {"code", std::string(status_code_name(error.code()))}};
    if (id) line["id"] = *id;
    out_ << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    out_.flush();
  }

  std::vector<IngestFailure> first_failures() {
    std::lock_guard<std::mutex> lock(mutex_);
    return first_;
  }

 private:
  std::mutex mutex_;
  std::ofstream out_;
  std::optional<std::filesystem::path> lazy_path_;  // opened on the first failure
  std::vector<IngestFailure> first_;
};

// Counters shared by the stages; snapshot() is what the progress callback sees.
struct Counters {
  std::atomic<int64_t> total{-1}, inserted{0}, updated{0}, unchanged{0}, failed{0}, skipped{0},
      truncated{0};
  // Busy time per stage (IngestStages), in nanoseconds.
  std::atomic<int64_t> reading_ns{0}, decoding_ns{0}, encoding_ns{0}, writing_ns{0};
  Clock::time_point start = Clock::now();

  IngestProgress snapshot() const {
    IngestProgress p;
    p.total = total.load();
    p.inserted = inserted.load();
    p.updated = updated.load();
    p.unchanged = unchanged.load();
    p.failed = failed.load();
    p.skipped = skipped.load();
    p.truncated = truncated.load();
    p.done = p.inserted + p.updated + p.unchanged + p.failed;
    p.elapsed_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return p;
  }
};

// Adds the time from construction to stop() (or destruction) to a stage's busy counter.
class StageTimer {
 public:
  explicit StageTimer(std::atomic<int64_t>& total) : total_(&total), start_(Clock::now()) {}
  ~StageTimer() { stop(); }
  StageTimer(const StageTimer&) = delete;
  StageTimer& operator=(const StageTimer&) = delete;

  void stop() {
    if (!total_) return;
    *total_ += std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start_).count();
    total_ = nullptr;
  }

 private:
  std::atomic<int64_t>* total_;
  Clock::time_point start_;
};

// Calls `progress` every `interval` from its own thread until destroyed (no thread when
// `progress` is empty).
class ProgressReporter {
 public:
  ProgressReporter(const Ingestor::ProgressFn& progress, std::chrono::milliseconds interval,
                   const Counters& counters) {
    if (!progress) return;
    thread_ = std::thread([this, &progress, interval, &counters] {
      std::unique_lock<std::mutex> lock(mutex_);
      while (!cv_.wait_for(lock, interval, [&] { return finished_; }))
        progress(counters.snapshot());
    });
  }
  ~ProgressReporter() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      finished_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool finished_ = false;
  std::thread thread_;
};

// One run of the pipeline: the state the stages share, and one method per stage.
class Pipeline {
 public:
  Pipeline(const IngestOptions& options, const SourceWalker& walker, Engine& engine,
           std::shared_ptr<Collection> coll, const encoder::Encoder& encoder,
           const encoder::DecodeLimits& limits, ErrorReport& report, size_t batch_size,
           size_t write_batch, size_t capacity)
      : options_(options),
        walker_(walker),
        engine_(engine),
        coll_(std::move(coll)),
        model_(*engine.model_identity()),  // checked against the collection's by the caller
        encoder_(encoder),
        image_size_(encoder_image_size(encoder)),
        limits_(limits),
        report_(report),
        batch_size_(batch_size),
        write_batch_(write_batch),
        items_(capacity),
        prepared_(capacity),
        writes_(std::max(capacity, write_batch)) {}

  Counters& counters() { return counters_; }

  // Runs every stage on its own thread(s) and waits for all of them; `progress` (optional) is
  // called every `interval` meanwhile. Returns the first fatal failure, OK otherwise.
  Status run(int prepare_threads, const Ingestor::ProgressFn& progress,
             std::chrono::milliseconds interval) {
    std::thread walker([this] { walk(); });
    live_preparers_ = prepare_threads;
    std::vector<std::thread> preparers;
    for (int t = 0; t < prepare_threads; ++t) preparers.emplace_back([this] { prepare(); });
    std::thread encoder([this] { encode(); });
    std::thread writer([this] { write(); });
    ProgressReporter reporter(progress, interval, counters_);

    walker.join();
    for (auto& t : preparers) t.join();
    encoder.join();
    writer.join();
    return fatal();
  }

 private:
  // Walker stage: enumerates the sources (this shard's share of them) into items_.
  void walk() {
    Status s = walker_.walk(
        [&](SourceItem&& item) {
          if (!in_shard(item.id)) return !stopping();
          return !stopping() && items_.push(std::move(item));
        },
        [&](SourceError&& e) {
          if (in_shard(e.id.value_or(e.source))) fail_item(e.source, e.id, e.error);
        },
        [&](const std::filesystem::path& p) {
          if (!in_shard(p.string())) return;
          spdlog::debug("skipped (not an image): {}", p.string());
          ++counters_.skipped;
          --counters_.total;
        });
    if (!s.is_ok()) spdlog::warn("{}", s.message());
    items_.close();
  }

  // Entries of other shards leave the count of candidates and go nowhere else.
  bool in_shard(std::string_view key) {
    if (!options_.shard || options_.shard->contains(key)) return true;
    --counters_.total;
    return false;
  }

  // Preparer stage (several threads): items_ -> prepared_ (or writes_ for metadata-only changes).
  void prepare() {
    while (auto item = items_.pop()) {
      if (stopping()) continue;  // drain so the walker is never stuck
      prepare_one(*item);
    }
    if (--live_preparers_ == 0) prepared_.close();
  }

  void prepare_one(SourceItem& item) {
    StageTimer reading(counters_.reading_ns);
    std::optional<std::string> bytes;
    if (item.image_path) {
      auto read = read_file_bytes(*item.image_path, limits_.max_bytes);
      if (!read.is_ok()) return fail_item(item.source, item.id, read.status());
      bytes = std::move(read).value();
    }
    std::string hash = document_content_hash(model_, item.text, bytes);
    auto found = coll_->get({item.id});
    if (!found.is_ok()) return fail_stored(item, found.status());
    const std::optional<Document>& old = found->front();
    switch (classify_change(old, hash, item.metadata, stored_source(item))) {
      case Change::kUnchanged: ++counters_.unchanged; return;
      case Change::kRewrite: return rewrite(item);
      case Change::kInsert:
      case Change::kReencode: break;
    }
    Content content;
    content.text = item.text;
    content.image_bytes = std::move(bytes);
    reading.stop();
    StageTimer decoding(counters_.decoding_ns);
    auto input = prepare_content(content, limits_, image_size_);
    decoding.stop();
    if (!input.is_ok()) {
      Status s = input.status();
      if (item.image_path) s = s.with_context(item.image_path->string());
      return fail_item(item.source, item.id, s);
    }
    prepared_.push(
        Prepared{std::move(item), std::move(hash), std::move(input).value(), old.has_value()});
  }

  // Same content, new metadata or source: keep the stored vector.
  void rewrite(SourceItem& item) {
    auto full = coll_->get({item.id}, /*include_vectors=*/true);
    if (!full.is_ok() || !full->front()) {
      return fail_stored(item, full.is_ok()
                                   ? Status::not_found("document vanished during the update")
                                   : full.status());
    }
    Pending p;
    p.doc = rewritten(std::move(*full->front()), item.metadata, stored_source(item));
    p.status = ItemStatus::kUpdated;
    writes_.push(std::move(p));
  }

  // Encoder stage: prepared_ -> writes_, batch_size_ inputs per encoder call.
  void encode() {
    for (;;) {
      auto batch = prepared_.pop_batch(batch_size_, std::chrono::milliseconds(20));
      if (batch.empty()) break;
      if (stopping()) continue;
      StageTimer timer(counters_.encoding_ns);
      encode_batch(batch);
    }
    writes_.close();
  }

  // A batch the encoder rejects as a whole is retried item by item, so only the culprit fails.
  void encode_batch(std::vector<Prepared>& batch) {
    std::vector<EncodeItem> inputs;
    inputs.reserve(batch.size());
    for (auto& p : batch) inputs.push_back(std::move(p.input));
    auto out = encode_items(encoder_, inputs);
    if (out.is_ok() && out->size() == batch.size()) {
      for (size_t i = 0; i < batch.size(); ++i) finish_encoded(batch[i], std::move((*out)[i]));
      return;
    }
    if (out.is_ok()) {
      return set_fatal(Status::internal("the encoder returned " + std::to_string(out->size()) +
                                        " vectors for " + std::to_string(batch.size()) +
                                        " inputs"));
    }
    spdlog::debug("encoder batch of {} failed ({}); retrying one by one", batch.size(),
                  out.status().message());
    for (size_t i = 0; i < batch.size(); ++i) {
      auto one = encode_items(encoder_, {inputs[i]});
      if (one.is_ok() && one->size() == 1)
        finish_encoded(batch[i], std::move(one->front()));
      else
        fail_item(batch[i].item.source, batch[i].item.id,
                  one.is_ok() ? Status::internal("the encoder returned no vector") : one.status());
    }
  }

  void finish_encoded(Prepared& p, Embedding&& e) {
    Pending w;
    w.doc.id = p.item.id;
    w.doc.vector = std::move(e.vector);
    w.doc.metadata = std::move(p.item.metadata);
    w.doc.text = std::move(p.item.text);
    w.doc.source = stored_source(p.item);
    w.doc.content_hash = std::move(p.hash);
    w.status = p.existed ? ItemStatus::kUpdated : ItemStatus::kInserted;
    w.truncated = e.truncated;
    writes_.push(std::move(w));
  }

  // Writer stage: everything that reaches it is committed, cancelled or not, so that
  // acknowledged work is never thrown away.
  void write() {
    for (;;) {
      auto batch = writes_.pop_batch(write_batch_, std::chrono::milliseconds(200));
      if (batch.empty()) break;
      if (stop_.load()) {
        const Status why = fatal();
        for (auto& p : batch) fail_item(p.doc.source.value_or(p.doc.id), p.doc.id, why);
        continue;
      }
      StageTimer timer(counters_.writing_ns);
      write_batch(batch);
      // Tests interrupt the run here, between two commits (tests/cli_ingest_test.cpp).
      test_pause_point("ingest-batch-committed", [this] { return stopping(); });
    }
  }

  // One atomic upsert; a batch refused for one bad document is retried one by one.
  void write_batch(const std::vector<Pending>& batch) {
    std::vector<Document> docs;
    docs.reserve(batch.size());
    for (const auto& p : batch) docs.push_back(p.doc);
    auto r = engine_.upsert_documents(*coll_, model_, docs);
    if (r.is_ok()) {
      for (const auto& p : batch) count_written(p);
      return;
    }
    if (is_storage_failure(r.status()) || batch.size() == 1) {
      if (is_storage_failure(r.status())) set_fatal(r.status());
      for (const auto& p : batch) fail_item(p.doc.source.value_or(p.doc.id), p.doc.id, r.status());
      return;
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      auto one = engine_.upsert_documents(*coll_, model_, {docs[i]});
      if (one.is_ok()) {
        count_written(batch[i]);
      } else {
        if (is_storage_failure(one.status())) set_fatal(one.status());
        fail_item(docs[i].source.value_or(docs[i].id), docs[i].id, one.status());
      }
    }
  }

  void count_written(const Pending& p) {
    if (p.status == ItemStatus::kInserted)
      ++counters_.inserted;
    else
      ++counters_.updated;
    if (p.truncated) ++counters_.truncated;
  }

  void fail_item(const std::string& source, const std::optional<std::string>& id, const Status& s) {
    report_.add(source, id, s);
    ++counters_.failed;
  }

  // A failed read of the stored document: the item fails, and a storage failure stops the run.
  void fail_stored(const SourceItem& item, const Status& s) {
    if (is_storage_failure(s)) set_fatal(s);
    fail_item(item.source, item.id, s);
  }

  void set_fatal(const Status& s) {
    std::lock_guard<std::mutex> lock(fatal_mutex_);
    if (fatal_.is_ok()) fatal_ = s;
    stop_ = true;
  }

  Status fatal() {
    std::lock_guard<std::mutex> lock(fatal_mutex_);
    return fatal_;
  }

  bool stopping() const { return stop_.load() || (options_.cancel && options_.cancel->load()); }

  const IngestOptions& options_;
  const SourceWalker& walker_;
  Engine& engine_;
  const std::shared_ptr<Collection> coll_;
  const ModelIdentity model_;
  const encoder::Encoder& encoder_;
  const int image_size_;
  const encoder::DecodeLimits limits_;
  ErrorReport& report_;
  const size_t batch_size_;
  const size_t write_batch_;

  BoundedQueue<SourceItem> items_;
  BoundedQueue<Prepared> prepared_;
  BoundedQueue<Pending> writes_;
  std::atomic<int> live_preparers_{0};
  Counters counters_;

  std::atomic<bool> stop_{false};  // a fatal failure
  std::mutex fatal_mutex_;
  Status fatal_;
};

}  // namespace

double IngestStages::busy(const std::string& stage) const {
  if (wall_seconds <= 0) return 0;
  const double prepare_capacity = wall_seconds * std::max(1, prepare_threads);
  if (stage == "reading") return reading_seconds / prepare_capacity;
  if (stage == "decoding") return decoding_seconds / prepare_capacity;
  if (stage == "encoding") return encoding_seconds / wall_seconds;
  if (stage == "writing") return writing_seconds / wall_seconds;
  return 0;
}

std::string IngestStages::bounding_stage() const {
  // Reading and decoding run on the same threads: together they are one stage's load.
  const double prepare = busy("reading") + busy("decoding");
  const double encode = busy("encoding"), write = busy("writing");
  if (prepare >= encode && prepare >= write) {
    return reading_seconds > decoding_seconds ? "reading" : "decoding";
  }
  return encode >= write ? "encoding" : "writing";
}

Result<IngestSummary> Ingestor::run(const IngestOptions& o) {
  if (!engine_.has_model())
    return Status::failed_precondition("ingestion needs a model (pass --model DIR)");
  VISTA_ASSIGN_OR_RETURN(auto walker, SourceWalker::create(o.sources));
  VISTA_RETURN_IF_ERROR(Catalog::validate_name(o.collection));
  const int64_t candidates = walker.count_candidates();
  if (candidates == 0) {
    // Nothing to add: create nothing (an empty collection would only hide the mistake).
    IngestSummary summary;
    summary.collection = o.collection;
    summary.total = 0;
    summary.empty_source = true;
    if (auto existing = engine_.catalog().get(o.collection); existing.is_ok())
      summary.collection_count = (*existing)->count();
    return summary;
  }
  VISTA_ASSIGN_OR_RETURN(
      auto coll, engine_.collection_for_writing(o.collection, /*create=*/true, o.index_spec));

  ErrorReport report;
  VISTA_RETURN_IF_ERROR(report.open(o.errors_path, o.fallback_errors_path));

  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int prepare_threads = o.prepare_threads > 0 ? o.prepare_threads : std::max(1, hw / 2);
  const size_t batch_size = static_cast<size_t>(std::max(1, o.batch_size));
  const size_t write_batch = static_cast<size_t>(std::max(1, o.write_batch));
  const size_t capacity =
      o.queue_capacity > 0 ? static_cast<size_t>(o.queue_capacity) : 2 * batch_size;

  Pipeline pipeline(o, walker, engine_, coll, *engine_.encoder(), engine_.options().decode_limits,
                    report, batch_size, write_batch, capacity);
  Counters& counters = pipeline.counters();
  counters.total = candidates;
  spdlog::info(
      "ingesting into '{}': {} candidate item(s) from {} source(s); {} preparer(s), "
      "batch {}",
      o.collection, counters.total.load(), o.sources.size(), prepare_threads, batch_size);

  const Status fatal = pipeline.run(prepare_threads, progress_, progress_interval_);

  IngestSummary summary;
  static_cast<IngestProgress&>(summary) = counters.snapshot();
  summary.stages.reading_seconds = counters.reading_ns.load() * 1e-9;
  summary.stages.decoding_seconds = counters.decoding_ns.load() * 1e-9;
  summary.stages.encoding_seconds = counters.encoding_ns.load() * 1e-9;
  summary.stages.writing_seconds = counters.writing_ns.load() * 1e-9;
  summary.stages.prepare_threads = prepare_threads;
  summary.stages.wall_seconds = summary.elapsed_seconds;
  if (summary.total >= 0 && summary.total < summary.done) summary.total = summary.done;
  if (progress_) progress_(summary);
  summary.cancelled = o.cancel && o.cancel->load();
  summary.collection = o.collection;
  summary.collection_count = coll->count();
  summary.first_failures = report.first_failures();
  if (summary.failed > 0)
    summary.errors_report = o.errors_path ? o.errors_path : o.fallback_errors_path;
  if (!fatal.is_ok()) return fatal;
  return summary;
}

}  // namespace vista::engine
