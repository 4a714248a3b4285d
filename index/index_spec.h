// IndexSpec: the index specs Vista accepts, checked before FAISS sees them.
//
// FAISS's index_factory accepts strings that crash or exhaust the process later (HNSW0 and HNSW1
// segfault or grow without bound on the second add, IVF0 aborts on an assertion at every
// open, NSG divides by zero, IVF100000000 allocates gigabytes for its empty lists). Every spec a
// collection, the CLI or the benchmark uses is therefore parsed here first, against a grammar of
// the families Vista supports, with a range for every number:
//
//   spec      := [transform ","]... core ["," "RFlat"]
//   transform := "PCA" d_out | "OPQ" m ["_" d_out]
//   core      := "Flat" | "SQ" qtype | pq
//              | "HNSW" M ["," ("Flat" | "SQ" qtype)]
//              | "IVF" nlist "," ("Flat" | "SQ" qtype | pq)
//   pq        := "PQ" m ["x" nbits] ["np" | "fs"]   (fs: fast scan, nbits 4 only)
//   qtype     := "4" | "6" | "8" | "fp16"
//
// Ranges (d = the dimension entering the component): HNSW M in [kMinHnswM, kMaxHnswM]; IVF nlist
// in [1, max_ivf_lists(d)]; PQ m divides d and nbits in [kMinPqBits, max_pq_bits(d)] (at most
// kMaxIvfPqBits inside IVF); PCA/OPQ
// output dimensions in [1, min(d, max_transform_dim(d))], OPQ's output divisible by its m. The
// dimension-dependent bounds keep every structure built before the first vector (IVF centroids,
// PQ codebooks, rotation matrices) under kMaxFixedBytes, so creating or training an index never
// allocates more than that beyond the vectors themselves. docs/indexes.md lists the families, the
// ranges and what building costs.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/limits.h"
#include "common/status.h"

namespace vista::index {

inline constexpr int kMinHnswM = 4;
inline constexpr int kMaxHnswM = 128;
inline constexpr int64_t kMaxIvfLists = 16384;
inline constexpr int kMinPqBits = 4;
inline constexpr int kMaxPqBits = 12;
inline constexpr int kMaxIvfPqBits = 8;  // FAISS's IVFPQ asserts nbits <= 8
inline constexpr int kMaxIndexDimension = kMaxDimension;
// Bytes an index may hold before it stores any vector: IVF centroids (nlist x d floats), PQ
// codebooks (2^nbits x d floats), PCA/OPQ matrices (d_in x d_out floats).
inline constexpr int64_t kMaxFixedBytes = int64_t{256} << 20;

int64_t max_ivf_lists(int dimension);        // min(kMaxIvfLists, kMaxFixedBytes / (4 d))
int max_pq_bits(int dimension);              // largest nbits with 2^nbits x d floats in budget
int max_transform_dim(int input_dimension);  // largest d_out with d_in x d_out floats in budget

// One parsed spec.
struct IndexSpec {
  enum class Family { kFlat, kSq, kPq, kHnsw, kIvf };
  struct Transform {
    bool opq = false;  // false: PCA
    int m = 0;         // OPQ sub-spaces
    int out_dim = 0;
  };
  std::vector<Transform> transforms;
  Family family = Family::kFlat;
  int hnsw_m = 0;
  int64_t ivf_lists = 0;
  // Codes of HNSW/IVF storage or of the core itself: "Flat", "SQ<q>" or "PQ<m>x<nbits>[fs]".
  std::string storage = "Flat";
  int pq_m = 0;
  int pq_bits = 0;
  bool refine = false;
  int core_dimension = 0;  // the dimension after the transforms

  // Vectors needed before the index can train (0 when it needs no training).
  int64_t training_minimum() const;
  // Bytes allocated before the first vector (see kMaxFixedBytes).
  int64_t fixed_bytes(int input_dimension) const;
};

// Parses and checks `spec` for vectors of `dimension`. InvalidArgument naming the component, the
// parameter and its allowed range (e.g. "HNSW M must be 4..128, got 1"), or listing the
// supported families when the spec is not one of them.
Result<IndexSpec> parse_index_spec(std::string_view spec, int dimension);

}  // namespace vista::index
