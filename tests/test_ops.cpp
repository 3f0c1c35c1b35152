// The small reference operators, each against an independent property or hand computation.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>

#include "infercost/buffer.hpp"
#include "infercost/dtype.hpp"
#include "infercost/ops/gemm.hpp"
#include "infercost/ops/norm_rope.hpp"
#include "support/compare.hpp"

namespace infercost {
namespace {

using testing::poisoned;
using testing::random_vector;
using testing::relative_error;

constexpr std::uint64_t kSeed = 20261123;

TEST(Bf16, RoundsToNearestEvenAndKeepsNan) {
  EXPECT_EQ(from_bf16(to_bf16(1.0f)), 1.0f);
  EXPECT_EQ(from_bf16(to_bf16(-2.5f)), -2.5f);
  // 1 + 2^-8 is halfway between two bf16 values (1 and 1 + 2^-7): ties go to the even one, 1.
  EXPECT_EQ(from_bf16(to_bf16(1.0f + 0x1.0p-8f)), 1.0f);
  EXPECT_EQ(from_bf16(to_bf16(1.0f + 0x1.8p-8f)), 1.0f + 0x1.0p-7f);
  EXPECT_TRUE(std::isnan(from_bf16(to_bf16(std::nanf("")))));
  EXPECT_TRUE(std::isinf(from_bf16(to_bf16(INFINITY))));
}

TEST(Buffer, LargeOnesStartOnAHugePageAndAllAreZeroed) {
  const Buffer<float> small(17), large((std::size_t{3} << 20) / sizeof(float) + 5);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(small.data()) % 64, 0u);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(large.data()) % (std::size_t{2} << 20), 0u);
  EXPECT_TRUE(std::all_of(small.begin(), small.end(), [](float v) { return v == 0.0f; }));
  EXPECT_TRUE(std::all_of(large.begin(), large.end(), [](float v) { return v == 0.0f; }));
}

TEST(Matmul, MatchesHandComputation) {
  Matrix w(2, 3, DType::f32);  // W = [[1, 2, 3], [-1, 0, 0.5]]
  const float values[] = {1, 2, 3, -1, 0, 0.5f};
  for (std::size_t i = 0; i < 6; ++i) w.set(i / 3, i % 3, values[i]);
  const float x[] = {1, 1, 1, 2, -1, 4};  // two rows
  auto y = poisoned(4);
  reference::gemm(x, 2, w, y.data());
  EXPECT_EQ(y, (std::vector<float>{6, -0.5f, 12, 0}));
}

TEST(Matmul, Bf16WeightsEqualFp32WeightsRoundedToBf16) {
  const std::size_t M = 3, N = 13, K = 37;
  const Matrix w32 = random_matrix(N, K, DType::f32, kSeed, "w");
  Matrix rounded(N, K, DType::f32);
  for (std::size_t n = 0; n < N; ++n)
    for (std::size_t k = 0; k < K; ++k) rounded.set(n, k, round_to_bf16(w32.at(n, k)));
  const Matrix w16 = random_matrix(N, K, DType::bf16, kSeed, "w");
  const auto x = random_vector(M * K, kSeed, "x");
  auto y16 = poisoned(M * N), y_rounded = poisoned(M * N), y32 = poisoned(M * N);
  reference::gemm(x.data(), M, w16, y16.data());
  reference::gemm(x.data(), M, rounded, y_rounded.data());
  reference::gemm(x.data(), M, w32, y32.data());
  EXPECT_EQ(y16, y_rounded);  // the same values through the same double loop: bit for bit
  EXPECT_LE(relative_error(y16, y32), 1e-2);
  EXPECT_GT(relative_error(y16, y32), 0.0);  // bf16 storage really is narrower
}

TEST(Matmul, RandomWeightsKeepActivationsOrderOne) {
  const std::size_t K = 999, N = 301;
  const Matrix w = random_matrix(N, K, DType::f32, kSeed, "w");
  const auto x = random_vector(K, kSeed, "x", std::sqrt(3.0f));  // unit variance
  auto y = poisoned(N);
  reference::gemm(x.data(), 1, w, y.data());
  const double var = std::inner_product(y.begin(), y.end(), y.begin(), 0.0) / N;
  EXPECT_GT(var, 0.7);
  EXPECT_LT(var, 1.3);
}

TEST(RandomWeights, SameBytesEveryTimeAndDistinctStreams) {
  const Matrix a = random_matrix(7, 11, DType::f32, kSeed, "a");
  const Matrix a_again = random_matrix(7, 11, DType::f32, kSeed, "a");
  const Matrix b = random_matrix(7, 11, DType::f32, kSeed, "b");
  EXPECT_EQ(std::memcmp(a.f32(), a_again.f32(), a.bytes()), 0);
  EXPECT_NE(std::memcmp(a.f32(), b.f32(), a.bytes()), 0);
}

