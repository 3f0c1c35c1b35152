// Every implementation of the absorbed MLA kernels (kernels/kernels.inc: mla_decode, mla_prefill)
// against the reference on awkward shapes: 1, 3, 16, 80 and 520 heads (80: two prefill and decode
// head groups, 5 lane vectors; 520: decode groups wider than 64 heads), latent widths 13..130 and
// rope widths 2..64 off the vector width, context lengths 1, 2, 17 and 1000 (several blocks, a
// partial last one), fp32, bf16 and fp8 caches. The reference reads the same stored (rounded)
// cache, so the tolerance is the fp32 one for every cache type.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstddef>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "infercost/isa.hpp"
#include "infercost/kernels.hpp"
#include "infercost/ops/mla.hpp"
#include "support/compare.hpp"

namespace infercost {
namespace {

using testing::poisoned;
using testing::random_vector;
using testing::relative_error;

constexpr std::uint64_t kSeed = 77;
constexpr double kTolerance = 1e-5;
constexpr double kLongTolerance = 1e-4;  // L or T = 1000: long softmax sums in fp32
constexpr DType kCacheTypes[] = {DType::f32, DType::bf16, DType::f8};

struct Shape {
  std::size_t n_heads, r, rope;
};

MlaShape mla_shape(const Shape& s) {
  // The scale of a head with qk_nope_head_dim 128, as DeepSeek-V2 uses.
  return {s.n_heads, s.r, s.rope, static_cast<float>(1.0 / std::sqrt(128.0 + static_cast<double>(s.rope)))};
}

std::string describe(const Shape& s, std::size_t L, DType dtype) {
  return "heads " + std::to_string(s.n_heads) + ", r " + std::to_string(s.r) + ", rope " + std::to_string(s.rope) +
         ", L " + std::to_string(L) + ", " + std::string(to_string(dtype));
}

// L random rows as `dtype` stores them, then rows of NaN that a kernel reading past L would hit.
Matrix cache(std::size_t L, std::size_t width, DType dtype, const char* name) {
  constexpr std::size_t kPastTheEnd = 3;
  Matrix m(L + kPastTheEnd, width, dtype);
  const std::vector<float> values = random_vector(L * width, kSeed + L, name, 2.0f);
  for (std::size_t j = 0; j < m.rows(); ++j)
    for (std::size_t i = 0; i < width; ++i)
      m.set(j, i, j < L ? values[j * width + i] : std::numeric_limits<float>::quiet_NaN());
  return m;
}

// The reference's output per case, computed once and shared by every implementation's test (the
// reference reads the cache element by element in double: the slow part of this suite).
template <typename Compute>
const std::vector<float>& reference_output(const std::string& key, Compute compute) {
  static std::map<std::string, std::vector<float>> outputs;
  auto it = outputs.find(key);
  if (it == outputs.end()) it = outputs.emplace(key, compute()).first;
  return it->second;
}

template <class Op>
std::string impl_name(const ::testing::TestParamInfo<std::size_t>& info) {
  return std::string(implementations<Op>()[info.param].name);
}

template <class Op>
std::vector<std::size_t> impl_indices() {
  std::vector<std::size_t> indices(implementations<Op>().size());
  for (std::size_t i = 0; i < indices.size(); ++i) indices[i] = i;
  return indices;
}

// The implementation to test, or the reason to skip it: an instruction set this CPU lacks, or the
// reference itself (the ground truth every other one is compared with).
template <class Op>
const Impl<Op>& runnable_impl(std::size_t index, bool& skip, std::string& reason) {
  const Impl<Op>& impl = implementations<Op>()[index];
  if (impl.name == "reference") {
    skip = true;
    reason = "the reference is the ground truth the other implementations are compared with";
  } else if (!impl.runnable()) {
    skip = true;
    reason = std::string(impl.name) + " needs " + std::string(to_string(impl.isa)) + "; this CPU runs at most " +
             std::string(to_string(max_isa()));
  }
  return impl;
}

// Restores OpenMP's thread count when a test changes it.
class ThreadCount {
 public:
  explicit ThreadCount(int n) : saved_(omp_get_max_threads()) { omp_set_num_threads(n); }
  ~ThreadCount() { omp_set_num_threads(saved_); }
  ThreadCount(const ThreadCount&) = delete;
  ThreadCount& operator=(const ThreadCount&) = delete;

