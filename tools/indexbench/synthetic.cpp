#include "tools/indexbench/synthetic.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace vista::indexbench {
namespace {

// Uniform doubles in (0, 1) and standard normals from a std::mt19937_64, identical on every
// standard library.
class Normals {
 public:
  explicit Normals(uint64_t seed) : gen_(seed) {}
  double uniform() { return (static_cast<double>(gen_() >> 11) + 0.5) * 0x1.0p-53; }
  double normal() {
    if (have_spare_) {
      have_spare_ = false;
      return spare_;
    }
    const double r = std::sqrt(-2.0 * std::log(uniform()));
    const double theta = 2.0 * M_PI * uniform();
    spare_ = r * std::sin(theta);
    have_spare_ = true;
    return r * std::cos(theta);
  }

 private:
  std::mt19937_64 gen_;
  double spare_ = 0;
  bool have_spare_ = false;
};

void normalize(double* v, int dim) {
  double s = 0;
  for (int i = 0; i < dim; ++i) s += v[i] * v[i];
  s = s > 0 ? 1.0 / std::sqrt(s) : 0.0;
  for (int i = 0; i < dim; ++i) v[i] *= s;
}

struct Mixture {
  int dim = 0;
  int latent = 0;
  int rank = 0;
  std::vector<double> mapping;     // latent x dim: row j is latent direction j in output space
  std::vector<double> shared;      // dim: the direction every point leans towards
  std::vector<double> centres;     // clusters x latent
  std::vector<double> shapes;      // clusters x rank x latent, scaled by the cluster's spread
  std::vector<double> roundness;   // clusters: isotropic latent spread
  std::vector<double> cumulative;  // cumulative cluster weights, last = 1
  double noise_sd = 0;
};

Mixture make_mixture(const SyntheticOptions& o, int64_t clusters, int64_t topics, uint64_t seed) {
  Normals rng(seed);
  Mixture m;
  m.dim = o.dim;
  m.latent = std::min(o.latent_dim, o.dim);
  m.rank = std::min(o.cluster_rank, m.latent);
  m.noise_sd = std::sqrt(o.noise / o.dim);
  const int dim = m.dim, latent = m.latent, rank = m.rank;

  // Latent direction j maps to a random unit vector scaled by (j+1)^-decay; total variance 1
  // for a standard normal latent point.
  m.mapping.resize(static_cast<size_t>(latent) * dim);
  std::vector<double> sigma(latent);
  double total = 0;
  for (int j = 0; j < latent; ++j) {
    sigma[j] = std::pow(j + 1.0, -o.decay);
    total += sigma[j] * sigma[j];
  }
  for (int j = 0; j < latent; ++j) {
    double* row = &m.mapping[static_cast<size_t>(j) * dim];
    for (int i = 0; i < dim; ++i) row[i] = rng.normal();
    normalize(row, dim);
    const double scale = sigma[j] / std::sqrt(total);
    for (int i = 0; i < dim; ++i) row[i] *= scale;
  }
  m.shared.resize(dim);
  for (int i = 0; i < dim; ++i) m.shared[i] = rng.normal();
  normalize(m.shared.data(), dim);
  for (double& v : m.shared) v *= o.global_weight;

  std::vector<double> topic_centres(static_cast<size_t>(topics) * latent);
  for (double& v : topic_centres) v = rng.normal();

  m.centres.resize(static_cast<size_t>(clusters) * latent);
  m.shapes.resize(static_cast<size_t>(clusters) * rank * latent);
  m.roundness.resize(clusters);
  m.cumulative.resize(clusters);
  double weight_sum = 0;
  for (int64_t c = 0; c < clusters; ++c) {
    const double* topic = &topic_centres[(c % topics) * latent];
    double* centre = &m.centres[c * latent];
    for (int j = 0; j < latent; ++j) centre[j] = topic[j] + o.topic_spread * rng.normal();
    const double spread = o.spread_min + (o.spread_max - o.spread_min) * rng.uniform();
    // `rank` random directions of decaying length: most of the cluster's spread lies along them.
    for (int r = 0; r < rank; ++r) {
      double* dir = &m.shapes[(c * rank + r) * latent];
      for (int j = 0; j < latent; ++j) dir[j] = rng.normal();
      normalize(dir, latent);
      const double length = spread * std::sqrt(static_cast<double>(latent)) / std::sqrt(r + 1.0);
      for (int j = 0; j < latent; ++j) dir[j] *= length;
    }
    m.roundness[c] = spread / 4;
    weight_sum += 1.0 / std::sqrt(c + 1.0);
    m.cumulative[c] = weight_sum;
  }
  for (double& w : m.cumulative) w /= weight_sum;
  m.cumulative.back() = 1.0;
  return m;
}

FloatMatrix sample(const Mixture& m, int64_t count, uint64_t seed) {
  Normals rng(seed);
  FloatMatrix out(count, m.dim);
  std::vector<double> h(m.latent);
  std::vector<double> x(m.dim);
  const auto clusters = static_cast<int64_t>(m.cumulative.size());
  const double shape_norm = 1.0 / std::sqrt(static_cast<double>(m.latent));
  for (int64_t r = 0; r < count; ++r) {
    const double u = rng.uniform();
    int64_t c =
        std::upper_bound(m.cumulative.begin(), m.cumulative.end(), u) - m.cumulative.begin();
    c = std::min(c, clusters - 1);
    const double* centre = &m.centres[c * m.latent];
    for (int j = 0; j < m.latent; ++j) h[j] = centre[j] + m.roundness[c] * rng.normal();
    for (int k = 0; k < m.rank; ++k) {
      const double z = rng.normal() * shape_norm;
      const double* dir = &m.shapes[(c * m.rank + k) * m.latent];
      for (int j = 0; j < m.latent; ++j) h[j] += z * dir[j];
    }
    for (int i = 0; i < m.dim; ++i) x[i] = m.shared[i] + m.noise_sd * rng.normal();
    for (int j = 0; j < m.latent; ++j) {
      const double hj = h[j];
      const double* row = &m.mapping[static_cast<size_t>(j) * m.dim];
      for (int i = 0; i < m.dim; ++i) x[i] += hj * row[i];
    }
    normalize(x.data(), m.dim);
    float* dst = out.row(r);
    for (int i = 0; i < m.dim; ++i) dst[i] = static_cast<float>(x[i]);
  }
  return out;
}

// Independent seeds for the mixture and each sample stream (SplitMix64 finaliser).
uint64_t derive_seed(uint64_t seed, uint64_t stream) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (stream + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace

Result<SyntheticData> make_synthetic(const SyntheticOptions& o) {
  if (o.count < 1) {
    return Status::invalid_argument("synthetic data needs at least 1 vector, got " +
                                    std::to_string(o.count));
  }
  if (o.queries < 0) {
    return Status::invalid_argument("negative query count " + std::to_string(o.queries));
  }
  if (o.dim < 2 || o.dim > kMaxVecsDimension) {
    return Status::invalid_argument("synthetic dimension must be 2.." +
                                    std::to_string(kMaxVecsDimension) + ", got " +
                                    std::to_string(o.dim));
  }
  if (o.clusters < 0 || o.topics < 0) {
    return Status::invalid_argument("negative cluster or topic count");
  }
  if (o.latent_dim < 1 || o.cluster_rank < 1) {
    return Status::invalid_argument("latent_dim and cluster_rank must be >= 1");
  }
  for (double v : {o.decay, o.topic_spread, o.spread_min, o.spread_max, o.global_weight, o.noise}) {
    if (!(v >= 0) || !std::isfinite(v)) {
      return Status::invalid_argument("mixture weights and spreads must be finite and >= 0");
    }
  }
  if (o.spread_max < o.spread_min) {
    return Status::invalid_argument("spread_max is below spread_min");
  }
  int64_t clusters = o.clusters;
  if (clusters == 0) clusters = std::clamp<int64_t>(o.count / 100, 16, 4096);
  clusters = std::min(clusters, o.count);
  int64_t topics = o.topics;
  if (topics == 0) topics = std::max<int64_t>(1, std::llround(std::sqrt(double(clusters))));
  topics = std::min(topics, clusters);

  const Mixture mixture = make_mixture(o, clusters, topics, derive_seed(o.seed, 0));
  SyntheticData data;
  data.clusters = clusters;
  data.base = sample(mixture, o.count, derive_seed(o.seed, 1));
  data.queries = sample(mixture, o.queries, derive_seed(o.seed, 2));
  return data;
}

Result<int64_t> parse_synthetic_spec(std::string_view spec) {
  constexpr std::string_view kPrefix = "synthetic:";
  if (spec.substr(0, kPrefix.size()) != kPrefix) {
    return Status::not_found("not a synthetic dataset spec");
  }
  std::string_view number = spec.substr(kPrefix.size());
  int64_t scale = 1;
  if (!number.empty()) {
    const char last = number.back();
    if (last == 'k' || last == 'K') scale = 1000;
    if (last == 'm' || last == 'M') scale = 1000000;
    if (scale != 1) number.remove_suffix(1);
  }
  int64_t n = 0;
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), n);
  if (number.empty() || ec != std::errc() || end != number.data() + number.size() || n < 1 ||
      n > (int64_t{1} << 40) / scale) {
    return Status::invalid_argument("bad dataset '" + std::string(spec) +
                                    "': expected synthetic:N with N a positive integer (e.g. "
                                    "synthetic:100000 or synthetic:100k)");
  }
  return n * scale;
}

}  // namespace vista::indexbench