TEST(RmsNorm, UnitGainGivesUnitRms) {
  const std::size_t M = 3, n = 45;
  const auto x = random_vector(M * n, kSeed, "x", 5.0f);
  const std::vector<float> gamma(n, 1.0f);
  auto y = poisoned(M * n);
  reference::rmsnorm(x.data(), M, n, gamma.data(), 1e-6, y.data());
  for (std::size_t m = 0; m < M; ++m) {
    double sum_sq = 0;
    for (std::size_t i = 0; i < n; ++i) sum_sq += y[m * n + i] * y[m * n + i];
    EXPECT_NEAR(std::sqrt(sum_sq / n), 1.0, 1e-5);
    // Direction preserved: y is x scaled by a positive constant.
    EXPECT_NEAR(y[m * n] / x[m * n], y[m * n + 7] / x[m * n + 7], 1e-4);
  }
}

TEST(RmsNorm, AppliesGain) {
  const float x[] = {3, 4};  // rms = sqrt(12.5)
  const float gamma[] = {2, -1};
  auto y = poisoned(2);
  reference::rmsnorm(x, 1, 2, gamma, 1e-12, y.data());
  const float rms = std::sqrt(12.5f);
  EXPECT_NEAR(y[0], 2 * 3 / rms, 1e-6);
  EXPECT_NEAR(y[1], -4 / rms, 1e-6);
}

TEST(Rope, PositionZeroIsIdentityAndNormIsKept) {
  for (RopePairing pairing : {RopePairing::interleaved, RopePairing::halves}) {
    const std::size_t heads = 3, dim = 10, stride = 30;
    const auto x = random_vector(2 * stride, kSeed, "x");
    auto y = x;
    const int positions[] = {0, 1234};
    reference::rope(y.data(), 2, stride, heads, dim, dim, positions, 10000.0, pairing);
    for (std::size_t i = 0; i < stride; ++i) EXPECT_EQ(y[i], x[i]);
    for (std::size_t h = 0; h < heads; ++h) {
      double before = 0, after = 0;
      for (std::size_t i = 0; i < dim; ++i) {
        before += x[stride + h * dim + i] * x[stride + h * dim + i];
        after += y[stride + h * dim + i] * y[stride + h * dim + i];
      }
      EXPECT_NEAR(after, before, 1e-5 * before);
    }
    EXPECT_NE(y[stride], x[stride]);
  }
}

TEST(Rope, PairsRotateByPositionTimesFrequency) {
  // One head of 4: pair 0 turns by pos·1, pair 1 by pos·theta^(-1/2).
  const double theta = 100.0;
  const int pos[] = {3};
  float inter[] = {1, 0, 1, 0};  // pairs (0,1), (2,3)
  reference::rope(inter, 1, 4, 1, 4, 4, pos, theta, RopePairing::interleaved);
  EXPECT_NEAR(inter[0], std::cos(3.0), 1e-6);
  EXPECT_NEAR(inter[1], std::sin(3.0), 1e-6);
  EXPECT_NEAR(inter[2], std::cos(0.3), 1e-6);
  EXPECT_NEAR(inter[3], std::sin(0.3), 1e-6);
  float halves[] = {1, 1, 0, 0};  // pairs (0,2), (1,3)
  reference::rope(halves, 1, 4, 1, 4, 4, pos, theta, RopePairing::halves);
  EXPECT_NEAR(halves[0], std::cos(3.0), 1e-6);
  EXPECT_NEAR(halves[2], std::sin(3.0), 1e-6);
  EXPECT_NEAR(halves[1], std::cos(0.3), 1e-6);
  EXPECT_NEAR(halves[3], std::sin(0.3), 1e-6);
}

TEST(Rope, RotatesOnlyTheFirstRotDim) {
  for (RopePairing pairing : {RopePairing::interleaved, RopePairing::halves}) {
    float x[] = {1, 2, 3, 4, 5, 6};
    const int pos[] = {5};
    reference::rope(x, 1, 6, 1, 6, 4, pos, 10000.0, pairing);
    EXPECT_EQ(x[4], 5);
    EXPECT_EQ(x[5], 6);
    EXPECT_NE(x[0], 1);
    EXPECT_NE(x[1], 2);  // halves pairs (0,2), (1,3) within the 4 rotated dims, not (0,3)
  }
}

TEST(Softmax, SumsToOneAndSurvivesLargeInputs) {
  std::vector<float> x{1000.0f, 1001.0f, 999.0f, -1e30f};
  reference::softmax(x.data(), x.size());
  EXPECT_NEAR(x[0] + x[1] + x[2] + x[3], 1.0, 1e-6);
  EXPECT_NEAR(x[1] / x[0], std::exp(1.0), 1e-4);
  EXPECT_EQ(x[3], 0.0f);
}

TEST(SwiGlu, SiluTimesUp) {
  const float gate[] = {0.0f, 2.0f, -3.0f};
  const float up[] = {5.0f, 0.5f, 2.0f};
  auto out = poisoned(3);
  reference::swiglu(gate, up, 3, out.data());
  EXPECT_EQ(out[0], 0.0f);
  EXPECT_NEAR(out[1], 2.0 / (1 + std::exp(-2.0)) * 0.5, 1e-6);
  EXPECT_NEAR(out[2], -3.0 / (1 + std::exp(3.0)) * 2.0, 1e-6);
}

}  // namespace
}  // namespace infercost
