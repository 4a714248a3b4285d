// The index benchmark (tools/indexbench): vector files, synthetic data, exact neighbours and
// recall, the benchmark run through engine::Collection and bare FAISS, its CSV/SVG output and the
// `vista bench index` command.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "index/vector_index.h"
#include "tests/test_support.h"
#include "tools/indexbench/ground_truth.h"
#include "tools/indexbench/build_watch.h"
#include "tools/indexbench/index_benchmark.h"
#include "tools/indexbench/svg_plot.h"
#include "tools/indexbench/synthetic.h"
#include "tools/indexbench/vecs_io.h"

namespace vista::indexbench {
namespace {

namespace fs = std::filesystem;
using vista::testing::TempDir;

void write_bytes(const fs::path& p, const std::vector<char>& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

template <typename T>
void append(std::vector<char>* out, T v) {
  const char* p = reinterpret_cast<const char*>(&v);
  out->insert(out->end(), p, p + sizeof v);
}

std::string read_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

FloatMatrix sample_matrix(int64_t rows, int dim) {
  FloatMatrix m(rows, dim);
  for (size_t i = 0; i < m.values.size(); ++i) {
    m.values[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i)) * 3.5 + 0.125);
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// .fvecs / .ivecs / .bvecs

// `vista bench index` with no --index runs these: each must pass the spec validator at the
// dimension of the real model.
TEST(IndexBenchDefaultsTest, EveryDefaultSpecIsAccepted) {
  for (const auto& spec : kDefaultIndexSpecs) {
    EXPECT_TRUE(index::VectorIndex::validate_spec(spec, 768).is_ok()) << spec;
  }
}

TEST(VecsIoTest, FvecsRoundTripIsBitExact) {
  TempDir dir;
  const FloatMatrix m = sample_matrix(7, 5);
  ASSERT_TRUE(write_fvecs(dir.path() / "a.fvecs", m).is_ok());
  EXPECT_EQ(fs::file_size(dir.path() / "a.fvecs"), 7u * (4 + 5 * 4));
  auto back = read_fvecs(dir.path() / "a.fvecs");
  ASSERT_TRUE(back.is_ok()) << back.status();
  EXPECT_EQ(back->rows, 7);
  EXPECT_EQ(back->dim, 5);
  EXPECT_EQ(back->values, m.values);

  auto first = read_fvecs(dir.path() / "a.fvecs", 3);
  ASSERT_TRUE(first.is_ok()) << first.status();
  EXPECT_EQ(first->rows, 3);
  EXPECT_EQ(first->values, std::vector<float>(m.values.begin(), m.values.begin() + 15));

  auto via_ext = read_vectors(dir.path() / "a.fvecs");
  ASSERT_TRUE(via_ext.is_ok());
  EXPECT_EQ(via_ext->values, m.values);
}

TEST(VecsIoTest, IvecsRoundTrip) {
  TempDir dir;
  IdMatrix m(4, 3);
  for (size_t i = 0; i < m.values.size(); ++i) m.values[i] = static_cast<int32_t>(i * 1000 - 5);
  ASSERT_TRUE(write_ivecs(dir.path() / "gt.ivecs", m).is_ok());
  auto back = read_ivecs(dir.path() / "gt.ivecs");
  ASSERT_TRUE(back.is_ok()) << back.status();
  EXPECT_EQ(back->rows, 4);
  EXPECT_EQ(back->dim, 3);
  EXPECT_EQ(back->values, m.values);
}

TEST(VecsIoTest, ReadsBvecsAsFloats) {
  TempDir dir;
  std::vector<char> bytes;
  for (int r = 0; r < 2; ++r) {
    append<int32_t>(&bytes, 3);
    for (int j = 0; j < 3; ++j) append<uint8_t>(&bytes, static_cast<uint8_t>(r * 100 + j * 70));
  }
  write_bytes(dir.path() / "x.bvecs", bytes);
  auto m = read_vectors(dir.path() / "x.bvecs");
  ASSERT_TRUE(m.is_ok()) << m.status();
  EXPECT_EQ(m->rows, 2);
  EXPECT_EQ(m->values, (std::vector<float>{0, 70, 140, 100, 170, 240}));
}

TEST(VecsIoTest, OverwritesAtomicallyAndLeavesNoTempFile) {
  TempDir dir;
  const fs::path p = dir.path() / "a.fvecs";
  ASSERT_TRUE(write_fvecs(p, sample_matrix(3, 2)).is_ok());
  ASSERT_TRUE(write_fvecs(p, sample_matrix(1, 2)).is_ok());
  EXPECT_EQ(read_fvecs(p)->rows, 1);
  EXPECT_FALSE(fs::exists(dir.path() / "a.fvecs.tmp"));
}

TEST(VecsIoTest, MissingFileIsNotFound) {
  TempDir dir;
  auto r = read_fvecs(dir.path() / "nope.fvecs");
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("nope.fvecs"), std::string::npos);
}

TEST(VecsIoTest, EmptyFileIsCorruption) {
  TempDir dir;
  write_bytes(dir.path() / "e.fvecs", {});
  auto r = read_fvecs(dir.path() / "e.fvecs");
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("empty"), std::string::npos) << r.status();
}

TEST(VecsIoTest, TruncatedLastRecordIsCorruptionNamingTheRecord) {
  TempDir dir;
  const fs::path p = dir.path() / "t.fvecs";
  ASSERT_TRUE(write_fvecs(p, sample_matrix(3, 4)).is_ok());
  fs::resize_file(p, fs::file_size(p) - 6);
  auto r = read_fvecs(p);
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("record 2"), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("truncated"), std::string::npos) << r.status();

