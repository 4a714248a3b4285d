// Shared by crash_test and its child process crash_writer: the id universe and the vector
// every (id, version) pair gets, so the parent can check what the child wrote.
#pragma once

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "engine/collection.h"
#include "tests/random_vectors.h"

namespace vista::crash {

constexpr int kUniverse = 400;  // ids doc-0 .. doc-399
constexpr int kDim = 32;

inline std::string id_name(int n) {
  return "doc-" + std::to_string(n);
}

inline engine::ModelIdentity model() {
  return {"crash-model", "sha256:0123"};
}

inline std::vector<float> vector_for(int id, int64_t version) {
  return testing::random_unit_vector(
      static_cast<uint64_t>(id) * 1000003u + static_cast<uint64_t>(version) * 7919u + 17u, kDim);
}

}  // namespace vista::crash
