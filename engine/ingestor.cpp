#include "engine/ingestor.h"

#include <algorithm>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/logging.h"
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

}  // namespace

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
  // The collection's own record of the model (same weights as the loaded one, checked above).
  const ModelIdentity model = coll->info().model;
  const encoder::Encoder& enc = *engine_.encoder();
  const int image_size = encoder_image_size(enc);
  const encoder::DecodeLimits limits = engine_.options().decode_limits;

  ErrorReport report;
  VISTA_RETURN_IF_ERROR(report.open(o.errors_path, o.fallback_errors_path));

  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int prepare_threads = o.prepare_threads > 0 ? o.prepare_threads : std::max(1, hw / 2);
  const size_t batch_size = static_cast<size_t>(std::max(1, o.batch_size));
  const size_t write_batch = static_cast<size_t>(std::max(1, o.write_batch));
  const size_t capacity =
      o.queue_capacity > 0 ? static_cast<size_t>(o.queue_capacity) : 2 * batch_size;

  Counters counters;
  counters.total = candidates;
  spdlog::info(
      "ingesting into '{}': {} candidate item(s) from {} source(s); {} preparer(s), "
      "batch {}",
      o.collection, counters.total.load(), o.sources.size(), prepare_threads, batch_size);

  BoundedQueue<SourceItem> items(capacity);
  BoundedQueue<Prepared> prepared(capacity);
  BoundedQueue<Pending> writes(std::max(capacity, write_batch));

  std::atomic<bool> stop{false};  // a fatal failure
  std::mutex fatal_mutex;
  Status fatal;
  auto set_fatal = [&](const Status& s) {
    std::lock_guard<std::mutex> lock(fatal_mutex);
    if (fatal.is_ok()) fatal = s;
    stop = true;
  };
  auto stopping = [&] { return stop.load() || (o.cancel && o.cancel->load()); };
  auto fail_item = [&](const std::string& source, const std::optional<std::string>& id,
                       const Status& s) {
    report.add(source, id, s);
    ++counters.failed;
  };

  // Walker.
  std::thread walker_thread([&] {
    Status s =
        walker.walk([&](SourceItem&& item) { return !stopping() && items.push(std::move(item)); },
                    [&](SourceError&& e) { fail_item(e.source, e.id, e.error); },
                    [&](const std::filesystem::path& p) {
                      spdlog::debug("skipped (not an image): {}", p.string());
                      ++counters.skipped;
                      --counters.total;
                    });
    if (!s.is_ok()) spdlog::warn("{}", s.message());
    items.close();
  });

  // Preparers.
  auto prepare_one = [&](SourceItem& item) {
    std::optional<std::string> bytes;
    if (item.image_path) {
      auto read = read_file_bytes(*item.image_path, limits.max_bytes);
      if (!read.is_ok()) return fail_item(item.source, item.id, read.status());
      bytes = std::move(read).value();
    }
    std::string hash = document_content_hash(model, item.text, bytes);
    auto found = coll->get({item.id});
    if (!found.is_ok()) {
      if (is_storage_failure(found.status())) set_fatal(found.status());
      return fail_item(item.source, item.id, found.status());
    }
    const std::optional<Document>& old = found->front();
    if (old && old->content_hash == hash) {
      if (old->metadata == item.metadata) {
        ++counters.unchanged;
        return;
      }
      // Same content, new metadata: keep the stored vector.
      auto full = coll->get({item.id}, /*include_vectors=*/true);
      if (!full.is_ok() || !full->front()) {
        Status s =
            full.is_ok() ? Status::not_found("document vanished during the update") : full.status();
        if (is_storage_failure(s)) set_fatal(s);
        return fail_item(item.source, item.id, s);
      }
      Pending p;
      p.doc = std::move(*full->front());
      p.doc.metadata = std::move(item.metadata);
      p.status = ItemStatus::kUpdated;
      writes.push(std::move(p));
      return;
    }
    Content content;
    content.text = item.text;
    content.image_bytes = std::move(bytes);
    auto input = prepare_content(content, limits, image_size);
    if (!input.is_ok()) {
      Status s = input.status();
      if (item.image_path) s = s.with_context(item.image_path->string());
      return fail_item(item.source, item.id, s);
    }
    Prepared p{std::move(item), std::move(hash), std::move(input).value(), old.has_value()};
    prepared.push(std::move(p));
  };
  std::atomic<int> live_preparers{prepare_threads};
  std::vector<std::thread> preparers;
  for (int t = 0; t < prepare_threads; ++t) {
    preparers.emplace_back([&] {
      while (auto item = items.pop()) {
        if (stopping()) continue;  // drain so the walker is never stuck
        prepare_one(*item);
      }
      if (--live_preparers == 0) prepared.close();
    });
  }

  // Encoder.
  std::thread encoder_thread([&] {
    for (;;) {
      auto batch = prepared.pop_batch(batch_size, std::chrono::milliseconds(20));
      if (batch.empty()) break;
      if (stopping()) continue;
      std::vector<EncodeItem> inputs;
      inputs.reserve(batch.size());
      for (auto& p : batch) inputs.push_back(std::move(p.input));
      auto finish = [&](Prepared& p, Embedding&& e) {
        Pending w;
        w.doc.id = p.item.id;
        w.doc.vector = std::move(e.vector);
        w.doc.metadata = std::move(p.item.metadata);
        w.doc.text = std::move(p.item.text);
        w.doc.source = stored_source(p.item);
        w.doc.content_hash = std::move(p.hash);
        w.status = p.existed ? ItemStatus::kUpdated : ItemStatus::kInserted;
        w.truncated = e.truncated;
        writes.push(std::move(w));
      };
      auto out = encode_items(enc, inputs);
      if (out.is_ok() && out->size() == batch.size()) {
        for (size_t i = 0; i < batch.size(); ++i) finish(batch[i], std::move((*out)[i]));
        continue;
      }
      if (out.is_ok()) {
        set_fatal(Status::internal("the encoder returned " + std::to_string(out->size()) +
                                   " vectors for " + std::to_string(batch.size()) + " inputs"));
        continue;
      }
      spdlog::debug("encoder batch of {} failed ({}); retrying one by one", batch.size(),
                    out.status().message());
      for (size_t i = 0; i < batch.size(); ++i) {
        auto one = encode_items(enc, {inputs[i]});
        if (one.is_ok() && one->size() == 1)
          finish(batch[i], std::move(one->front()));
        else
          fail_item(
              batch[i].item.source, batch[i].item.id,
              one.is_ok() ? Status::internal("the encoder returned no vector") : one.status());
      }
    }
    writes.close();
  });

  // Writer: everything that reaches it is committed, cancelled or not, so that acknowledged
  // work is never thrown away.
  auto count_written = [&](const Pending& p) {
    if (p.status == ItemStatus::kInserted)
      ++counters.inserted;
    else
      ++counters.updated;
    if (p.truncated) ++counters.truncated;
  };
  std::thread writer_thread([&] {
    for (;;) {
      auto batch = writes.pop_batch(write_batch, std::chrono::milliseconds(200));
      if (batch.empty()) break;
      if (stop.load()) {
        Status why;
        {
          std::lock_guard<std::mutex> lock(fatal_mutex);
          why = fatal;
        }
        for (auto& p : batch) fail_item(p.doc.source.value_or(p.doc.id), p.doc.id, why);
        continue;
      }
      std::vector<Document> docs;
      docs.reserve(batch.size());
      for (auto& p : batch) docs.push_back(p.doc);
      auto r = coll->upsert(model, docs);
      if (r.is_ok()) {
        for (const auto& p : batch) count_written(p);
        continue;
      }
      if (is_storage_failure(r.status()) || batch.size() == 1) {
        if (is_storage_failure(r.status())) set_fatal(r.status());
        for (auto& p : batch) fail_item(p.doc.source.value_or(p.doc.id), p.doc.id, r.status());
        continue;
      }
      for (size_t i = 0; i < batch.size(); ++i) {
        auto one = coll->upsert(model, {docs[i]});
        if (one.is_ok()) {
          count_written(batch[i]);
        } else {
          if (is_storage_failure(one.status())) set_fatal(one.status());
          fail_item(docs[i].source.value_or(docs[i].id), docs[i].id, one.status());
        }
      }
    }
  });

  // Progress reporter.
  std::mutex progress_mutex;
  std::condition_variable progress_cv;
  bool finished = false;
  std::thread progress_thread;
  if (progress_) {
    progress_thread = std::thread([&] {
      std::unique_lock<std::mutex> lock(progress_mutex);
      while (!progress_cv.wait_for(lock, progress_interval_, [&] { return finished; })) {
        progress_(counters.snapshot());
      }
    });
  }

  walker_thread.join();
  for (auto& t : preparers) t.join();
  encoder_thread.join();
  writer_thread.join();
  {
    std::lock_guard<std::mutex> lock(progress_mutex);
    finished = true;
  }
  progress_cv.notify_all();
  if (progress_thread.joinable()) progress_thread.join();

  IngestSummary summary;
  static_cast<IngestProgress&>(summary) = counters.snapshot();
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