  fs::resize_file(p, 2);  // not even a whole dimension
  r = read_fvecs(p);
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("truncated"), std::string::npos) << r.status();
}

TEST(VecsIoTest, InconsistentDimensionIsCorruption) {
  TempDir dir;
  std::vector<char> bytes;
  append<int32_t>(&bytes, 2);
  append<float>(&bytes, 1.f);
  append<float>(&bytes, 2.f);
  append<int32_t>(&bytes, 3);
  for (int j = 0; j < 3; ++j) append<float>(&bytes, 0.5f);
  write_bytes(dir.path() / "d.fvecs", bytes);
  auto r = read_fvecs(dir.path() / "d.fvecs");
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("record 1"), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("dimension 3"), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("byte offset 12"), std::string::npos) << r.status();
}

TEST(VecsIoTest, ImplausibleDimensionIsCorruption) {
  TempDir dir;
  for (int32_t dim : {0, -3, kMaxVecsDimension + 1}) {
    std::vector<char> bytes;
    append<int32_t>(&bytes, dim);
    for (int j = 0; j < 4; ++j) append<float>(&bytes, 1.f);
    write_bytes(dir.path() / "b.fvecs", bytes);
    auto r = read_fvecs(dir.path() / "b.fvecs");
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << dim;
    EXPECT_NE(r.status().message().find("dimension " + std::to_string(dim)), std::string::npos)
        << r.status();
  }
}

TEST(VecsIoTest, NonFiniteValueIsCorruption) {
  TempDir dir;
  FloatMatrix m = sample_matrix(3, 4);
  m.values[6] = std::nanf("");
  ASSERT_TRUE(write_fvecs(dir.path() / "n.fvecs", m).is_ok());
  auto r = read_fvecs(dir.path() / "n.fvecs");
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("NaN"), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("record 1"), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("component 2"), std::string::npos) << r.status();
}

TEST(VecsIoTest, WrongKindOfPathIsInvalidArgument) {
  TempDir dir;
  EXPECT_EQ(read_fvecs(dir.path()).status().code(), StatusCode::kInvalidArgument);
  write_bytes(dir.path() / "v.txt", {'1'});
  EXPECT_EQ(read_vectors(dir.path() / "v.txt").status().code(), StatusCode::kInvalidArgument);
}

TEST(VecsIoTest, WriteRejectsBadMatrixAndReportsUnwritablePath) {
  TempDir dir;
  FloatMatrix bad(2, 3);
  bad.values.pop_back();
  EXPECT_EQ(write_fvecs(dir.path() / "x.fvecs", bad).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir.path() / "x.fvecs"));
  EXPECT_EQ(write_fvecs(dir.path() / "missing" / "x.fvecs", sample_matrix(1, 2)).code(),
            StatusCode::kIOError);
}

