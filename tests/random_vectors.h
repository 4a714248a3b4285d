// Random unit vectors for tests: the same seed gives the same vector in every test and process.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace vista::testing {

inline std::vector<float> random_unit_vector(uint64_t seed, int dimension) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g;
  std::vector<float> v(dimension);
  float n = 0;
  for (auto& x : v) {
    x = g(rng);
    n += x * x;
  }
  for (auto& x : v) x /= std::sqrt(n);
  return v;
}

}  // namespace vista::testing
