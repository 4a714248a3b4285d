#include "tools/indexbench/index_benchmark.h"

#include "tools/indexbench/build_watch.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <system_error>

#include <time.h>

#include "common/cpu_time.h"
#include "common/limits.h"
#include "index/vector_index.h"
#include "tools/indexbench/ground_truth.h"
#include "tools/indexbench/search_target.h"

namespace vista::indexbench {
namespace fs = std::filesystem;
namespace {

// The temporary data directory of one run; removed with everything in it.
class WorkDir {
 public:
  static Result<WorkDir> create(const fs::path& parent_in) {
    std::error_code ec;
    fs::path parent = parent_in.empty() ? fs::temp_directory_path(ec) : parent_in;
    if (ec) return Status::io_error("no temporary directory: " + ec.message());
    fs::create_directories(parent, ec);
    if (ec) {
      return Status::io_error("cannot create work directory '" + parent.string() +
                              "': " + ec.message());
    }
    std::random_device rd;
    std::mt19937_64 gen(rd());
    for (int attempt = 0; attempt < 100; ++attempt) {
      fs::path p = parent / ("vista-bench-index-" + std::to_string(gen() % 1000000000000ULL));
      if (fs::create_directory(p, ec)) return WorkDir(p);
      if (ec) break;
    }
    return Status::io_error("cannot create a directory under '" + parent.string() +
                            "': " + (ec ? ec.message() : std::string("names taken")));
  }
  WorkDir(WorkDir&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  WorkDir& operator=(WorkDir&&) = delete;
  ~WorkDir() {
    if (path_.empty()) return;
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  explicit WorkDir(fs::path p) : path_(std::move(p)) {}
  fs::path path_;
};

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  // Nearest rank: the smallest value with at least p of the samples at or below it.
  const auto rank = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, rank > 0 ? rank - 1 : 0)];
}

std::vector<int> knob_values(const SearchKnob& knob, const BenchmarkConfig& c) {
  if (knob.name.empty()) return {0};
  if (!c.sweep) return {knob.default_value};
  std::vector<int> values = knob.name == "efSearch" ? c.ef_search : c.nprobe;
  if (knob.limit > 0) {
    values.erase(
        std::remove_if(values.begin(), values.end(), [&](int v) { return v > knob.limit; }),
        values.end());
    if (values.empty()) values.push_back(static_cast<int>(knob.limit));
  }
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  return values;
}

// Measures one knob setting: a warm-up call, every query alone (latencies, recall), then the
// queries in batches.
Status measure(SearchTarget& target, const BenchmarkDataset& data, const BenchmarkConfig& c,
               const SearchKnob& knob, int value, BenchmarkRow* row) {
  const int k = c.k;
  const int64_t nq = data.queries.rows;
  std::vector<int64_t> labels(static_cast<size_t>(nq) * k, -1);

  const int64_t warm = std::min<int64_t>(nq, c.batch);
  VISTA_RETURN_IF_ERROR(target.search(warm, data.queries.row(0), k, knob, value, labels.data()));

  // One query per call runs on one thread: FAISS parallelises over the queries of a call, so a
  // single query would use one thread anyway, and forking an OpenMP team per call only adds
  // overhead (a lot of it on a busy machine).
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  std::vector<double> latencies(static_cast<size_t>(nq));
  double total = 0;
  const double cpu_start = thread_cpu_seconds();
  Status status;
  for (int64_t q = 0; q < nq && status.is_ok(); ++q) {
    const auto t = std::chrono::steady_clock::now();
    status = target.search(1, data.queries.row(q), k, knob, value, labels.data() + q * k);
    latencies[q] = seconds_since(t);
    total += latencies[q];
  }
  const double cpu = thread_cpu_seconds() - cpu_start;
  omp_set_num_threads(threads);
  VISTA_RETURN_IF_ERROR(status);
  row->recall_at_1 = recall_at(data.base, data.queries, data.truth, labels, k, 1);
  row->recall_at_k = recall_at(data.base, data.queries, data.truth, labels, k, k);
  row->qps_batch1 = total > 0 ? static_cast<double>(nq) / total : 0;
  row->cpu_qps_batch1 = cpu > 0 ? static_cast<double>(nq) / cpu : row->qps_batch1;
  row->p50_ms = percentile(latencies, 0.50) * 1e3;
  row->p99_ms = percentile(latencies, 0.99) * 1e3;

  std::vector<int64_t> batch_labels(static_cast<size_t>(c.batch) * k);
  const auto t = std::chrono::steady_clock::now();
  for (int64_t first = 0; first < nq; first += c.batch) {
    const int64_t n = std::min<int64_t>(c.batch, nq - first);
    VISTA_RETURN_IF_ERROR(
        target.search(n, data.queries.row(first), k, knob, value, batch_labels.data()));
  }
  const double batched = seconds_since(t);
  row->qps_batched = batched > 0 ? static_cast<double>(nq) / batched : 0;
  return Status::ok();
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// QPS with 3 significant digits, never in exponent form.
std::string qps_text(double v) {
  if (v >= 100) return fixed(v, 0);
  if (v >= 10) return fixed(v, 1);
  return fixed(v, 2);
}

std::string setting_text(const BenchmarkRow& r) {
  return r.param.empty() ? "-" : r.param + "=" + std::to_string(r.value);
}

// Batch-1 CPU-time QPS of the Flat row of each path (exact search), keyed by path.
std::map<std::string, double> exact_qps(const std::vector<BenchmarkRow>& rows) {
  std::map<std::string, double> out;
  for (const auto& r : rows) {
    if (r.index == "Flat" && r.cpu_qps_batch1 > 0) out[r.path] = r.cpu_qps_batch1;
  }
  return out;
}

struct Column {
  std::string header;
  bool left = false;
};

std::vector<std::vector<std::string>> table_cells(const std::vector<BenchmarkRow>& rows) {
  const auto exact = exact_qps(rows);
  std::vector<std::vector<std::string>> cells;
  for (const auto& r : rows) {
    std::string vs;
    if (auto it = exact.find(r.path); it != exact.end())
      vs = fixed(r.cpu_qps_batch1 / it->second, 1) + "x";
    cells.push_back({r.index, r.path, setting_text(r), fixed(r.recall_at_1, 3),
                     fixed(r.recall_at_k, 3), qps_text(r.qps_batch1), qps_text(r.cpu_qps_batch1),
                     qps_text(r.qps_batched), fixed(r.p50_ms, 3), fixed(r.p99_ms, 3),
                     fixed(r.build_seconds, 1), fixed(r.bytes_per_vector, 0), vs});
  }
  return cells;
}

std::vector<Column> table_columns(const std::vector<BenchmarkRow>& rows) {
  const int k = rows.empty() ? 10 : rows.front().k;
  const int batch = rows.empty() ? 32 : rows.front().batch;
  return {{"index", true},
          {"path", true},
          {"search", true},
          {"recall@1"},
          {"recall@" + std::to_string(k)},
          {"QPS b=1"},
          {"CPU QPS b=1"},
          {"QPS b=" + std::to_string(batch)},
          {"p50 ms"},
          {"p99 ms"},
          {"build s"},
          {"bytes/vec"},
          {"vs exact (CPU)"}};
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

Status validate_benchmark(const BenchmarkDataset& data, const BenchmarkConfig& c) {
  if (data.base.rows < 1) return Status::invalid_argument("the dataset has no vectors");
  if (data.queries.rows < 1) return Status::invalid_argument("there are no queries");
  if (data.queries.dim != data.base.dim) {
    return Status::invalid_argument("queries have dimension " + std::to_string(data.queries.dim) +
                                    ", the dataset " + std::to_string(data.base.dim));
  }
  const int64_t max_k = std::min<int64_t>(data.base.rows, kMaxSearchK);
  if (c.k < 1 || c.k > max_k) {
    return Status::invalid_argument("k must be 1.." + std::to_string(max_k) + ", got " +
                                    std::to_string(c.k));
  }
  if (c.batch < 1) {
    return Status::invalid_argument("batch must be >= 1, got " + std::to_string(c.batch));
  }
  if (!c.run_vista && !c.run_faiss) {
    return Status::invalid_argument("nothing to run: both the vista and the faiss paths are off");
  }
  if (c.index_specs.empty()) return Status::invalid_argument("no index specs given");
  if (c.threads < 0) {
    return Status::invalid_argument("threads must be >= 0, got " + std::to_string(c.threads));
  }
  if (c.train_size < 0) {
    return Status::invalid_argument("train size must be >= 0, got " + std::to_string(c.train_size));
  }
  for (const auto* list : {&c.ef_search, &c.nprobe}) {
    for (int v : *list) {
      if (v < 1) {
        return Status::invalid_argument("sweep values must be >= 1, got " + std::to_string(v));
      }
    }
  }
  if (c.sweep && (c.ef_search.empty() || c.nprobe.empty())) {
    return Status::invalid_argument("empty efSearch or nprobe sweep list");
  }
  for (const auto& spec : c.index_specs) {
    VISTA_RETURN_IF_ERROR(index::VectorIndex::validate_spec(spec, data.base.dim));
    VISTA_ASSIGN_OR_RETURN(SearchKnob knob, search_knob_of(spec, data.base.dim));
    if (knob.name == "nprobe" && knob.limit > data.base.rows) {
      return Status::invalid_argument("index '" + spec + "' has " + std::to_string(knob.limit) +
                                      " lists and needs at least as many vectors to train; the "
                                      "dataset has " +
                                      std::to_string(data.base.rows));
    }
  }
  return check_ground_truth(data.truth, data.queries.rows, data.base.rows, c.k);
}

Result<std::vector<BenchmarkRow>> run_index_benchmark(const BenchmarkDataset& data,
                                                      const BenchmarkConfig& c) {
  VISTA_RETURN_IF_ERROR(validate_benchmark(data, c));
  if (c.threads > 0) omp_set_num_threads(c.threads);
  const int threads = omp_get_max_threads();
  auto say = [&](const std::string& line) {
    if (c.progress) c.progress(line);
  };

  std::optional<WorkDir> work;
  if (c.run_vista) {
    VISTA_ASSIGN_OR_RETURN(WorkDir w, WorkDir::create(c.work_dir));
    work.emplace(std::move(w));
  }

  std::vector<BenchmarkRow> rows;
  for (size_t i = 0; i < c.index_specs.size(); ++i) {
    const std::string& spec = c.index_specs[i];
    VISTA_ASSIGN_OR_RETURN(SearchKnob knob, search_knob_of(spec, data.base.dim));
    const std::vector<int> values = knob_values(knob, c);
    for (const char* path : {"vista", "faiss"}) {
      const bool vista = std::string(path) == "vista";
      if (vista ? !c.run_vista : !c.run_faiss) continue;
      std::unique_ptr<SearchTarget> target;
      // FAISS prints its warnings straight to stderr: they go to the log, counted; and a build
      // that takes a while says so every few seconds.
      FaissWarningCapture faiss_warnings(spec + " " + path);
      Heartbeat heartbeat(
          [&](double seconds) {
            say(spec + " " + path + ": still building (" + fixed(seconds, 0) + " s)");
          },
          std::chrono::seconds(5));
      if (vista) {
        say(spec + " vista: building through engine::Collection (" +
            std::to_string(data.base.rows) + " vectors)");
        VISTA_ASSIGN_OR_RETURN(
            target, build_vista_target(spec, data.base, work->path() / ("c" + std::to_string(i))));
      } else {
        int64_t train = c.train_size;
        if (train == 0) {
          VISTA_ASSIGN_OR_RETURN(train, default_train_size(spec, data.base.dim, data.base.rows));
        }
        say(spec + " faiss: building the bare FAISS index" +
            (train > 0
                 ? " (training on " + std::to_string(std::min(train, data.base.rows)) + " vectors)"
                 : std::string()));
        VISTA_ASSIGN_OR_RETURN(target, build_faiss_target(spec, data.base, train));
      }
      faiss_warnings.finish();
      say(spec + " " + path + ": built in " + fixed(target->build_seconds(), 1) + " s, " +
          fixed(target->bytes_per_vector(), 0) + " bytes/vector");
      for (int value : values) {
        BenchmarkRow row;
        row.dataset = data.name;
        row.n = data.base.rows;
        row.dim = data.base.dim;
        row.nq = data.queries.rows;
        row.k = c.k;
        row.batch = c.batch;
        row.threads = threads;
        row.index = spec;
        row.path = path;
        row.param = knob.name;
        row.value = knob.name.empty() ? 0 : value;
        row.build_seconds = target->build_seconds();
        row.bytes_per_vector = target->bytes_per_vector();
        Status s = measure(*target, data, c, knob, value, &row);
        if (!s.is_ok()) return s.with_context("searching '" + spec + "' (" + path + ")");
        say(spec + " " + path + " " + setting_text(row) + ": recall@" + std::to_string(c.k) + " " +
            fixed(row.recall_at_k, 3) + ", " + qps_text(row.qps_batch1) + " QPS at batch 1 (" +
            qps_text(row.cpu_qps_batch1) + " per CPU-second), " + qps_text(row.qps_batched) +
            " at batch " + std::to_string(c.batch));
        rows.push_back(std::move(row));
      }
    }
  }
  return rows;
}

std::string to_csv(const std::vector<BenchmarkRow>& rows) {
  std::ostringstream out;
  out << "dataset,n,dim,nq,k,batch,threads,index,path,param,value,recall_at_1,recall_at_k,"
         "qps_batch1,cpu_qps_batch1,qps_batched,p50_ms,p99_ms,build_s,bytes_per_vector\n";
  for (const auto& r : rows) {
    out << csv_field(r.dataset) << ',' << r.n << ',' << r.dim << ',' << r.nq << ',' << r.k << ','
        << r.batch << ',' << r.threads << ',' << csv_field(r.index) << ',' << r.path << ','
        << r.param << ',' << r.value << ',' << fixed(r.recall_at_1, 4) << ','
        << fixed(r.recall_at_k, 4) << ',' << fixed(r.qps_batch1, 2) << ','
        << fixed(r.cpu_qps_batch1, 2) << ',' << fixed(r.qps_batched, 2) << ',' << fixed(r.p50_ms, 4)
        << ',' << fixed(r.p99_ms, 4) << ',' << fixed(r.build_seconds, 3) << ','
        << fixed(r.bytes_per_vector, 1) << '\n';
  }
  return out.str();
}

std::string format_table(const std::vector<BenchmarkRow>& rows) {
  const auto columns = table_columns(rows);
  const auto cells = table_cells(rows);
  std::vector<size_t> width(columns.size());
  for (size_t j = 0; j < columns.size(); ++j) {
    width[j] = columns[j].header.size();
    for (const auto& line : cells) width[j] = std::max(width[j], line[j].size());
  }
  std::ostringstream out;
  auto emit = [&](const std::vector<std::string>& line) {
    std::string text;
    for (size_t j = 0; j < columns.size(); ++j) {
      const std::string pad(width[j] - line[j].size(), ' ');
      if (j) text += "  ";
      text += columns[j].left ? line[j] + pad : pad + line[j];
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out << text << '\n';
  };
  std::vector<std::string> header;
  for (const auto& col : columns) header.push_back(col.header);
  emit(header);
  for (const auto& line : cells) emit(line);
  return out.str();
}

std::string format_markdown_table(const std::vector<BenchmarkRow>& rows) {
  const auto columns = table_columns(rows);
  std::ostringstream out;
  out << '|';
  for (const auto& col : columns) out << ' ' << col.header << " |";
  out << "\n|";
  for (const auto& col : columns) out << (col.left ? "---|" : "--:|");
  out << '\n';
  for (const auto& line : table_cells(rows)) {
    out << '|';
    for (const auto& cell : line) out << ' ' << cell << " |";
    out << '\n';
  }
  return out.str();
}

std::string format_best_settings(const std::vector<BenchmarkRow>& rows, double target) {
  const auto exact = exact_qps(rows);
  std::ostringstream out;
  std::vector<std::pair<std::string, std::string>> order;
  for (const auto& r : rows) {
    if (std::find(order.begin(), order.end(), std::make_pair(r.index, r.path)) == order.end()) {
      order.emplace_back(r.index, r.path);
    }
  }
  for (const auto& [index, path] : order) {
    const BenchmarkRow* best = nullptr;
    const BenchmarkRow* most_accurate = nullptr;
    for (const auto& r : rows) {
      if (r.index != index || r.path != path) continue;
      if (!most_accurate || r.recall_at_k > most_accurate->recall_at_k) most_accurate = &r;
      if (r.recall_at_k >= target && (!best || r.cpu_qps_batch1 > best->cpu_qps_batch1)) {
        best = &r;
      }
    }
    out << index << " (" << path << "): ";
    if (best) {
      out << setting_text(*best) << " reaches recall@" << best->k << " "
          << fixed(best->recall_at_k, 3) << " at " << qps_text(best->cpu_qps_batch1)
          << " QPS per CPU-second (" << qps_text(best->qps_batch1) << " wall, batch 1)";
      if (auto it = exact.find(path); it != exact.end()) {
        out << ", " << fixed(best->cpu_qps_batch1 / it->second, 1) << "x exact search";
      }
    } else {
      out << "never reaches recall@" << most_accurate->k << " " << fixed(target, 2) << " (best "
          << fixed(most_accurate->recall_at_k, 3) << " at " << setting_text(*most_accurate) << ")";
    }
    out << '\n';
  }
  return out.str();
}

std::string recall_qps_svg(const std::vector<BenchmarkRow>& rows, bool batched) {
  std::vector<PlotSeries> series;
  std::vector<std::string> indexes;
  for (const auto& r : rows) {
    if (std::find(indexes.begin(), indexes.end(), r.index) == indexes.end()) {
      indexes.push_back(r.index);
    }
  }
  for (const char* path : {"vista", "faiss"}) {
    for (size_t i = 0; i < indexes.size(); ++i) {
      PlotSeries s;
      s.name = indexes[i] + (std::string(path) == "vista" ? "" : " (bare FAISS)");
      s.color = static_cast<int>(i);
      s.dashed = std::string(path) == "faiss";
      for (const auto& r : rows) {
        if (r.index != indexes[i] || r.path != path) continue;
        PlotPoint p;
        p.x = r.recall_at_k;
        p.y = batched ? r.qps_batched : r.cpu_qps_batch1;
        if (!s.dashed && !r.param.empty()) p.label = std::to_string(r.value);
        p.tooltip = r.index + " " + r.path + " " + setting_text(r) + ": recall@" +
                    std::to_string(r.k) + " " + fixed(r.recall_at_k, 3) + ", " + qps_text(p.y) +
                    " QPS";
        s.points.push_back(std::move(p));
      }
      if (!s.points.empty()) series.push_back(std::move(s));
    }
  }
  PlotOptions o;
  const BenchmarkRow* first = rows.empty() ? nullptr : &rows.front();
  const int k = first ? first->k : 10;
  o.title = "Recall@" + std::to_string(k) + " vs queries per second (" +
            (batched ? "batches of " + std::to_string(first ? first->batch : 0) + ", all threads"
                     : "one query per call, one thread") +
            ")";
  if (first) {
    o.subtitle = first->dataset + ": " + std::to_string(first->n) + " x " +
                 std::to_string(first->dim) + ", " + std::to_string(first->nq) + " queries, " +
                 std::to_string(first->threads) +
                 " thread(s); labels: efSearch / nprobe; dashed: "
                 "bare FAISS";
  }
  o.x_label = "recall@" + std::to_string(k);
  o.y_label = batched ? "queries per second (wall clock, log scale)"
                      : "queries per CPU-second (one thread, log scale)";
  o.log_y = true;
  return render_svg_chart(series, o);
}

}  // namespace vista::indexbench
