// Shared test helpers: poisoned outputs, seeded random inputs, and a relative-error check in
// which NaN never passes.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "infercost/weights.hpp"

namespace infercost::testing {

// An output buffer filled with NaN, so a kernel that skips an element fails the comparison.
inline std::vector<float> poisoned(std::size_t n) {
  return std::vector<float>(n, std::numeric_limits<float>::quiet_NaN());
}

// n values uniform in [-scale, scale) from the named stream of `seed`.
inline std::vector<float> random_vector(std::size_t n, std::uint64_t seed, const char* name,
                                        float scale = 1.0f) {
  std::vector<float> v(n);
  fill_uniform(v.data(), n, mix_seed(seed, name), scale);
  return v;
}

// max_i |got_i - want_i| / max(max_i |want_i|, floor): relative to the output's scale, so
// outputs near zero (a softmax-weighted sum can cancel) do not blow the ratio up.
// Returns +inf when any value is NaN or infinite, so NaN never passes.
inline double relative_error(const float* got, const float* want, std::size_t n, double floor = 1e-6) {
  double max_diff = 0.0, max_ref = floor;
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(got[i]) || !std::isfinite(want[i])) return std::numeric_limits<double>::infinity();
    max_diff = std::max(max_diff, std::abs(static_cast<double>(got[i]) - want[i]));
    max_ref = std::max(max_ref, std::abs(static_cast<double>(want[i])));
  }
  return max_diff / max_ref;
}

inline double relative_error(const std::vector<float>& got, const std::vector<float>& want) {
  EXPECT_EQ(got.size(), want.size());
  return relative_error(got.data(), want.data(), std::min(got.size(), want.size()));
}

}  // namespace infercost::testing