// ---------------------------------------------------------------------------------------------
// Synthetic data

TEST(SyntheticTest, IsDeterministicPerSeed) {
  SyntheticOptions o;
  o.count = 500;
  o.queries = 20;
  o.dim = 48;
  auto a = make_synthetic(o);
  auto b = make_synthetic(o);
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  EXPECT_EQ(a->base.values, b->base.values);
  EXPECT_EQ(a->queries.values, b->queries.values);
  o.seed += 1;
  auto c = make_synthetic(o);
  ASSERT_TRUE(c.is_ok());
  EXPECT_NE(a->base.values, c->base.values);
}

TEST(SyntheticTest, UnitLengthAndClustered) {
  SyntheticOptions o;
  o.count = 4000;
  o.queries = 100;
  o.dim = 96;
  auto d = make_synthetic(o);
  ASSERT_TRUE(d.is_ok()) << d.status();
  EXPECT_EQ(d->clusters, 40);
  EXPECT_EQ(d->base.rows, 4000);
  EXPECT_EQ(d->queries.rows, 100);
  for (const FloatMatrix* m : {&d->base, &d->queries}) {
    for (int64_t r = 0; r < m->rows; ++r) {
      double s = 0;
      for (int i = 0; i < m->dim; ++i) s += double(m->row(r)[i]) * m->row(r)[i];
      ASSERT_NEAR(s, 1.0, 1e-5) << r;
    }
  }
  // Clustered: a query's nearest neighbour is far more similar than a random vector, and no
  // query is a copy of a base vector.
  auto truth = exact_neighbors(d->base, d->queries, 1);
  ASSERT_TRUE(truth.is_ok());
  double nearest = 0, random = 0;
  for (int64_t q = 0; q < d->queries.rows; ++q) {
    auto dot = [&](int64_t row) {
      double s = 0;
      for (int i = 0; i < o.dim; ++i) s += double(d->queries.row(q)[i]) * d->base.row(row)[i];
      return s;
    };
    const double best = dot(truth->row(q)[0]);
    EXPECT_LT(best, 0.9999);
    nearest += best;
    random += dot((q * 7919) % d->base.rows);
  }
  nearest /= d->queries.rows;
  random /= d->queries.rows;
  EXPECT_GT(nearest, 0.7);
  EXPECT_GT(random, 0.1);  // a shared direction, as real embeddings have
  EXPECT_LT(random, 0.6);
}

TEST(SyntheticTest, RejectsBadOptions) {
  SyntheticOptions o;
  o.count = 0;
  EXPECT_EQ(make_synthetic(o).status().code(), StatusCode::kInvalidArgument);
  o.count = 10;
  o.dim = 1;
  EXPECT_EQ(make_synthetic(o).status().code(), StatusCode::kInvalidArgument);
  o.dim = 8;
  o.spread_min = 2;
  EXPECT_EQ(make_synthetic(o).status().code(), StatusCode::kInvalidArgument);
}

