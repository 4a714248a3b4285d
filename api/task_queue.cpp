#include "api/task_queue.h"

namespace vista::api {

namespace {
thread_local bool tl_shedding = false;
}  // namespace

BoundedTaskQueue::BoundedTaskQueue(size_t threads, size_t max_pending,
                                   std::function<void()> on_shed, std::atomic<int64_t>* waiting)
    : max_pending_(max_pending), on_shed_(std::move(on_shed)), waiting_(waiting) {
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { work(jobs_, false); });
  for (size_t i = 0; i < kShedThreads; ++i)
    threads_.emplace_back([this] { work(shed_jobs_, true); });
}

BoundedTaskQueue::~BoundedTaskQueue() {
  shutdown();
}

bool BoundedTaskQueue::is_shedding() {
  return tl_shedding;
}

void BoundedTaskQueue::enqueue(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!stopping_ && jobs_.size() < max_pending_) {
      jobs_.push_back(std::move(fn));
      if (waiting_) waiting_->store(static_cast<int64_t>(jobs_.size()));
      cond_.notify_all();
      return;
    }
    if (on_shed_) on_shed_();
    if (!stopping_ && shed_jobs_.size() < max_pending_) {
      shed_jobs_.push_back(std::move(fn));
      cond_.notify_all();
      return;
    }
  }
  // Both queues full: the accepting thread answers this one itself, which also slows accepting.
  tl_shedding = true;
  fn();
  tl_shedding = false;
}

void BoundedTaskQueue::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  cond_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void BoundedTaskQueue::work(std::deque<std::function<void()>>& jobs, bool shedding) {
  tl_shedding = shedding;
  for (;;) {
    std::function<void()> fn;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cond_.wait(lock, [&] { return stopping_ || !jobs.empty(); });
      if (jobs.empty()) return;  // stopping, and nothing left to finish
      fn = std::move(jobs.front());
      jobs.pop_front();
      if (waiting_ && !shedding) waiting_->store(static_cast<int64_t>(jobs.size()));
    }
    fn();
  }
}

}  // namespace vista::api
