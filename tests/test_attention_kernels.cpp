// Every attention_prefill and attention_decode implementation of kernels/kernels.inc against the
// reference: MHA, GQA, MQA and qk_dim != v_dim, awkward head dims and lengths, fp32 / bf16 / fp8
// caches, and dispatch under a capped instruction set.
#include <omp.h>

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "infercost/isa.hpp"
#include "infercost/kernels.hpp"
#include "infercost/ops/attention.hpp"
#include "support/compare.hpp"

namespace infercost {
namespace {

using testing::poisoned;
using testing::random_vector;
using testing::relative_error;

constexpr std::uint64_t kSeed = 20261123;
// Uniform in [-sqrt(3), sqrt(3)): unit variance, so with scale 1/sqrt(qk_dim) the scores have unit
// spread and the softmax is neither uniform nor one-hot.
const float kUnit = std::sqrt(3.0f);

struct Case {
  const char* name;
  AttentionShape shape;
};

AttentionShape make_shape(std::size_t heads, std::size_t kv, std::size_t dq, std::size_t dv) {
  return AttentionShape{heads, kv, dq, dv, 1.0f / std::sqrt(static_cast<float>(dq))};
}

const std::vector<Case>& shapes() {
  static const std::vector<Case> cases{
      {"mha_4x33", make_shape(4, 4, 33, 33)},   {"gqa_6of2_17", make_shape(6, 2, 17, 17)},
      {"gqa_8of2_64", make_shape(8, 2, 64, 64)}, {"mqa_5of1_130", make_shape(5, 1, 130, 130)},
      {"qk192_v128", make_shape(2, 2, 192, 128)}, {"gqa_4of2_qk33_v17", make_shape(4, 2, 33, 17)},
  };
  return cases;
}

const std::vector<std::size_t> kLengths{1, 2, 17, 1000};

double tolerance(std::size_t length) { return length >= 1000 ? 1e-4 : 1e-5; }

// Skips (returns false) an implementation this CPU cannot run.
template <class Op>
bool can_run(const Impl<Op>& impl) {
  return impl.runnable();
}

// ---------------------------------------------------------------------------------------------
// Prefill

struct PrefillInputs {
  std::vector<float> q, k, v;
};

PrefillInputs prefill_inputs(std::size_t T, const AttentionShape& s, std::uint64_t seed) {
  return {random_vector(T * s.n_heads * s.qk_dim, seed, "q", kUnit),
          random_vector(T * s.n_kv_heads * s.qk_dim, seed, "k", kUnit),
          random_vector(T * s.n_kv_heads * s.v_dim, seed, "v", kUnit)};
}

class PrefillKernel : public ::testing::TestWithParam<std::size_t> {
 protected:
  const Impl<op::attention_prefill>& impl() const { return implementations<op::attention_prefill>()[GetParam()]; }
};

TEST_P(PrefillKernel, MatchesReferenceOnEveryShapeAndLength) {
  if (!can_run(impl())) GTEST_SKIP() << impl().name << " needs " << to_string(impl().isa) << ", not available here";
  for (const Case& c : shapes()) {
    for (std::size_t T : kLengths) {
      const AttentionShape& s = c.shape;
      if (T == 1000 && s.n_heads * (s.qk_dim + s.v_dim) > 600) continue;  // keeps the reference quick
      const auto in = prefill_inputs(T, s, kSeed + T);
      auto want = poisoned(T * s.n_heads * s.v_dim), got = poisoned(T * s.n_heads * s.v_dim);
      reference::attention_prefill(in.q.data(), in.k.data(), in.v.data(), T, s, want.data());
      impl().fn(in.q.data(), in.k.data(), in.v.data(), T, s, got.data());
      EXPECT_LE(relative_error(got, want), tolerance(T)) << c.name << ", T = " << T;
    }
  }
}

// The big shapes the benches time (16 heads, head dims 128 and 192/128), at a length that
// crosses several key and query blocks without an exact multiple.
TEST_P(PrefillKernel, MatchesReferenceOnBenchShapes) {
  if (!can_run(impl())) GTEST_SKIP() << impl().name << " needs " << to_string(impl().isa) << ", not available here";
  const std::size_t T = 150;
  for (const AttentionShape& s : {make_shape(16, 4, 128, 128), make_shape(16, 16, 128, 128),
                                  make_shape(16, 1, 128, 128), make_shape(16, 16, 192, 128)}) {
    const auto in = prefill_inputs(T, s, kSeed);
    auto want = poisoned(T * s.n_heads * s.v_dim), got = poisoned(T * s.n_heads * s.v_dim);
    reference::attention_prefill(in.q.data(), in.k.data(), in.v.data(), T, s, want.data());
    impl().fn(in.q.data(), in.k.data(), in.v.data(), T, s, got.data());
    EXPECT_LE(relative_error(got, want), 1e-5) << s.n_heads << "/" << s.n_kv_heads << " heads, " << s.qk_dim;
  }
}

// Scores far beyond exp's range (hundreds): the running max must keep every exponent <= 0. fp32
// scores that large carry an absolute rounding error of about 1e-4, which the exponential turns into
// a relative error of the same size, hence the looser bound.
TEST_P(PrefillKernel, LargeScoresStayFinite) {
  if (!can_run(impl())) GTEST_SKIP() << impl().name << " needs " << to_string(impl().isa) << ", not available here";
  const AttentionShape s = make_shape(4, 2, 33, 20);
  const std::size_t T = 70;
  auto in = prefill_inputs(T, s, kSeed);
  for (float& x : in.q) x *= 300.0f;
  auto want = poisoned(T * s.n_heads * s.v_dim), got = poisoned(T * s.n_heads * s.v_dim);
  reference::attention_prefill(in.q.data(), in.k.data(), in.v.data(), T, s, want.data());
  impl().fn(in.q.data(), in.k.data(), in.v.data(), T, s, got.data());
  EXPECT_LE(relative_error(got, want), 1e-3);
}

// ---------------------------------------------------------------------------------------------
// Decode

// A cache of `rows` rows of n_kv * dim random values stored as `dtype`; rows from `used` on hold
// NaN, so a kernel that reads past L fails.
Matrix random_cache(std::size_t rows, std::size_t used, std::size_t cols, DType dtype, std::uint64_t seed,
                    const char* name) {
  Matrix m(rows, cols, dtype);
  const auto values = random_vector(rows * cols, seed, name, kUnit);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) m.set(r, c, r < used ? values[r * cols + c] : std::nanf(""));
  return m;
}

class DecodeKernel : public ::testing::TestWithParam<std::size_t> {
 protected:
  const Impl<op::attention_decode>& impl() const { return implementations<op::attention_decode>()[GetParam()]; }
};

// The reference reads the same stored cache, so bf16 and fp8 are held to the fp32 tolerance.
TEST_P(DecodeKernel, MatchesReferenceOnEveryShapeLengthAndCacheType) {
  if (!can_run(impl())) GTEST_SKIP() << impl().name << " needs " << to_string(impl().isa) << ", not available here";
  for (DType dtype : {DType::f32, DType::bf16, DType::f8}) {
    ASSERT_TRUE(impl().dtypes.contains(dtype)) << impl().name << " refuses " << to_string(dtype);
    for (const Case& c : shapes()) {
      for (std::size_t L : kLengths) {
        const AttentionShape& s = c.shape;
        const Matrix k = random_cache(L + 3, L, s.n_kv_heads * s.qk_dim, dtype, kSeed + L, "k");
        const Matrix v = random_cache(L + 3, L, s.n_kv_heads * s.v_dim, dtype, kSeed + L, "v");
        const auto q = random_vector(s.n_heads * s.qk_dim, kSeed + L, "q", kUnit);
        auto want = poisoned(s.n_heads * s.v_dim), got = poisoned(s.n_heads * s.v_dim);
        reference::attention_decode(q.data(), k, v, L, s, want.data());
        impl().fn(q.data(), k, v, L, s, got.data());
        EXPECT_LE(relative_error(got, want), tolerance(L)) << c.name << ", L = " << L << ", " << to_string(dtype);
      }
    }
  }
}

// The bench shapes at a length that spans several chunks, so the partial softmaxes are merged.
TEST_P(DecodeKernel, MatchesReferenceOnBenchShapes) {
  if (!can_run(impl())) GTEST_SKIP() << impl().name << " needs " << to_string(impl().isa) << ", not available here";
  const std::size_t L = 3001;
  for (DType dtype : {DType::f32, DType::bf16, DType::f8}) {
    for (const AttentionShape& s : {make_shape(16, 4, 128, 128), make_shape(16, 16, 128, 128),
                                    make_shape(16, 1, 128, 128)}) {
      const Matrix k = random_cache(L, L, s.n_kv_heads * s.qk_dim, dtype, kSeed, "k");
      const Matrix v = random_cache(L, L, s.n_kv_heads * s.v_dim, dtype, kSeed, "v");
      const auto q = random_vector(s.n_heads * s.qk_dim, kSeed, "q", kUnit);
      auto want = poisoned(s.n_heads * s.v_dim), got = poisoned(s.n_heads * s.v_dim);
      reference::attention_decode(q.data(), k, v, L, s, want.data());
      impl().fn(q.data(), k, v, L, s, got.data());
      EXPECT_LE(relative_error(got, want), 1e-4) << s.n_kv_heads << " KV heads, " << to_string(dtype);
    }
  }
}

// One thread or two: the same result up to rounding (the chunks do not depend on the count of
// threads that run them).
TEST_P(DecodeKernel, ThreadCountDoesNotChangeTheResult) {
  if (!can_run(impl())) GTEST_SKIP() << impl().name << " needs " << to_string(impl().isa) << ", not available here";
  const AttentionShape s = make_shape(8, 2, 64, 64);
  const std::size_t L = 2000;
  const Matrix k = random_cache(L, L, s.n_kv_heads * s.qk_dim, DType::bf16, kSeed, "k");
  const Matrix v = random_cache(L, L, s.n_kv_heads * s.v_dim, DType::bf16, kSeed, "v");
  const auto q = random_vector(s.n_heads * s.qk_dim, kSeed, "q", kUnit);
  auto one = poisoned(s.n_heads * s.v_dim), two = poisoned(s.n_heads * s.v_dim);
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  impl().fn(q.data(), k, v, L, s, one.data());
  omp_set_num_threads(2);
  impl().fn(q.data(), k, v, L, s, two.data());
  omp_set_num_threads(threads);
  EXPECT_LE(relative_error(two, one), 1e-5);
}

// The test name of implementation number param.param of Op: its name ("avx512", "portable", ...).
template <class Op>
std::string impl_name(const ::testing::TestParamInfo<std::size_t>& param) {
  return std::string(implementations<Op>()[param.param].name);
}

INSTANTIATE_TEST_SUITE_P(Impl, PrefillKernel,
                         ::testing::Range<std::size_t>(0, implementations<op::attention_prefill>().size()),
                         impl_name<op::attention_prefill>);
INSTANTIATE_TEST_SUITE_P(Impl, DecodeKernel,
                         ::testing::Range<std::size_t>(0, implementations<op::attention_decode>().size()),
                         impl_name<op::attention_decode>);

// ---------------------------------------------------------------------------------------------
// Dispatch under a capped instruction set: the capped level's kernel is picked, and it matches.

void expect_dispatch_picks(Isa cap, std::string_view want) {
  set_max_isa(cap);
  const AttentionShape s = make_shape(8, 2, 64, 64);
  EXPECT_EQ(selected<op::attention_prefill>().name, want);
  EXPECT_EQ(selected<op::attention_decode>(DType::f8).name, want);

  const std::size_t T = 40;
  const auto in = prefill_inputs(T, s, kSeed);
  auto want_prefill = poisoned(T * s.n_heads * s.v_dim), got_prefill = poisoned(T * s.n_heads * s.v_dim);
  reference::attention_prefill(in.q.data(), in.k.data(), in.v.data(), T, s, want_prefill.data());
  kernels::attention_prefill(in.q.data(), in.k.data(), in.v.data(), T, s, got_prefill.data());
  EXPECT_LE(relative_error(got_prefill, want_prefill), 1e-5);

  const std::size_t L = 600;
  const Matrix k = random_cache(L, L, s.n_kv_heads * s.qk_dim, DType::f8, kSeed, "k");
  const Matrix v = random_cache(L, L, s.n_kv_heads * s.v_dim, DType::f8, kSeed, "v");
  const auto q = random_vector(s.n_heads * s.qk_dim, kSeed, "q", kUnit);
  auto want_decode = poisoned(s.n_heads * s.v_dim), got_decode = poisoned(s.n_heads * s.v_dim);
  reference::attention_decode(q.data(), k, v, L, s, want_decode.data());
  kernels::attention_decode(q.data(), k, v, L, s, got_decode.data());
  EXPECT_LE(relative_error(got_decode, want_decode), 1e-5);
  set_max_isa(detected_isa());
}

TEST(AttentionDispatch, Avx2CapPicksAvx2) {
  if (detected_isa() < Isa::avx2) GTEST_SKIP() << "this CPU has no AVX2";
  expect_dispatch_picks(Isa::avx2, "avx2");
}

TEST(AttentionDispatch, PortableCapPicksPortable) { expect_dispatch_picks(Isa::portable, "portable"); }

TEST(AttentionDispatch, FullIsaPicksTheFastestRunnable) {
  if (detected_isa() < Isa::avx512) GTEST_SKIP() << "this CPU has no AVX-512";
  set_max_isa(detected_isa());
  EXPECT_EQ(selected<op::attention_prefill>().name, "avx512");
  EXPECT_EQ(selected<op::attention_decode>(DType::bf16).name, "avx512");
}

}  // namespace
}  // namespace infercost