TEST(SyntheticTest, ParsesDatasetSpecs) {
  EXPECT_EQ(*parse_synthetic_spec("synthetic:100000"), 100000);
  EXPECT_EQ(*parse_synthetic_spec("synthetic:100k"), 100000);
  EXPECT_EQ(*parse_synthetic_spec("synthetic:1m"), 1000000);
  EXPECT_EQ(parse_synthetic_spec("data/sift.fvecs").status().code(), StatusCode::kNotFound);
  for (const char* bad : {"synthetic:", "synthetic:0", "synthetic:-5", "synthetic:12x",
                          "synthetic:k", "synthetic:99999999999999999999"}) {
    EXPECT_EQ(parse_synthetic_spec(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

// ---------------------------------------------------------------------------------------------
// Exact neighbours and recall

TEST(GroundTruthTest, ExactNeighboursAreOrderedByInnerProduct) {
  FloatMatrix base(4, 2);
  base.values = {1, 0, 0, 1, 0.8f, 0.6f, -1, 0};
  FloatMatrix q(1, 2);
  q.values = {0.6f, 0.8f};
  auto t = exact_neighbors(base, q, 3);
  ASSERT_TRUE(t.is_ok());
  EXPECT_EQ(t->values, (std::vector<int32_t>{2, 1, 0}));  // 0.96, 0.8, 0.6
  EXPECT_EQ(exact_neighbors(base, q, 5).status().code(), StatusCode::kInvalidArgument);
}

TEST(GroundTruthTest, RecallCountsHitsMissesAndTies) {
  FloatMatrix base(4, 2);
  base.values = {1, 0, 0, 1, 0, 1, -1, 0};  // rows 1 and 2 are identical
  FloatMatrix q(1, 2);
  q.values = {0, 1};
  IdMatrix truth(1, 2);
  truth.values = {1, 2};
  EXPECT_DOUBLE_EQ(recall_at(base, q, truth, {1, 2}, 2, 2), 1.0);
  EXPECT_DOUBLE_EQ(recall_at(base, q, truth, {2, 1}, 2, 2), 1.0);
  EXPECT_DOUBLE_EQ(recall_at(base, q, truth, {1, 0}, 2, 2), 0.5);
  EXPECT_DOUBLE_EQ(recall_at(base, q, truth, {-1, -1}, 2, 2), 0.0);
  // recall@1: row 2 ties with the true first neighbour (row 1), so it counts.
  EXPECT_DOUBLE_EQ(recall_at(base, q, truth, {2, 0}, 2, 1), 1.0);
  EXPECT_DOUBLE_EQ(recall_at(base, q, truth, {0, 1}, 2, 1), 0.0);
}

TEST(GroundTruthTest, ChecksGroundTruthFiles) {
  IdMatrix t(2, 3);
  t.values = {0, 1, 2, 3, 4, 5};
  EXPECT_TRUE(check_ground_truth(t, 2, 6, 3).is_ok());
  EXPECT_EQ(check_ground_truth(t, 3, 6, 3).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(check_ground_truth(t, 2, 6, 4).code(), StatusCode::kInvalidArgument);
  auto s = check_ground_truth(t, 2, 5, 3);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("row 1 column 2"), std::string::npos) << s;
}

// ---------------------------------------------------------------------------------------------
// The benchmark

BenchmarkDataset tiny_dataset(int64_t n, int64_t nq, int dim, int k) {
  SyntheticOptions o;
  o.count = n;
  o.queries = nq;
  o.dim = dim;
  auto d = make_synthetic(o);
  EXPECT_TRUE(d.is_ok());
  BenchmarkDataset data;
  data.name = "synthetic:" + std::to_string(n);
  data.base = std::move(d->base);
  data.queries = std::move(d->queries);
  data.truth = *exact_neighbors(data.base, data.queries, k);
  return data;
}

// Splits one CSV line (RFC 4180 quoting, no embedded newlines).
std::vector<std::string> csv_split(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  EXPECT_FALSE(quoted) << line;
  return fields;
}

class IndexBenchmarkTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new BenchmarkDataset(tiny_dataset(3000, 60, 32, 10));
    work_ = new TempDir();
    BenchmarkConfig c;
    c.index_specs = {"Flat", "HNSW16", "IVF16,Flat"};
    c.sweep = true;
    c.ef_search = {16, 128};
    c.nprobe = {1, 16, 64};  // 64 > nlist: dropped
    c.batch = 8;
    c.threads = 1;
    c.work_dir = work_->path();
    auto rows = run_index_benchmark(*data_, c);
    ASSERT_TRUE(rows.is_ok()) << rows.status();
    rows_ = new std::vector<BenchmarkRow>(std::move(rows).value());
  }
  void SetUp() override { ASSERT_NE(rows_, nullptr) << "the benchmark run failed"; }
  static void TearDownTestSuite() {
    delete rows_;
    delete work_;
    delete data_;
  }
  static const BenchmarkRow& row(const std::string& index, const std::string& path, int value) {
    for (const auto& r : *rows_) {
      if (r.index == index && r.path == path && r.value == value) return r;
    }
    ADD_FAILURE() << "no row " << index << " " << path << " " << value;
    return rows_->front();
  }

  static BenchmarkDataset* data_;
  static TempDir* work_;
  static std::vector<BenchmarkRow>* rows_;
};
BenchmarkDataset* IndexBenchmarkTest::data_ = nullptr;
TempDir* IndexBenchmarkTest::work_ = nullptr;
std::vector<BenchmarkRow>* IndexBenchmarkTest::rows_ = nullptr;

TEST_F(IndexBenchmarkTest, RowsCoverEveryIndexPathAndSetting) {
  ASSERT_NE(rows_, nullptr);
  // Per path: Flat once, HNSW16 at 2 efSearch values, IVF16 at nprobe 1 and 16.
  ASSERT_EQ(rows_->size(), 10u);
  std::set<std::string> seen;
  for (const auto& r : *rows_) {
    seen.insert(r.index + "/" + r.path + "/" + r.param + "=" + std::to_string(r.value));
    EXPECT_EQ(r.n, 3000);
    EXPECT_EQ(r.dim, 32);
    EXPECT_EQ(r.nq, 60);
    EXPECT_EQ(r.k, 10);
    EXPECT_EQ(r.batch, 8);
    EXPECT_EQ(r.threads, 1);
    EXPECT_GT(r.qps_batch1, 0) << r.index;
    EXPECT_GT(r.cpu_qps_batch1, 0) << r.index;
    EXPECT_GT(r.qps_batched, 0) << r.index;
    EXPECT_GT(r.p50_ms, 0) << r.index;
    EXPECT_LE(r.p50_ms, r.p99_ms) << r.index;
    EXPECT_GE(r.build_seconds, 0) << r.index;
    EXPECT_GE(r.recall_at_k, 0);
    EXPECT_LE(r.recall_at_k, 1);
  }
  EXPECT_EQ(seen,
            (std::set<std::string>{"Flat/vista/=0", "Flat/faiss/=0", "HNSW16/vista/efSearch=16",
                                   "HNSW16/vista/efSearch=128", "HNSW16/faiss/efSearch=16",
                                   "HNSW16/faiss/efSearch=128", "IVF16,Flat/vista/nprobe=1",
                                   "IVF16,Flat/vista/nprobe=16", "IVF16,Flat/faiss/nprobe=1",
                                   "IVF16,Flat/faiss/nprobe=16"}));
  EXPECT_EQ(rows_->front().index, "Flat");
  EXPECT_EQ(rows_->front().path, "vista");
}

TEST_F(IndexBenchmarkTest, ExactSearchHasRecallExactlyOne) {
  for (const char* path : {"vista", "faiss"}) {
    EXPECT_EQ(row("Flat", path, 0).recall_at_1, 1.0) << path;
    EXPECT_EQ(row("Flat", path, 0).recall_at_k, 1.0) << path;
    // Probing every list of an IVF-Flat index is exhaustive, hence exact too.
    EXPECT_EQ(row("IVF16,Flat", path, 16).recall_at_k, 1.0) << path;
  }
}

TEST_F(IndexBenchmarkTest, ApproximateIndexesTradeRecallForWork) {
  for (const char* path : {"vista", "faiss"}) {
    EXPECT_GE(row("HNSW16", path, 128).recall_at_k, 0.9) << path;
    EXPECT_GE(row("HNSW16", path, 128).recall_at_k, row("HNSW16", path, 16).recall_at_k);
    EXPECT_LT(row("IVF16,Flat", path, 1).recall_at_k, 1.0) << path;
  }
  // Memory: a Flat index stores dim floats per vector, plus id bookkeeping on the vista path.
  EXPECT_GE(row("Flat", "faiss", 0).bytes_per_vector, 32 * 4);
  EXPECT_GE(row("Flat", "vista", 0).bytes_per_vector, row("Flat", "faiss", 0).bytes_per_vector);
  EXPECT_GT(row("HNSW16", "faiss", 16).bytes_per_vector, row("Flat", "faiss", 0).bytes_per_vector);
}

TEST_F(IndexBenchmarkTest, LeavesNothingInTheWorkDirectory) {
  EXPECT_TRUE(fs::is_empty(work_->path()));
}

TEST_F(IndexBenchmarkTest, CsvIsWellFormed) {
  const std::string csv = to_csv(*rows_);
  std::istringstream in(csv);
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  const std::vector<std::string> header = csv_split(line);
  const std::vector<std::string> expected = {
      "dataset",     "n",           "dim",         "nq",         "k",
      "batch",       "threads",     "index",       "path",       "param",
      "value",       "recall_at_1", "recall_at_k", "qps_batch1", "cpu_qps_batch1",
      "qps_batched", "p50_ms",      "p99_ms",      "build_s",    "bytes_per_vector"};
  EXPECT_EQ(header, expected);
  size_t lines = 0;
  while (std::getline(in, line)) {
    const auto fields = csv_split(line);
    ASSERT_EQ(fields.size(), header.size()) << line;
    const BenchmarkRow& r = (*rows_)[lines];
    EXPECT_EQ(fields[0], r.dataset);
    EXPECT_EQ(fields[7], r.index);  // "IVF16,Flat" survives the quoting
    EXPECT_EQ(fields[8], r.path);
    EXPECT_EQ(fields[9], r.param);
    for (size_t j : {1, 2, 3, 4, 5, 6, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19}) {
      char* end = nullptr;
      const double v = std::strtod(fields[j].c_str(), &end);
      EXPECT_TRUE(!fields[j].empty() && *end == '\0' && std::isfinite(v))
          << header[j] << " = '" << fields[j] << "'";
    }
    EXPECT_NEAR(std::stod(fields[12]), r.recall_at_k, 1e-4);
    ++lines;
  }
  EXPECT_EQ(lines, rows_->size());
  EXPECT_EQ(csv.back(), '\n');
}

TEST_F(IndexBenchmarkTest, TablesSummaryAndPlot) {
  const std::string table = format_table(*rows_);
  EXPECT_NE(table.find("recall@10"), std::string::npos);
  EXPECT_NE(table.find("efSearch=128"), std::string::npos);
  EXPECT_NE(table.find("1.0x"), std::string::npos);  // Flat against itself
  const std::string md = format_markdown_table(*rows_);
  EXPECT_EQ(std::count(md.begin(), md.end(), '\n'), static_cast<long>(rows_->size() + 2));
  const std::string best = format_best_settings(*rows_, 0.95);
  EXPECT_NE(best.find("Flat (vista): - reaches recall@10 1.000"), std::string::npos) << best;
  EXPECT_NE(best.find("1.0x exact search"), std::string::npos) << best;
  const std::string svg = recall_qps_svg(*rows_, false);
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  // One curve per index and path.
  size_t curves = 0;
  for (size_t p = svg.find("<polyline"); p != std::string::npos; p = svg.find("<polyline", p + 1)) {
    ++curves;
  }
  EXPECT_EQ(curves, 6u);
  EXPECT_NE(svg.find("HNSW16 (bare FAISS)"), std::string::npos);
}

TEST(IndexBenchmarkValidationTest, RejectsBadConfigsBeforeBuildingAnything) {
  BenchmarkDataset data = tiny_dataset(300, 5, 16, 10);
  BenchmarkConfig c;
  c.index_specs = {"Flat", "Bogus12"};
  auto s = validate_benchmark(data, c);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("Bogus12"), std::string::npos) << s;

  c.index_specs = {"IVF1024,Flat"};
  s = validate_benchmark(data, c);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("1024 lists"), std::string::npos) << s;

  c.index_specs = {"Flat"};
  c.k = 301;
  EXPECT_EQ(validate_benchmark(data, c).code(), StatusCode::kInvalidArgument);
  c.k = 10;
  c.run_vista = c.run_faiss = false;
  EXPECT_EQ(validate_benchmark(data, c).code(), StatusCode::kInvalidArgument);
  c.run_faiss = true;
  c.batch = 0;
  EXPECT_EQ(validate_benchmark(data, c).code(), StatusCode::kInvalidArgument);
  c.batch = 4;
  EXPECT_TRUE(validate_benchmark(data, c).is_ok());
  data.truth.values[3] = 300;  // outside the base
  EXPECT_EQ(validate_benchmark(data, c).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(run_index_benchmark(data, c).status().code(), StatusCode::kInvalidArgument);
}

TEST(IndexBenchmarkPlanTest, SpecsTheSetCannotTrainAreSkippedWithTheReason) {
  auto plan = plan_index_specs({"Flat", "HNSW32", "IVF16,Flat", "IVF1024,Flat", "IVF16,PQ8"},
                               /*dim=*/32, /*rows=*/5000);
  ASSERT_TRUE(plan.is_ok()) << plan.status();
  // 39 training vectors per centroid: IVF16 needs 624, IVF1024 39936, an 8-bit PQ 9984.
  EXPECT_EQ(plan->kept, (std::vector<std::string>{"Flat", "HNSW32", "IVF16,Flat"}));
  ASSERT_EQ(plan->skipped.size(), 2u);
  EXPECT_EQ(plan->skipped[0].first, "IVF1024,Flat");
  EXPECT_NE(plan->skipped[0].second.find("39936"), std::string::npos) << plan->skipped[0].second;
  EXPECT_NE(plan->skipped[0].second.find("5000"), std::string::npos) << plan->skipped[0].second;
  EXPECT_EQ(plan->skipped[1].first, "IVF16,PQ8");
  EXPECT_EQ(plan_index_specs({"Bogus12"}, 32, 5000).status().code(), StatusCode::kInvalidArgument);
}

// FAISS's warnings go to the log, counted, instead of the terminal; other output passes through.
TEST(IndexBenchmarkPlanTest, FaissWarningsAreCountedNotPrinted) {
  int64_t counted = 0;
  {
    FaissWarningCapture capture("test build");
    std::fprintf(stderr, "WARNING clustering 10 points to 4 centroids: please provide at least 156\n");
    std::fprintf(stderr, "WARNING clustering 10 points to 4 centroids: please provide at least 156\n");
    std::fflush(stderr);
    counted = capture.finish();
  }
  EXPECT_EQ(counted, 2);
}

TEST(IndexBenchmarkDefaultsTest, WithoutSweepEachIndexRunsAtItsDefaults) {
  BenchmarkDataset data = tiny_dataset(1200, 10, 16, 5);
  BenchmarkConfig c;
  c.index_specs = {"HNSW8", "IVF8,Flat"};
  c.k = 5;
  c.run_vista = false;
  c.threads = 1;
  auto rows = run_index_benchmark(data, c);
  ASSERT_TRUE(rows.is_ok()) << rows.status();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].param, "efSearch");
  EXPECT_EQ((*rows)[0].value, index::kHnswDefaultEfSearch);  // what collections use
  EXPECT_EQ((*rows)[1].param, "nprobe");
  EXPECT_EQ((*rows)[1].value, 8);  // index::kIvfDefaultNprobe capped at the 8 lists
  EXPECT_EQ((*rows)[0].path, "faiss");
}