 private:
  int saved_;
};

// ---------------------------------------------------------------------------------------------
// Decode.

class MlaDecodeKernel : public ::testing::TestWithParam<std::size_t> {};

constexpr Shape kDecodeShapes[] = {{1, 13, 2},  {3, 17, 6},   {16, 64, 64}, {3, 130, 2},
                                   {16, 13, 6}, {1, 130, 64}, {80, 17, 6},  {16, 512, 64},
                                   {520, 13, 2}};  // 520: more heads than 8 groups of 64

TEST_P(MlaDecodeKernel, MatchesReference) {
  bool skip = false;
  std::string reason;
  const auto& impl = runnable_impl<op::mla_decode>(GetParam(), skip, reason);
  if (skip) GTEST_SKIP() << reason;
  for (const Shape& s : kDecodeShapes) {
    for (const std::size_t L : {1, 2, 17, 1000}) {
      for (const DType dtype : kCacheTypes) {
        SCOPED_TRACE(describe(s, L, dtype));
        const Matrix latent = cache(L, s.r, dtype, "latent"), k_rope = cache(L, s.rope, dtype, "k_rope");
        const auto q_latent = random_vector(s.n_heads * s.r, kSeed, "q_latent", 3.0f);
        const auto q_rope = random_vector(s.n_heads * s.rope, kSeed, "q_rope", 3.0f);
        const auto& want = reference_output("decode " + describe(s, L, dtype), [&] {
          auto o = poisoned(s.n_heads * s.r);
          reference::mla_decode(q_latent.data(), q_rope.data(), latent, k_rope, L, mla_shape(s), o.data());
          return o;
        });
        // 1 thread, the machine's count, and 3 (more threads than blocks when L is short).
        for (const int threads : {1, omp_get_max_threads(), 3}) {
          SCOPED_TRACE("threads " + std::to_string(threads));
          const ThreadCount use(threads);
          auto got = poisoned(s.n_heads * s.r);
          impl.fn(q_latent.data(), q_rope.data(), latent, k_rope, L, mla_shape(s), got.data());
          EXPECT_LE(relative_error(got, want), L >= 1000 ? kLongTolerance : kTolerance);
        }
      }
    }
  }
}

// A NaN stored in the cache (E4M3 0x7f for fp8, which a bit-placing conversion could misread as a
// finite 480) reaches the output column it sits in, for every head.
TEST_P(MlaDecodeKernel, NaNInTheCacheIsNotHidden) {
  bool skip = false;
  std::string reason;
  const auto& impl = runnable_impl<op::mla_decode>(GetParam(), skip, reason);
  if (skip) GTEST_SKIP() << reason;
  const Shape s{3, 40, 6};
  constexpr std::size_t L = 100, kRow = 57, kColumn = 33;
  for (const DType dtype : kCacheTypes) {
    SCOPED_TRACE(std::string(to_string(dtype)));
    Matrix latent = cache(L, s.r, dtype, "latent");
    const Matrix k_rope = cache(L, s.rope, dtype, "k_rope");
    latent.set(kRow, kColumn, std::numeric_limits<float>::quiet_NaN());
    const auto q_latent = random_vector(s.n_heads * s.r, kSeed, "q_latent");
    const auto q_rope = random_vector(s.n_heads * s.rope, kSeed, "q_rope");
    auto got = std::vector<float>(s.n_heads * s.r, 0.0f);
    impl.fn(q_latent.data(), q_rope.data(), latent, k_rope, L, mla_shape(s), got.data());
    for (std::size_t h = 0; h < s.n_heads; ++h) EXPECT_TRUE(std::isnan(got[h * s.r + kColumn])) << "head " << h;
  }
}

INSTANTIATE_TEST_SUITE_P(Impls, MlaDecodeKernel, ::testing::ValuesIn(impl_indices<op::mla_decode>()),
                         impl_name<op::mla_decode>);

// ---------------------------------------------------------------------------------------------
// Prefill.

class MlaPrefillKernel : public ::testing::TestWithParam<std::size_t> {};

struct PrefillCase {
  Shape shape;
  std::size_t T;
};

// T = 1000 only on narrow shapes: the reference's cost grows with T².
constexpr PrefillCase kPrefillCases[] = {{{1, 13, 2}, 1},   {{3, 17, 6}, 2},    {{16, 64, 64}, 17}, {{3, 130, 2}, 17},
                                         {{80, 17, 6}, 17}, {{16, 13, 6}, 2},   {{1, 130, 64}, 17}, {{3, 17, 6}, 1000},
                                         {{16, 13, 2}, 17}, {{1, 64, 6}, 1000}, {{16, 512, 64}, 70}};

TEST_P(MlaPrefillKernel, MatchesReference) {
  bool skip = false;
  std::string reason;
  const auto& impl = runnable_impl<op::mla_prefill>(GetParam(), skip, reason);
  if (skip) GTEST_SKIP() << reason;
  for (const PrefillCase& c : kPrefillCases) {
    const Shape& s = c.shape;
    for (const DType dtype : kCacheTypes) {
      SCOPED_TRACE(describe(s, c.T, dtype));
      const Matrix latent = cache(c.T, s.r, dtype, "latent"), k_rope = cache(c.T, s.rope, dtype, "k_rope");
      const auto q_latent = random_vector(c.T * s.n_heads * s.r, kSeed, "q_latent", 3.0f);
      const auto q_rope = random_vector(c.T * s.n_heads * s.rope, kSeed, "q_rope", 3.0f);
      const auto& want = reference_output("prefill " + describe(s, c.T, dtype), [&] {
        auto o = poisoned(c.T * s.n_heads * s.r);
        reference::mla_prefill(q_latent.data(), q_rope.data(), latent, k_rope, c.T, mla_shape(s), o.data());
        return o;
      });
      auto got = poisoned(c.T * s.n_heads * s.r);
      impl.fn(q_latent.data(), q_rope.data(), latent, k_rope, c.T, mla_shape(s), got.data());
      EXPECT_LE(relative_error(got, want), c.T >= 1000 ? kLongTolerance : kTolerance);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Impls, MlaPrefillKernel, ::testing::ValuesIn(impl_indices<op::mla_prefill>()),
                         impl_name<op::mla_prefill>);

// ---------------------------------------------------------------------------------------------
// Dispatch: the fastest runnable implementation for every cache type, under each ISA cap this CPU
// supports.

// The first implementation in the list that runs at `cap`; what dispatch should choose.
template <class Op>
std::string_view expected_at(Isa cap) {
  for (const auto& impl : implementations<Op>())
    if (!impl.external && impl.isa <= cap) return impl.name;
  return "reference";
}

TEST(MlaKernelDispatch, PicksTheFastestUnderEachIsaCap) {
  for (const Isa cap : {Isa::avx512, Isa::avx2, Isa::portable}) {
    if (cap > detected_isa()) continue;
    SCOPED_TRACE(std::string(to_string(cap)));
    set_max_isa(cap);
    for (const DType dtype : kCacheTypes) {
      EXPECT_EQ(selected<op::mla_decode>(dtype).name, expected_at<op::mla_decode>(cap));
      EXPECT_EQ(selected<op::mla_prefill>(dtype).name, expected_at<op::mla_prefill>(cap));
    }
  }
  set_max_isa(detected_isa());
  if (detected_isa() >= Isa::avx512) {
    EXPECT_EQ(selected<op::mla_decode>(DType::f8).name, "avx512");
  }
  set_max_isa(Isa::avx2);
  if (detected_isa() >= Isa::avx2) {
    EXPECT_EQ(selected<op::mla_decode>(DType::bf16).name, "avx2");
  }
  set_max_isa(Isa::portable);
  EXPECT_EQ(selected<op::mla_prefill>(DType::f32).name, "portable");
  set_max_isa(detected_isa());
}

}  // namespace
}  // namespace infercost
