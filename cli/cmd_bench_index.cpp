// `vista bench index`: recall against latency of index types and search settings.
//
// Loads or generates the vectors, computes exact neighbours, runs the benchmark of
// tools/indexbench/index_benchmark.h, prints a table and the fastest setting reaching the target
// recall, and with --out writes results.csv, results.md and recall-versus-QPS plots (SVG).
#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/bench_commands.h"
#include "cli/command.h"
#include "common/logging.h"
#include "tools/indexbench/build_watch.h"
#include "tools/indexbench/ground_truth.h"
#include "tools/indexbench/index_benchmark.h"
#include "tools/indexbench/synthetic.h"
#include "tools/indexbench/vecs_io.h"

namespace {

namespace fs = std::filesystem;
using vista::Result;
using vista::Status;
namespace ib = vista::indexbench;

struct Options {
  std::string dataset;
  std::string queries;
  std::string groundtruth;
  int dim = 768;
  bool dim_given = false;
  std::string indexes;
  int k = 10;
  bool sweep = false;
  std::string ef;
  std::string nprobe;
  std::string out;
  int64_t nq = 1000;
  int threads = 0;
  int batch = 32;
  uint64_t seed = 20261126;
  std::string paths = "vista,faiss";
  int64_t train_size = 0;
  int64_t max_vectors = -1;
  std::string work_dir;
  bool no_normalize = false;
  double target_recall = 0.95;
  std::string save_dataset;
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(s);
  while (std::getline(in, part, sep)) {
    const auto b = part.find_first_not_of(" \t");
    const auto e = part.find_last_not_of(" \t");
    if (b != std::string::npos) parts.push_back(part.substr(b, e - b + 1));
  }
  return parts;
}

Result<std::vector<int>> parse_int_list(const std::string& text, const char* option) {
  std::vector<int> values;
  for (const auto& item : split(text, ',')) {
    try {
      size_t used = 0;
      const int v = std::stoi(item, &used);
      if (used != item.size() || v < 1) throw std::invalid_argument(item);
      values.push_back(v);
    } catch (const std::exception&) {
      return Status::invalid_argument(std::string(option) + ": '" + item +
                                      "' is not a positive integer");
    }
  }
  if (values.empty()) return Status::invalid_argument(std::string(option) + " is empty");
  return values;
}

void normalize_rows(ib::FloatMatrix* m) {
  for (int64_t r = 0; r < m->rows; ++r) {
    float* v = m->row(r);
    double s = 0;
    for (int i = 0; i < m->dim; ++i) s += static_cast<double>(v[i]) * v[i];
    if (s <= 0) continue;  // a zero vector stays zero
    const double inv = 1.0 / std::sqrt(s);
    for (int i = 0; i < m->dim; ++i) v[i] = static_cast<float>(v[i] * inv);
  }
}

Result<ib::BenchmarkDataset> load_dataset(const Options& o) {
  ib::BenchmarkDataset data;
  if (o.nq < 1) return Status::invalid_argument("--nq must be >= 1, got " + std::to_string(o.nq));
  auto synthetic = ib::parse_synthetic_spec(o.dataset);
  if (synthetic.is_ok()) {
    if (!o.queries.empty()) {
      return Status::invalid_argument("--queries applies to file datasets, not " + o.dataset);
    }
    ib::SyntheticOptions so;
    so.count = *synthetic;
    so.queries = o.nq;
    so.dim = o.dim;
    so.seed = o.seed;
    spdlog::info("generating {} clustered vectors of dimension {} and {} queries (seed {})",
                 so.count, so.dim, so.queries, so.seed);
    VISTA_ASSIGN_OR_RETURN(ib::SyntheticData gen, ib::make_synthetic(so));
    data.name = "synthetic:" + std::to_string(so.count);
    data.base = std::move(gen.base);
    data.queries = std::move(gen.queries);
  } else if (synthetic.status().code() != vista::StatusCode::kNotFound) {
    return synthetic.status();
  } else {
    data.name = fs::path(o.dataset).filename().string();
    VISTA_ASSIGN_OR_RETURN(data.base, ib::read_vectors(o.dataset, o.max_vectors));
    if (o.dim_given && o.dim != data.base.dim) {
      return Status::invalid_argument("--dim " + std::to_string(o.dim) + " but '" + o.dataset +
                                      "' holds vectors of dimension " +
                                      std::to_string(data.base.dim));
    }
    if (!o.queries.empty()) {
      VISTA_ASSIGN_OR_RETURN(data.queries, ib::read_vectors(o.queries, o.nq));
    } else {
      // Hold out the last nq vectors as queries so they are not their own neighbours.
      if (!o.groundtruth.empty()) {
        return Status::invalid_argument(
            "--groundtruth needs --queries (without it the queries are held out of the dataset "
            "and a ground-truth file cannot match them)");
      }
      if (data.base.rows <= o.nq) {
        return Status::invalid_argument("'" + o.dataset + "' has " +
                                        std::to_string(data.base.rows) +
                                        " vectors; holding out --nq " + std::to_string(o.nq) +
                                        " as queries needs more (or pass --queries)");
      }
      const int64_t keep = data.base.rows - o.nq;
      data.queries = ib::FloatMatrix(o.nq, data.base.dim);
      std::copy(data.base.row(keep), data.base.row(keep) + o.nq * data.base.dim,
                data.queries.values.begin());
      data.base.values.resize(static_cast<size_t>(keep) * data.base.dim);
      data.base.rows = keep;
    }
    if (data.queries.dim != data.base.dim) {
      return Status::invalid_argument("queries in '" + o.queries + "' have dimension " +
                                      std::to_string(data.queries.dim) + ", the dataset " +
                                      std::to_string(data.base.dim));
    }
    if (!o.no_normalize) {
      normalize_rows(&data.base);
      normalize_rows(&data.queries);
    }
  }
  if (!o.groundtruth.empty()) {
    VISTA_ASSIGN_OR_RETURN(data.truth, ib::read_ivecs(o.groundtruth, data.queries.rows));
    VISTA_RETURN_IF_ERROR(ib::check_ground_truth(data.truth, data.queries.rows, data.base.rows, o.k)
                              .with_context("'" + o.groundtruth + "'"));
  } else {
    if (o.k < 1 || o.k > data.base.rows) {
      return Status::invalid_argument("--k must be 1.." + std::to_string(data.base.rows) +
                                      ", got " + std::to_string(o.k));
    }
    spdlog::info("computing exact neighbours of {} queries among {} vectors", data.queries.rows,
                 data.base.rows);
    VISTA_ASSIGN_OR_RETURN(data.truth, ib::exact_neighbors(data.base, data.queries, o.k));
  }
  return data;
}

Status write_text(const fs::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  if (!f) return Status::io_error("cannot write '" + path.string() + "'");
  return Status::ok();
}

Status run(const Options& o) {
  ib::BenchmarkConfig config;
  config.index_specs = split(o.indexes, ';');
  config.k = o.k;
  config.sweep = o.sweep || !o.ef.empty() || !o.nprobe.empty();
  if (!o.ef.empty()) {
    VISTA_ASSIGN_OR_RETURN(config.ef_search, parse_int_list(o.ef, "--ef"));
  }
  if (!o.nprobe.empty()) {
    VISTA_ASSIGN_OR_RETURN(config.nprobe, parse_int_list(o.nprobe, "--nprobe"));
  }
  config.batch = o.batch;
  config.threads = o.threads;
  config.train_size = o.train_size;
  config.work_dir = o.work_dir;
  config.run_vista = config.run_faiss = false;
  for (const auto& p : split(o.paths, ',')) {
    if (p == "vista") {
      config.run_vista = true;
    } else if (p == "faiss") {
      config.run_faiss = true;
    } else {
      return Status::invalid_argument("--paths: unknown path '" + p + "' (use vista, faiss)");
    }
  }
  config.progress = [](const std::string& line) { spdlog::info("{}", line); };

  VISTA_ASSIGN_OR_RETURN(ib::BenchmarkDataset data, load_dataset(o));
  // Specs the set is too small to train are left out, with the reason, instead of producing
  // FAISS warnings and meaningless numbers.
  VISTA_ASSIGN_OR_RETURN(ib::SpecPlan plan,
                         ib::plan_index_specs(config.index_specs, data.base.dim, data.base.rows));
  for (const auto& [spec, why] : plan.skipped)
    spdlog::warn("skipping index '{}': {}; use fewer lists/centroids or more vectors", spec, why);
  if (plan.kept.empty())
    return Status::invalid_argument("every index spec is too large for " +
                                    std::to_string(data.base.rows) +
                                    " vectors (see the warnings above)");
  config.index_specs = plan.kept;
  VISTA_RETURN_IF_ERROR(ib::validate_benchmark(data, config));

  fs::path out;
  if (!o.out.empty()) {
    out = o.out;
    std::error_code ec;
    fs::create_directories(out, ec);
    if (ec) return Status::io_error("cannot create --out '" + out.string() + "': " + ec.message());
  }
  if (!o.save_dataset.empty()) {
    const fs::path dir = o.save_dataset;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return Status::io_error("cannot create '" + dir.string() + "': " + ec.message());
    VISTA_RETURN_IF_ERROR(ib::write_fvecs(dir / "base.fvecs", data.base));
    VISTA_RETURN_IF_ERROR(ib::write_fvecs(dir / "queries.fvecs", data.queries));
    VISTA_RETURN_IF_ERROR(ib::write_ivecs(dir / "groundtruth.ivecs", data.truth));
    spdlog::info("wrote base.fvecs, queries.fvecs and groundtruth.ivecs to {}", dir.string());
  }

  VISTA_ASSIGN_OR_RETURN(auto rows, ib::run_index_benchmark(data, config));

  std::cout << data.name << ": " << data.base.rows << " x " << data.base.dim << ", "
            << data.queries.rows << " queries, k = " << o.k << ", "
            << (rows.empty() ? 0 : rows.front().threads) << " thread(s)\n\n"
            << ib::format_table(rows) << "\n"
            << "Fastest setting with recall@" << o.k << " >= " << o.target_recall << ":\n"
            << ib::format_best_settings(rows, o.target_recall);
  if (!out.empty()) {
    VISTA_RETURN_IF_ERROR(write_text(out / "results.csv", ib::to_csv(rows)));
    VISTA_RETURN_IF_ERROR(write_text(out / "results.md", ib::format_markdown_table(rows)));
    VISTA_RETURN_IF_ERROR(
        write_text(out / "recall-qps-batch1.svg", ib::recall_qps_svg(rows, false)));
    VISTA_RETURN_IF_ERROR(write_text(out / ("recall-qps-batch" + std::to_string(o.batch) + ".svg"),
                                     ib::recall_qps_svg(rows, true)));
    std::cout << "\nwrote results.csv, results.md, recall-qps-batch1.svg and recall-qps-batch"
              << o.batch << ".svg to " << out.string() << "\n";
  }
  return Status::ok();
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

}  // namespace

namespace vista::cli {

CommandRunner add_bench_index(CLI::App& bench) {
  CLI::App* sub = bench.add_subcommand(
      "index", "Measure recall against speed of index types and search settings");
  auto o = std::make_shared<Options>();
  o->indexes = join(ib::kDefaultIndexSpecs, ";");
  sub->add_option("--dataset", o->dataset,
                  "synthetic:N (clustered unit vectors) or a .fvecs/.bvecs file")
      ->required();
  sub->add_option("--queries", o->queries,
                  "query vectors (.fvecs/.bvecs); default: hold out the last --nq vectors");
  sub->add_option("--groundtruth", o->groundtruth,
                  ".ivecs of the queries' true inner-product neighbours; default: exact search");
  auto* dim =
      sub->add_option("--dim", o->dim, "dimension of synthetic vectors")->capture_default_str();
  sub->add_option("--index", o->indexes, "FAISS factory strings separated by ';'")
      ->capture_default_str();
  sub->add_option("--k", o->k, "neighbours per query")->capture_default_str();
  sub->add_flag("--sweep", o->sweep,
                "sweep efSearch (HNSW) and nprobe (IVF) instead of using the index defaults");
  sub->add_option("--ef", o->ef, "efSearch values to sweep, comma-separated (implies --sweep)");
  sub->add_option("--nprobe", o->nprobe,
                  "nprobe values to sweep, comma-separated (implies --sweep)");
  sub->add_option("--out", o->out, "folder for results.csv, results.md and the SVG plots");
  sub->add_option("--nq", o->nq, "number of queries")->capture_default_str();
  sub->add_option("--threads", o->threads, "FAISS threads (0: all cores)")->capture_default_str();
  sub->add_option("--batch", o->batch, "queries per call for the batched QPS")
      ->capture_default_str();
  sub->add_option("--seed", o->seed, "seed of the synthetic data")->capture_default_str();
  sub->add_option("--paths", o->paths,
                  "vista (through engine::Collection), faiss (bare FAISS), or both")
      ->capture_default_str();
  sub->add_option("--train-size", o->train_size,
                  "bare FAISS training sample (0: 39 per centroid, as collections train)")
      ->capture_default_str();
  sub->add_option("--max-vectors", o->max_vectors, "read at most this many dataset vectors");
  sub->add_option("--work-dir", o->work_dir,
                  "where the temporary collections are built (default: system temp)");
  sub->add_flag("--no-normalize", o->no_normalize,
                "keep file vectors as they are (default: scale to unit length, as Vista expects)");
  sub->add_option("--target-recall", o->target_recall, "recall@k the summary looks for")
      ->capture_default_str();
  sub->add_option("--save-dataset", o->save_dataset,
                  "also write base.fvecs, queries.fvecs and groundtruth.ivecs to this folder");
  return [o, dim]() {
    o->dim_given = dim->count() > 0;
    Status s = run(*o);
    if (!s.is_ok()) return report_failure(s);
    return 0;
  };
}

}  // namespace vista::cli