// ---------------------------------------------------------------------------------------------
// SVG writer

TEST(SvgPlotTest, EscapesTextAndSkipsUndrawablePoints) {
  PlotSeries a;
  a.name = "a<b & \"c\"";
  a.points = {
      {0.5, 100, "ef 16", "tip<"}, {0.9, 10, "", ""}, {0.95, 0, "", ""}, {std::nan(""), 5, "", ""}};
  PlotSeries b;
  b.name = "b";
  b.dashed = true;
  b.points = {{0.7, 1000, "", ""}};
  PlotOptions o;
  o.title = "T <1>";
  o.log_y = true;
  const std::string svg = render_svg_chart({a, b}, o);
  EXPECT_NE(svg.find("a&lt;b &amp; &quot;c&quot;"), std::string::npos);
  EXPECT_NE(svg.find("T &lt;1&gt;"), std::string::npos);
  EXPECT_NE(svg.find("tip&lt;"), std::string::npos);
  EXPECT_EQ(svg.find("a<b"), std::string::npos);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_NE(svg.find("stroke-dasharray=\"6,4\""), std::string::npos);
  EXPECT_NE(svg.find(">1k<"), std::string::npos);  // log axis labels
  // Two drawable points of a, one of b.
  size_t circles = 0;
  for (size_t p = svg.find("<circle"); p != std::string::npos; p = svg.find("<circle", p + 1)) {
    ++circles;
  }
  EXPECT_EQ(circles, 3u + 2u);  // points plus one legend marker per series
}

