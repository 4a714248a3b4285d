// BoundedQueue: a closable multi-producer / multi-consumer FIFO with a fixed capacity, the
// connection between pipeline stages. A full queue blocks its producers (backpressure), so a
// pipeline's memory is bounded by the sum of its queue capacities whatever the input size.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace vista::engine {

template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  // Blocks while the queue is full. Returns false (and drops `item`) once the queue is closed.
  bool push(T item) {
    std::unique_lock<std::mutex> lock(mutex_);
    not_full_.wait(lock, [&] { return closed_ || items_.size() < capacity_; });
    if (closed_) return false;
    items_.push_back(std::move(item));
    not_empty_.notify_one();
    return true;
  }

  // Blocks until an item is available; std::nullopt once the queue is closed and drained.
  std::optional<T> pop() {
    std::unique_lock<std::mutex> lock(mutex_);
    not_empty_.wait(lock, [&] { return closed_ || !items_.empty(); });
    return take_locked();
  }

  // Waits for a first item, then takes up to `max_items`, waiting at most `linger` after the
  // first one for more to arrive. Empty only when the queue is closed and drained.
  std::vector<T> pop_batch(size_t max_items, std::chrono::milliseconds linger) {
    std::vector<T> out;
    std::unique_lock<std::mutex> lock(mutex_);
    not_empty_.wait(lock, [&] { return closed_ || !items_.empty(); });
    auto deadline = std::chrono::steady_clock::now() + linger;
    while (out.size() < max_items) {
      if (items_.empty()) {
        if (closed_) break;
        if (!not_empty_.wait_until(lock, deadline, [&] { return closed_ || !items_.empty(); }))
          break;
        continue;
      }
      out.push_back(std::move(items_.front()));
      items_.pop_front();
      not_full_.notify_one();
    }
    return out;
  }

  // Producers' push() fails from now on; consumers drain what is queued, then get nothing.
  void close() {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    not_empty_.notify_all();
    not_full_.notify_all();
  }

  // Drops every queued item (used on cancellation); returns how many were dropped.
  size_t clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    size_t n = items_.size();
    items_.clear();
    not_full_.notify_all();
    return n;
  }

  size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return items_.size();
  }
  size_t capacity() const { return capacity_; }

 private:
  std::optional<T> take_locked() {
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();
    return item;
  }

  const size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<T> items_;
  bool closed_ = false;
};

}  // namespace vista::engine
