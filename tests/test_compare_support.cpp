// The comparison used by every kernel test must be able to fail.
#include "support/compare.hpp"

namespace infercost::testing {
namespace {

TEST(CompareSupport, NanNeverPasses) {
  std::vector<float> want{1.0f, 2.0f, 3.0f};
  std::vector<float> got = poisoned(3);
  EXPECT_FALSE(relative_error(got, want) <= 1e-5);
  got = want;
  got[1] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(relative_error(got, want) <= 1e-5);
}

TEST(CompareSupport, DetectsSmallDeviation) {
  std::vector<float> want{1.0f, -2.0f, 4.0f};
  std::vector<float> got = want;
  EXPECT_EQ(relative_error(got, want), 0.0);
  got[2] = 4.001f;
  EXPECT_NEAR(relative_error(got, want), 0.001 / 4.0, 1e-7);
}

}  // namespace
}  // namespace infercost::testing