TEST(SvgPlotTest, EmptyChartIsStillADocument) {
  const std::string svg = render_svg_chart({}, PlotOptions{});
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// `vista bench index`

int run_vista(const std::string& args, std::string* output) {
  TempDir out_dir;
  const fs::path out = out_dir.path() / "out.txt";
  const std::string cmd =
      "'" + vista::testing::vista_binary().string() + "' " + args + " >'" + out.string() + "' 2>&1";
  const int status = std::system(cmd.c_str());
  *output = read_text(out);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class BenchIndexCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    VISTA_REQUIRE_VISTA_BINARY();
  }
};

TEST_F(BenchIndexCommandTest, WritesCsvPlotsAndTable) {
  TempDir dir;
  std::string output;
  const int code = run_vista(
      "bench index --dataset synthetic:800 --dim 16 --nq 20 --index 'Flat;HNSW8' --ef 8,32 "
      "--threads 1 --out '" +
          (dir.path() / "res").string() + "' --save-dataset '" + (dir.path() / "data").string() +
          "' --work-dir '" + dir.path().string() + "'",
      &output);
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("HNSW8"), std::string::npos) << output;
  EXPECT_NE(output.find("efSearch=32"), std::string::npos) << output;
  const std::string csv = read_text(dir.path() / "res" / "results.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + 2 * (1 + 2)) << csv;
  EXPECT_TRUE(fs::exists(dir.path() / "res" / "results.md"));
  EXPECT_NE(read_text(dir.path() / "res" / "recall-qps-batch1.svg").find("</svg>"),
            std::string::npos);
  EXPECT_TRUE(fs::exists(dir.path() / "res" / "recall-qps-batch32.svg"));

  // The saved dataset runs again from files, with its ground truth.
  const fs::path data = dir.path() / "data";
  EXPECT_EQ(read_fvecs(data / "base.fvecs")->rows, 800);
  EXPECT_EQ(read_ivecs(data / "groundtruth.ivecs")->dim, 10);
  const int again = run_vista("bench index --dataset '" + (data / "base.fvecs").string() +
                                  "' --queries '" + (data / "queries.fvecs").string() +
                                  "' --groundtruth '" + (data / "groundtruth.ivecs").string() +
                                  "' --nq 20 --index Flat --paths faiss --threads 1",
                              &output);
  EXPECT_EQ(again, 0) << output;
  EXPECT_NE(output.find("base.fvecs: 800 x 16, 20 queries"), std::string::npos) << output;
}

TEST_F(BenchIndexCommandTest, BadInputGivesClearErrorsAndExitCodes) {
  TempDir dir;
  std::string output;
  EXPECT_EQ(
      run_vista("bench index --dataset '" + (dir.path() / "none.fvecs").string() + "'", &output), 3)
      << output;
  EXPECT_NE(output.find("error: cannot open"), std::string::npos) << output;

  write_bytes(dir.path() / "bad.fvecs", {1, 0, 0, 0, 0});
  EXPECT_EQ(
      run_vista("bench index --dataset '" + (dir.path() / "bad.fvecs").string() + "'", &output), 5)
      << output;
  EXPECT_NE(output.find("truncated"), std::string::npos) << output;

  EXPECT_EQ(run_vista("bench index --dataset synthetic:200 --dim 8 --nq 5 --index Nope", &output),
            4)
      << output;
  EXPECT_NE(output.find("Nope"), std::string::npos) << output;
  EXPECT_EQ(run_vista("bench index --dataset synthetic:abc", &output), 4) << output;
  EXPECT_EQ(run_vista("bench index --dataset synthetic:200 --dim 8 --ef 0,x", &output), 4)
      << output;
}

}  // namespace
}  // namespace vista::indexbench
