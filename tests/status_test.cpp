#include "common/status.h"

#include <gtest/gtest.h>

namespace vista {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0)
    return Status::invalid_argument("expected a positive number, got " + std::to_string(v));
  return v;
}

Result<int> doubled(int v) {
  VISTA_ASSIGN_OR_RETURN(int x, parse_positive(v));
  return 2 * x;
}

TEST(StatusTest, OkByDefault) {
  Status s;
  EXPECT_TRUE(s.is_ok());
  EXPECT_EQ(s.to_string(), "OK");
}

TEST(StatusTest, CarriesCodeAndMessage) {
  Status s = Status::not_found("collection 'x'");
  EXPECT_FALSE(s.is_ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.to_string(), "NotFound: collection 'x'");
  EXPECT_EQ(s.with_context("open").message(), "open: collection 'x'");
}

TEST(StatusTest, SubcodeSurvivesContextAndDefaultsToNone) {
  EXPECT_EQ(Status::resource_exhausted("image too large").subcode(), StatusSubCode::kNone);
  Status full = Status::resource_exhausted("256 waiting", StatusSubCode::kQueueFull);
  EXPECT_EQ(full.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(full.with_context("search").subcode(), StatusSubCode::kQueueFull);
  EXPECT_EQ(status_subcode_name(full.subcode()), "QueueFull");
  EXPECT_EQ(status_subcode_name(StatusSubCode::kNone), "");
}

TEST(ResultTest, PropagatesErrors) {
  EXPECT_EQ(doubled(4).value(), 8);
  auto bad = doubled(-1);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vista
