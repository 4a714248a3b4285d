#include "api/metrics.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace vista::api {

namespace {

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

}  // namespace

std::string escape_label(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

const std::vector<double>& Metrics::latency_buckets() {
  static const std::vector<double> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                               0.25,  0.5,    1,     2.5,  5,     10};
  return kBuckets;
}

void Metrics::observe_request(std::string_view route, std::string_view method, int status,
                              double seconds) {
  const auto& bounds = latency_buckets();
  size_t bucket = std::lower_bound(bounds.begin(), bounds.end(), seconds) - bounds.begin();
  std::lock_guard<std::mutex> lock(mutex_);
  Series& s = series_[Key(std::string(route), std::string(method), status)];
  if (s.buckets.empty()) s.buckets.assign(bounds.size() + 1, 0);
  ++s.count;
  s.sum += seconds;
  ++s.buckets[bucket];
}

std::string Metrics::render(const engine::EncodeQueueStats* queue,
                            const std::vector<std::pair<std::string, int64_t>>& documents) const {
  std::ostringstream out;
  const auto& bounds = latency_buckets();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    out << "# HELP vista_http_requests_total HTTP requests answered, by route pattern, method and "
           "status.\n# TYPE vista_http_requests_total counter\n";
    for (const auto& [key, s] : series_) {
      const auto& [route, method, status] = key;
      out << "vista_http_requests_total{route=\"" << escape_label(route) << "\",method=\""
          << escape_label(method) << "\",status=\"" << status << "\"} " << s.count << "\n";
    }
    out << "# HELP vista_http_request_duration_seconds Time from reading the request to writing "
           "the response.\n# TYPE vista_http_request_duration_seconds histogram\n";
    for (const auto& [key, s] : series_) {
      const auto& [route, method, status] = key;
      const std::string labels = "route=\"" + escape_label(route) + "\",method=\"" +
                                 escape_label(method) + "\",status=\"" + std::to_string(status) +
                                 "\"";
      int64_t cumulative = 0;
      for (size_t i = 0; i <= bounds.size(); ++i) {
        cumulative += s.buckets[i];
        out << "vista_http_request_duration_seconds_bucket{" << labels << ",le=\""
            << (i < bounds.size() ? number(bounds[i]) : "+Inf") << "\"} " << cumulative << "\n";
      }
      out << "vista_http_request_duration_seconds_sum{" << labels << "} " << number(s.sum) << "\n";
      out << "vista_http_request_duration_seconds_count{" << labels << "} " << s.count << "\n";
    }
  }
  out << "# HELP vista_http_requests_in_flight Requests being handled now.\n"
         "# TYPE vista_http_requests_in_flight gauge\n"
      << "vista_http_requests_in_flight " << in_flight_.load() << "\n";
  out << "# HELP vista_http_connections_rejected_total Connections answered 503 at once because "
         "the connection queue was full.\n# TYPE vista_http_connections_rejected_total counter\n"
      << "vista_http_connections_rejected_total " << rejected_connections_.load() << "\n";
  out << "# HELP vista_http_connections_waiting Accepted connections waiting for a worker.\n"
         "# TYPE vista_http_connections_waiting gauge\n"
      << "vista_http_connections_waiting " << waiting_connections_.load() << "\n";

  if (queue) {
    const auto& q = *queue;
    out << "# HELP vista_encoder_batch_size Inputs per encoder call.\n"
           "# TYPE vista_encoder_batch_size histogram\n";
    static const int kSizeBounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
    int64_t cumulative = 0;
    double sum = 0;
    size_t n = 1;
    for (int bound : kSizeBounds) {
      for (; n < q.batch_sizes.size() && static_cast<int>(n) <= bound; ++n) {
        cumulative += q.batch_sizes[n];
        sum += static_cast<double>(n) * q.batch_sizes[n];
      }
      out << "vista_encoder_batch_size_bucket{le=\"" << bound << "\"} " << cumulative << "\n";
    }
    for (; n < q.batch_sizes.size(); ++n) {
      cumulative += q.batch_sizes[n];
      sum += static_cast<double>(n) * q.batch_sizes[n];
    }
    out << "vista_encoder_batch_size_bucket{le=\"+Inf\"} " << cumulative << "\n"
        << "vista_encoder_batch_size_sum " << number(sum) << "\n"
        << "vista_encoder_batch_size_count " << cumulative << "\n";
    out << "# HELP vista_encoder_batch_duration_seconds Encoder call durations.\n"
           "# TYPE vista_encoder_batch_duration_seconds summary\n"
        << "vista_encoder_batch_duration_seconds_sum " << number(q.encode_seconds_total) << "\n"
        << "vista_encoder_batch_duration_seconds_count " << q.batches << "\n";
    out << "# HELP vista_encoder_queue_wait_seconds Time inputs waited in the encode queue.\n"
           "# TYPE vista_encoder_queue_wait_seconds summary\n"
        << "vista_encoder_queue_wait_seconds_sum " << number(q.wait_seconds_total) << "\n"
        << "vista_encoder_queue_wait_seconds_count " << q.items << "\n";
    out << "# HELP vista_encoder_queue_depth Inputs waiting for the encoder now.\n"
           "# TYPE vista_encoder_queue_depth gauge\n"
        << "vista_encoder_queue_depth " << q.queued << "\n";
    out << "# HELP vista_encoder_queue_max_depth Most inputs ever waiting at once.\n"
           "# TYPE vista_encoder_queue_max_depth gauge\n"
        << "vista_encoder_queue_max_depth " << q.max_queued_seen << "\n";
    const std::pair<const char*, int64_t> counters[] = {{"requests", q.requests},
                                                        {"items", q.items},
                                                        {"failed_items", q.failed_items},
                                                        {"failed_batches", q.failed_batches},
                                                        {"rejected", q.rejected}};
    for (const auto& [name, value] : counters) {
      out << "# TYPE vista_encoder_" << name << "_total counter\n"
          << "vista_encoder_" << name << "_total " << value << "\n";
    }
  }

  out << "# HELP vista_collection_documents Documents stored per collection.\n"
         "# TYPE vista_collection_documents gauge\n";
  for (const auto& [name, count] : documents)
    out << "vista_collection_documents{collection=\"" << escape_label(name) << "\"} " << count
        << "\n";
  return out.str();
}

}  // namespace vista::api
