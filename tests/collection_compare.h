// Asserts that two collections hold the same documents: same ids, metadata, texts, content
// hashes and sources, vectors equal within fp32 rounding, same count.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "engine/collection.h"

namespace vista::testing {

inline void expect_same_documents(const engine::Collection& expected,
                                  const engine::Collection& actual, float tolerance = 1e-5f) {
  const std::vector<std::string> ids = expected.document_ids();
  ASSERT_EQ(actual.document_ids(), ids);
  EXPECT_EQ(actual.count(), expected.count());
  auto want = expected.get(ids, /*include_vectors=*/true);
  auto got = actual.get(ids, /*include_vectors=*/true);
  ASSERT_TRUE(want.is_ok()) << want.status();
  ASSERT_TRUE(got.is_ok()) << got.status();
  for (size_t i = 0; i < ids.size(); ++i) {
    const auto& w = (*want)[i];
    const auto& g = (*got)[i];
    ASSERT_TRUE(w && g) << ids[i];
    EXPECT_EQ(g->metadata, w->metadata) << ids[i];
    EXPECT_EQ(g->text, w->text) << ids[i];
    EXPECT_EQ(g->content_hash, w->content_hash) << ids[i];
    EXPECT_EQ(g->source, w->source) << ids[i];
    ASSERT_EQ(g->vector.size(), w->vector.size()) << ids[i];
    for (size_t k = 0; k < w->vector.size(); ++k)
      ASSERT_NEAR(g->vector[k], w->vector[k], tolerance) << ids[i] << " component " << k;
  }
}

}  // namespace vista::testing
