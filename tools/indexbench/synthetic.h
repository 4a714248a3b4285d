// Synthetic embeddings: a deterministic, clustered stand-in for real 768-d model outputs.
//
// Uniform random vectors are a poor proxy for embeddings: in 768 dimensions all their pairwise
// similarities concentrate near 0, every point is about as far from every other, and approximate
// indexes look far worse than they do on real data. Discrete, well-separated blobs err the other
// way: every neighbour of a query sits in its own blob and IVF finds all of them in one list.
// Real embedding sets are unit-length, occupy a cone around a common direction rather than the
// whole sphere, have a low intrinsic dimension (their variance lies mostly in a few dozen
// directions, with a decaying spectrum) and form many overlapping topical clusters of unequal
// size and shape. The generator reproduces those traits:
//   - a latent "semantic" space of latent_dim dimensions, mapped into `dim` dimensions by a
//     fixed random matrix whose column scales decay as (j+1)^-decay;
//   - in it, `topics` topic centres (standard normal) and `clusters` cluster centres scattered
//     around them (topic_spread), with Zipf-like cluster sizes (weight of cluster c proportional
//     to 1/sqrt(c+1));
//   - each cluster anisotropic: its points spread along cluster_rank random latent directions
//     (plus a quarter of that spread in every latent direction), scaled by a per-cluster spread
//     drawn from [spread_min, spread_max], so neighbouring clusters overlap;
//   - a direction shared by all points (global_weight; unrelated points have cosine ~0.3, as with
//     sentence embeddings), isotropic noise in all `dim` dimensions (noise), then normalisation
//     to unit length.
// Queries come from the same mixture through a separate random stream, so they are new points
// near (not copies of) the base vectors, as real queries are.
//
// Determinism: the output depends only on the options (and the C++ standard library's
// std::mt19937_64, whose sequence the standard fixes; normals are made here by Box-Muller because
// std::normal_distribution differs between library implementations).
#pragma once

#include <cstdint>
#include <string_view>

#include "common/status.h"
#include "tools/indexbench/vecs_io.h"

namespace vista::indexbench {

struct SyntheticOptions {
  int64_t count = 0;     // base vectors (>= 1)
  int64_t queries = 0;   // query vectors (>= 0)
  int dim = 768;         // 2..65536
  int64_t clusters = 0;  // 0: count / 100 clamped to 16..4096 (and at most count)
  uint64_t seed = 20261126;

  // Shape of the mixture. The defaults were chosen so that exact-neighbour similarities and the
  // recall curves of HNSW and IVF resemble those reported for real 768-d embeddings (see
  // docs/indexes.md); change them to make the task easier or harder.
  int latent_dim = 64;  // clamped to dim
  double decay = 0.5;
  int64_t topics = 0;  // 0: about sqrt(clusters)
  double topic_spread = 0.2;
  int cluster_rank = 16;  // clamped to latent_dim
  double spread_min = 0.8;
  double spread_max = 1.2;
  double global_weight = 0.8;
  double noise = 0.3;  // total variance of the isotropic noise
};

struct SyntheticData {
  FloatMatrix base;
  FloatMatrix queries;
  int64_t clusters = 0;  // the cluster count actually used
};

// InvalidArgument for count < 1, queries < 0, dim outside 2..65536, a negative count, rank or
// weight, or spread_max < spread_min. Memory: (count + queries) * dim floats plus the mixture
// (latent_dim * (dim + clusters * (cluster_rank + 1)) floats).
Result<SyntheticData> make_synthetic(const SyntheticOptions& options);

// Parses "synthetic:N" (N a positive integer; "100k" and "1m" are accepted too). Returns N, or
// InvalidArgument when `spec` starts with "synthetic:" but N is malformed, or NotFound when it
// does not start with "synthetic:" (the caller then treats it as a file name).
Result<int64_t> parse_synthetic_spec(std::string_view spec);

}  // namespace vista::indexbench
