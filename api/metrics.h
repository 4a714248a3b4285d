// Metrics: what /metrics reports, in the Prometheus text exposition format (version 0.0.4).
//
//   vista_http_requests_total{route,method,status}            counter
//   vista_http_request_duration_seconds{route,method,status}  histogram
//   vista_http_requests_in_flight                              gauge
//   vista_http_connections_rejected_total                      counter (connection queue full)
//   vista_http_connections_waiting                             gauge (connections queued for a
//   worker) vista_encoder_batch_size                                   histogram (inputs per
//   encoder call) vista_encoder_batch_duration_seconds                       summary (sum and
//   count) vista_encoder_queue_wait_seconds                           summary (sum and count, per
//   input) vista_encoder_queue_depth / _max_depth                     gauges
//   vista_encoder_requests_total, _items_total, _rejected_total, _failed_items_total  counters
//   vista_collection_documents{collection}                     gauge
//
// `route` is the route pattern ("/v1/collections/{name}/search"), never the concrete path, so
// the number of series stays bounded whatever clients send.
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "engine/encode_queue.h"

namespace vista::api {

class Metrics {
 public:
  static const std::vector<double>& latency_buckets();

  void observe_request(std::string_view route, std::string_view method, int status, double seconds);
  void request_started() { in_flight_.fetch_add(1, std::memory_order_relaxed); }
  void request_finished() { in_flight_.fetch_sub(1, std::memory_order_relaxed); }
  void connection_rejected() { rejected_connections_.fetch_add(1, std::memory_order_relaxed); }
  // Connections accepted and waiting for a worker (kept by BoundedTaskQueue).
  std::atomic<int64_t>& waiting_connections() { return waiting_connections_; }
  int64_t rejected_connections() const { return rejected_connections_.load(); }

  // The whole exposition. `queue` is null without a model; `documents` is (collection, count).
  std::string render(const engine::EncodeQueueStats* queue,
                     const std::vector<std::pair<std::string, int64_t>>& documents) const;

 private:
  struct Series {
    int64_t count = 0;
    double sum = 0;
    std::vector<int64_t> buckets;  // non-cumulative, one per latency bucket (+Inf last)
  };
  using Key = std::tuple<std::string, std::string, int>;
  mutable std::mutex mutex_;
  std::map<Key, Series> series_;
  std::atomic<int64_t> in_flight_{0};
  std::atomic<int64_t> rejected_connections_{0};
  std::atomic<int64_t> waiting_connections_{0};
};

// Escapes a label value for the exposition format (backslash, quote, newline).
std::string escape_label(std::string_view value);

}  // namespace vista::api
