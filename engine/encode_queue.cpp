#include "engine/encode_queue.h"

#include <algorithm>

#include "common/logging.h"

namespace vista::engine {

using Clock = std::chrono::steady_clock;

// The shared state of one encode() call; its slots may land in different batches.
struct EncodeQueue::Request {
  std::mutex mutex;
  std::condition_variable done_cv;
  std::vector<Embedding> results;
  size_t remaining = 0;
  Status error;  // first failure
};

Result<EncodeItem> prepare_content(const Content& content, const encoder::DecodeLimits& limits,
                                   int image_size) {
  if (content.empty())
    return Status::invalid_argument("nothing to embed: give a text, an image or both");
  if (content.image_bytes && content.image_path)
    return Status::invalid_argument("give the image as bytes or as a path, not both");
  EncodeItem item;
  item.text = content.text;
  if (content.image_bytes) {
    const auto& b = *content.image_bytes;
    VISTA_ASSIGN_OR_RETURN(item.image,
                           encoder::load_crop(reinterpret_cast<const uint8_t*>(b.data()), b.size(),
                                              image_size, limits));
  } else if (content.image_path) {
    VISTA_ASSIGN_OR_RETURN(item.image, encoder::load_crop(*content.image_path, image_size, limits));
  }
  return item;
}

EncodeQueue::EncodeQueue(EncodeBatchFn encode, EncodeQueueOptions options)
    : encode_(std::move(encode)), options_(options) {
  options_.max_batch = std::max(1, options_.max_batch);
  options_.max_wait_ms = std::max(0, options_.max_wait_ms);
  options_.max_queued = std::max(1, options_.max_queued);
  stats_.batch_sizes.assign(static_cast<size_t>(options_.max_batch) + 1, 0);
  worker_ = std::thread([this] { run(); });
}

EncodeQueue::EncodeQueue(const encoder::Encoder& encoder, EncodeQueueOptions options)
    : EncodeQueue(
          [&encoder](const std::vector<EncodeItem>& items) { return encode_items(encoder, items); },
          options) {}

EncodeQueue::~EncodeQueue() {
  shutdown();
}

void EncodeQueue::shutdown() {
  std::deque<Slot> dropped;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    dropped.swap(pending_);
    stats_.queued = 0;
    wake_.notify_all();
  }
  for (auto& slot : dropped) {
    std::lock_guard<std::mutex> lock(slot.request->mutex);
    if (slot.request->error.is_ok())
      slot.request->error = Status::cancelled("the encoder is shutting down");
    if (--slot.request->remaining == 0) slot.request->done_cv.notify_all();
  }
  std::lock_guard<std::mutex> join_lock(join_mutex_);
  if (worker_.joinable() && worker_.get_id() != std::this_thread::get_id()) worker_.join();
}

Result<std::vector<Embedding>> EncodeQueue::encode(std::vector<EncodeItem> items) {
  if (items.empty()) return std::vector<Embedding>{};
  auto request = std::make_shared<Request>();
  request->results.resize(items.size());
  request->remaining = items.size();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return Status::cancelled("the encoder is shutting down");
    const size_t queued = pending_.size();
    if (queued > 0 && queued + items.size() > static_cast<size_t>(options_.max_queued)) {
      ++stats_.rejected;
      return Status::resource_exhausted("encode queue full (" + std::to_string(queued) +
                                            " inputs waiting, limit " +
                                            std::to_string(options_.max_queued) + "); retry later",
                                        StatusSubCode::kQueueFull);
    }
    auto now = Clock::now();
    for (size_t i = 0; i < items.size(); ++i)
      pending_.push_back(Slot{request, i, std::move(items[i]), now});
    ++stats_.requests;
    stats_.queued = static_cast<int64_t>(pending_.size());
    stats_.max_queued_seen = std::max(stats_.max_queued_seen, stats_.queued);
    wake_.notify_all();
  }
  std::unique_lock<std::mutex> lock(request->mutex);
  request->done_cv.wait(lock, [&] { return request->remaining == 0; });
  if (!request->error.is_ok()) return request->error;
  return std::move(request->results);
}

Result<Embedding> EncodeQueue::encode_one(EncodeItem item) {
  std::vector<EncodeItem> items;
  items.push_back(std::move(item));
  VISTA_ASSIGN_OR_RETURN(auto out, encode(std::move(items)));
  return std::move(out.front());
}

EncodeQueueStats EncodeQueue::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void EncodeQueue::run() {
  const size_t max_batch = static_cast<size_t>(options_.max_batch);
  const auto max_wait = std::chrono::milliseconds(options_.max_wait_ms);
  for (;;) {
    std::vector<Slot> batch;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
      if (stopping_) return;
      // The oldest input decides how long we may wait for company.
      auto deadline = pending_.front().enqueued + max_wait;
      while (!stopping_ && pending_.size() < max_batch && Clock::now() < deadline) {
        wake_.wait_until(lock, deadline);
      }
      if (stopping_) return;
      size_t n = std::min(max_batch, pending_.size());
      batch.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(pending_.front()));
        pending_.pop_front();
      }
      stats_.queued = static_cast<int64_t>(pending_.size());
      auto now = Clock::now();
      for (const auto& slot : batch)
        stats_.wait_seconds_total += std::chrono::duration<double>(now - slot.enqueued).count();
    }
    run_batch(batch);
  }
}

void EncodeQueue::run_batch(std::vector<Slot>& batch) {
  auto call = [&](const std::vector<EncodeItem>& items) {
    auto start = Clock::now();
    Result<std::vector<Embedding>> out = Status::internal("encoder not called");
    try {
      out = encode_(items);
      if (out.is_ok() && out->size() != items.size())
        out = Status::internal("the encoder returned " + std::to_string(out->size()) +
                               " vectors for " + std::to_string(items.size()) + " inputs");
    } catch (const std::exception& e) {
      out = Status::internal(std::string("encoder failed: ") + e.what());
    }
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.batches;
    stats_.encode_seconds_total += seconds;
    if (items.size() < stats_.batch_sizes.size()) ++stats_.batch_sizes[items.size()];
    if (!out.is_ok()) ++stats_.failed_batches;
    return out;
  };
  auto deliver = [](Slot& slot, Result<Embedding> r) {
    auto& req = *slot.request;
    std::lock_guard<std::mutex> lock(req.mutex);
    if (r.is_ok())
      req.results[slot.index] = std::move(r).value();
    else if (req.error.is_ok())
      req.error = r.status();
    if (--req.remaining == 0) req.done_cv.notify_all();
  };

  std::vector<EncodeItem> items;
  items.reserve(batch.size());
  for (auto& slot : batch) items.push_back(std::move(slot.item));
  auto out = call(items);
  if (out.is_ok()) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stats_.items += static_cast<int64_t>(batch.size());
    }
    for (size_t i = 0; i < batch.size(); ++i) deliver(batch[i], std::move((*out)[i]));
    return;
  }
  if (batch.size() == 1) {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.items += 1;
    stats_.failed_items += 1;
  }
  if (batch.size() == 1) {
    deliver(batch[0], out.status());
    return;
  }
  // Isolate the culprit: one call per input.
  spdlog::debug("encode batch of {} failed ({}); retrying one by one", batch.size(),
                out.status().message());
  for (size_t i = 0; i < batch.size(); ++i) {
    auto single = call({items[i]});
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stats_.items += 1;
      if (!single.is_ok()) stats_.failed_items += 1;
    }
    if (single.is_ok())
      deliver(batch[i], std::move(single->front()));
    else
      deliver(batch[i], single.status());
  }
}

}  // namespace vista::engine
