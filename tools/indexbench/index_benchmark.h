// The recall-versus-latency benchmark behind `vista bench index`.
//
// For each index spec it builds the index twice over the same vectors:
//   - path "vista": an engine::Collection in a temporary data directory, filled with upsert() in
//     batches of 1,000 documents exactly as the server does (RocksDB writes included, with
//     sync_writes off), trained by the collection's own rule, and searched with
//     Collection::search() (id mapping, selector plumbing and result assembly included);
//   - path "faiss": the bare FAISS index from the same factory string, trained on the first
//     train_size vectors, filled with one add() and searched with Index::search(), the floor the
//     engine's overhead is measured against.
// It then sweeps the search knob of the index type (efSearch for HNSW, nprobe for IVF; none for
// the rest) and, at each setting, measures against exact inner-product neighbours:
//   recall@1 and recall@k; queries per second with one query per call on one thread (batch 1:
//   one client, as latency-bound serving sees it; FAISS would not parallelise a single query
//   anyway), both per wall-clock second and per second of the thread's CPU time; queries per
//   wall-clock second with `batch` queries per call on all threads; the p50/p99 wall-clock
//   latency of the single-query calls; the build time; the index's memory per vector.
//
// Shared machines: the CPU-time figure does not count time the thread spent waiting for a core,
// so it stays close to what an idle machine would show when other work competes for the cores
// (memory-bandwidth contention still counts). Speed-ups and "fastest setting" use it. On an idle
// machine the two batch-1 figures agree.
//
// Thread-safety: run_index_benchmark() sets FAISS's OpenMP thread count when asked to and must
// not run concurrently with other FAISS work it would disturb; the helpers are pure functions.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "tools/indexbench/svg_plot.h"
#include "tools/indexbench/vecs_io.h"

namespace vista::indexbench {

inline const std::vector<std::string> kDefaultIndexSpecs = {"Flat", "HNSW32", "HNSW64",
                                                            "IVF1024,Flat", "IVF1024,PQ96np"};
inline const std::vector<int> kDefaultEfSearch = {16, 32, 64, 128, 256, 512};
inline const std::vector<int> kDefaultNprobe = {1, 2, 4, 8, 16, 32, 64, 128, 256};

struct BenchmarkDataset {
  std::string name;  // shown in reports, e.g. "synthetic:100000" or "deep1M_base.fvecs"
  FloatMatrix base;  // the vectors indexed; row r gets id r
  FloatMatrix queries;
  IdMatrix truth;  // exact neighbours of each query, best first, >= k per query
};

struct BenchmarkConfig {
  std::vector<std::string> index_specs = kDefaultIndexSpecs;
  int k = 10;
  // false: each index is measured once, at its default search parameters (what a query that
  // sets none gets). true: at every value of ef_search (HNSW) or nprobe (IVF; values above
  // nlist are dropped).
  bool sweep = false;
  std::vector<int> ef_search = kDefaultEfSearch;
  std::vector<int> nprobe = kDefaultNprobe;
  int batch = 32;          // queries per call for the batched throughput figure (>= 1)
  bool run_vista = true;   // build and search through engine::Collection
  bool run_faiss = true;   // build and search the bare FAISS index
  int threads = 0;         // OpenMP threads for FAISS; 0 leaves the current setting
  int64_t train_size = 0;  // bare FAISS training sample; 0: like the engine (39 per centroid)
  std::filesystem::path work_dir;  // parent of the temporary data directory; empty: system temp
  // Called with a line of progress ("HNSW32 vista: built in 41.2 s"); may be empty.
  std::function<void(const std::string&)> progress;
};

struct BenchmarkRow {
  std::string dataset;
  int64_t n = 0;  // base vectors
  int dim = 0;
  int64_t nq = 0;  // queries
  int k = 0;
  int batch = 0;
  int threads = 0;    // OpenMP threads in effect
  std::string index;  // factory spec
  std::string path;   // "vista" or "faiss"
  std::string param;  // "efSearch", "nprobe" or "" when the index has no search knob
  int value = 0;      // the knob's value (0 when param is empty)
  double recall_at_1 = 0;
  double recall_at_k = 0;
  double qps_batch1 = 0;      // per wall-clock second
  double cpu_qps_batch1 = 0;  // per second of the searching thread's CPU time
  double qps_batched = 0;
  double p50_ms = 0;  // single-query latency
  double p99_ms = 0;
  double build_seconds = 0;     // empty index to searchable, training included
  double bytes_per_vector = 0;  // index memory (FAISS structure + id maps) / n
};

// Checks the config against the data before anything is built: k in 1..min(n, 10000), batch
// >= 1, at least one path, at least one spec, every spec accepted by index::VectorIndex for the
// dimension, sweep values >= 1, truth rows/columns and ids in range. InvalidArgument naming the
// problem.
Status validate_benchmark(const BenchmarkDataset& data, const BenchmarkConfig& config);

// Runs the benchmark (validate_benchmark() first). Rows come per index in config order, vista
// path before faiss, then by knob value. A failure to build or search one index stops the run
// with that index's error (nothing is left in the work directory).
Result<std::vector<BenchmarkRow>> run_index_benchmark(const BenchmarkDataset& data,
                                                      const BenchmarkConfig& config);

// The rows as CSV (RFC 4180, header line first, '\n' line ends). Columns:
// dataset,n,dim,nq,k,batch,threads,index,path,param,value,recall_at_1,recall_at_k,qps_batch1,
// cpu_qps_batch1,qps_batched,p50_ms,p99_ms,build_s,bytes_per_vector
std::string to_csv(const std::vector<BenchmarkRow>& rows);

// A fixed-width table for terminals and Markdown-free reading, with a "vs exact" column: CPU-time
// QPS at batch 1 divided by that of the Flat row of the same path (blank without a Flat row).
std::string format_table(const std::vector<BenchmarkRow>& rows);

// The same table as GitHub Markdown.
std::string format_markdown_table(const std::vector<BenchmarkRow>& rows);

// For each index and path, the setting with the highest batch-1 CPU-time QPS whose recall@k reaches
// `target` (e.g. 0.95), one line each, with its speed-up over exact search; indexes that never
// reach it are listed with their best recall.
std::string format_best_settings(const std::vector<BenchmarkRow>& rows, double target);

// recall@k (x) against QPS (y, logarithmic), one curve per index: solid for the vista path,
// dashed for bare FAISS. batched selects qps_batched instead of cpu_qps_batch1.
std::string recall_qps_svg(const std::vector<BenchmarkRow>& rows, bool batched);

}  // namespace vista::indexbench
