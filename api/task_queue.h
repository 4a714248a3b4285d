// BoundedTaskQueue: httplib's worker pool, with a bound on connections waiting for a worker.
//
// httplib hands every accepted connection to its TaskQueue. Its stock ThreadPool queues them
// without limit: under overload, connections (and the clients behind them) wait longer and
// longer and the process holds ever more sockets. This queue keeps at most `max_pending`
// connections waiting for the `threads` workers. A connection beyond that is served in
// "shedding" mode by one of two small shedding threads (their own queue also holds at most
// `max_pending`; beyond that, by the accepting thread itself): the request is read as usual
// (so the connection ends cleanly, without a reset that would hide the answer) and answered 503
// with Retry-After and "Connection: close" by the Service, which checks is_shedding().
//
// shutdown() lets the workers finish every connection already taken (httplib stops accepting
// first), then joins them: in-flight requests complete during a graceful stop.
//
// Thread-safety: enqueue() is called by httplib's accept thread, shutdown() once by httplib.
#pragma once

#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace vista::api {

class BoundedTaskQueue : public httplib::TaskQueue {
 public:
  // `on_shed` is called (on the accepting thread) for each connection served in shedding mode.
  // `waiting`, when given, always holds the number of connections waiting for a worker.
  BoundedTaskQueue(size_t threads, size_t max_pending, std::function<void()> on_shed,
                   std::atomic<int64_t>* waiting = nullptr);
  ~BoundedTaskQueue() override;

  void enqueue(std::function<void()> fn) override;
  void shutdown() override;

  // True on a thread currently serving a connection in shedding mode.
  static bool is_shedding();

 private:
  static constexpr size_t kShedThreads = 2;
  void work(std::deque<std::function<void()>>& jobs, bool shedding);

  const size_t max_pending_;
  std::function<void()> on_shed_;
  std::atomic<int64_t>* waiting_;
  std::mutex mutex_;
  std::condition_variable cond_;
  std::deque<std::function<void()>> jobs_;
  std::deque<std::function<void()>> shed_jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace vista::api
