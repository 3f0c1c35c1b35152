// Every implementation of the feed-forward and small operators (swiglu_ffn, moe, rmsnorm, rope,
// swiglu) against the reference, on awkward sizes, with poisoned outputs; and dispatch under each
// instruction-set cap this CPU supports.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "infercost/kernels.hpp"
#include "infercost/ops/moe.hpp"
#include "infercost/ops/norm_rope.hpp"
#include "support/compare.hpp"

namespace infercost {
namespace {

using testing::poisoned;
using testing::random_vector;
using testing::relative_error;

constexpr std::uint64_t kSeed = 4711;
constexpr std::size_t kHidden = 37;  // not a multiple of 8 or 16
constexpr std::size_t kInter = 45;
constexpr double kTolerance = 1e-5;

template <class Op>
std::vector<std::string> impl_names() {
  std::vector<std::string> names;
  for (const auto& impl : implementations<Op>()) names.emplace_back(impl.name);
  return names;
}

template <class Op>
const Impl<Op>& impl_named(const std::string& name) {
  for (const auto& impl : implementations<Op>())
    if (impl.name == name) return impl;
  throw std::invalid_argument(name);
}

// The implementation under test, or a skip when this CPU cannot run it.
#define REQUIRE_RUNNABLE(impl)                                                                   \
  if (!(impl).runnable()) GTEST_SKIP() << (impl).name << " needs " << to_string((impl).isa)      \
                                       << "; this CPU runs at most " << to_string(max_isa())

std::string param_name(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

// ---- swiglu_ffn ----------------------------------------------------------------------------------

class SwigluFfnImpl : public ::testing::TestWithParam<std::string> {};

TEST_P(SwigluFfnImpl, MatchesReference) {
  const auto& impl = impl_named<op::swiglu_ffn>(GetParam());
  REQUIRE_RUNNABLE(impl);
  for (DType dtype : {DType::f32, DType::bf16}) {
    // The reference sees the same (bf16-stored) weights the implementation does.
    const SwigluWeights w = random_swiglu(kHidden, kInter, dtype, kSeed, "ffn");
    for (std::size_t M : {1u, 2u, 17u, 130u}) {  // 130 crosses a prefill chunk boundary
      const auto x = random_vector(M * kHidden, kSeed + M, "x");
      auto got = poisoned(M * kHidden), want = poisoned(M * kHidden);
      impl.fn(x.data(), M, w, got.data());
      reference::swiglu_ffn(x.data(), M, w, want.data());
      EXPECT_LE(relative_error(got, want), kTolerance) << to_string(dtype) << " M = " << M;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Impls, SwigluFfnImpl, ::testing::ValuesIn(impl_names<op::swiglu_ffn>()), param_name);

// ---- moe -------------------------------------------------------------------------------------------

struct MoeCase {
  std::string name;
  RouterKind router;
  int n_group, topk_group, n_shared;
};

// 12 routed experts (groups of 3 when grouped), top-3: V2-like (softmax, scaled, not renormalised)
// or V3-like (sigmoid with a selection bias, renormalised).
MoeConfig moe_config(const MoeCase& c) {
  MoeConfig m;
  m.n_routed_experts = 12;
  m.n_shared_experts = c.n_shared;
  m.top_k = 3;
  m.expert_intermediate_size = static_cast<int>(kInter);
  m.n_group = c.n_group;
  m.topk_group = c.topk_group;
  m.router = c.router;
  m.norm_topk_prob = c.router == RouterKind::sigmoid;
  m.routed_scaling_factor = c.router == RouterKind::sigmoid ? 2.5 : 16.0;
  return m;
}

const MoeCase kMoeCases[] = {
    {"v2_softmax", RouterKind::softmax, 1, 1, 2},
    {"v2_softmax_grouped", RouterKind::softmax, 4, 2, 2},
    {"v3_sigmoid_grouped", RouterKind::sigmoid, 4, 2, 1},
    {"mixtral_no_shared", RouterKind::softmax, 1, 1, 0},
};

class MoeImpl : public ::testing::TestWithParam<std::string> {};

TEST_P(MoeImpl, MatchesReference) {
  const auto& impl = impl_named<op::moe>(GetParam());
  REQUIRE_RUNNABLE(impl);
  for (const MoeCase& c : kMoeCases) {
    for (DType dtype : {DType::f32, DType::bf16}) {
      const MoeConfig config = moe_config(c);
      const MoeLayer layer(config, {static_cast<int>(kHidden), dtype, kSeed, 10000.0, 1e-6});
      for (std::size_t T : {1u, 2u, 17u}) {
        const auto x = random_vector(T * kHidden, kSeed + T, "x");
        auto got = poisoned(T * kHidden), want = poisoned(T * kHidden);
        impl.fn(x.data(), T, layer.weights(), config, got.data());
        reference::moe(x.data(), T, layer.weights(), config, want.data());
        EXPECT_LE(relative_error(got, want), kTolerance) << c.name << " " << to_string(dtype) << " T = " << T;
      }
    }
  }
}

// A decode step runs only the experts its token selected: the others' weights may be anything
// (here NaN) without changing the output.
TEST_P(MoeImpl, DecodeReadsOnlySelectedExperts) {
  const auto& impl = impl_named<op::moe>(GetParam());
  REQUIRE_RUNNABLE(impl);
  const MoeConfig config = moe_config(kMoeCases[2]);
  MoeLayer layer(config, {static_cast<int>(kHidden), DType::f32, kSeed, 10000.0, 1e-6});
  const auto x = random_vector(kHidden, kSeed, "x");
  auto want = poisoned(kHidden);
  reference::moe(x.data(), 1, layer.weights(), config, want.data());

  MoeWeights w = layer.weights();
  const Routing r = reference::route(x.data(), w.router, w.bias, config);
  for (std::size_t e = 0; e < w.routed.size(); ++e) {
    if (std::find(r.experts.begin(), r.experts.end(), static_cast<int>(e)) != r.experts.end()) continue;
    for (Matrix* m : {&w.routed[e].w1, &w.routed[e].w3, &w.routed[e].w2})
      std::fill(m->f32(), m->f32() + m->rows() * m->cols(), std::numeric_limits<float>::quiet_NaN());
  }
  auto got = poisoned(kHidden);
  impl.fn(x.data(), 1, w, config, got.data());
  EXPECT_LE(relative_error(got, want), kTolerance);
}

TEST_P(MoeImpl, RefusesRouterOfWrongSize) {
  const auto& impl = impl_named<op::moe>(GetParam());
  REQUIRE_RUNNABLE(impl);
  const MoeConfig config = moe_config(kMoeCases[0]);
  MoeLayer layer(config, {static_cast<int>(kHidden), DType::f32, kSeed, 10000.0, 1e-6});
  MoeConfig wrong = config;
  wrong.n_routed_experts = 6;
  const auto x = random_vector(kHidden, kSeed, "x");
  auto y = poisoned(kHidden);
  EXPECT_THROW(impl.fn(x.data(), 1, layer.weights(), wrong, y.data()), ConfigError);
}

INSTANTIATE_TEST_SUITE_P(Impls, MoeImpl, ::testing::ValuesIn(impl_names<op::moe>()), param_name);

// ---- rmsnorm ---------------------------------------------------------------------------------------

class RmsNormImpl : public ::testing::TestWithParam<std::string> {};

TEST_P(RmsNormImpl, MatchesReference) {
  const auto& impl = impl_named<op::rmsnorm>(GetParam());
  REQUIRE_RUNNABLE(impl);
  for (std::size_t n : {1u, 37u, 2053u}) {
    const auto gamma = random_vector(n, kSeed, "gamma");
    for (std::size_t M : {1u, 2u, 17u, 40u}) {  // 40 x 2053 takes the threaded path
      const auto x = random_vector(M * n, kSeed + M, "x", 3.0f);
      auto got = poisoned(M * n), want = poisoned(M * n);
      impl.fn(x.data(), M, n, gamma.data(), 1e-6, got.data());
      reference::rmsnorm(x.data(), M, n, gamma.data(), 1e-6, want.data());
      EXPECT_LE(relative_error(got, want), kTolerance) << "n = " << n << " M = " << M;
      auto in_place = x;  // y may alias x
      impl.fn(in_place.data(), M, n, gamma.data(), 1e-6, in_place.data());
      EXPECT_LE(relative_error(in_place, want), kTolerance) << "in place, n = " << n << " M = " << M;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Impls, RmsNormImpl, ::testing::ValuesIn(impl_names<op::rmsnorm>()), param_name);

// ---- rope ------------------------------------------------------------------------------------------

struct RopeShape {
  std::size_t heads, head_stride, rot_dim;
};

class RopeImpl : public ::testing::TestWithParam<std::string> {};

TEST_P(RopeImpl, MatchesReferenceForBothPairings) {
  const auto& impl = impl_named<op::rope>(GetParam());
  REQUIRE_RUNNABLE(impl);
  // Full heads; an odd number of pairs spanning a vector boundary; a partial rotation (MLA's rope
  // part) with padding between heads; many heads (the threaded path).
  const RopeShape shapes[] = {{3, 10, 10}, {2, 38, 38}, {5, 40, 26}, {32, 128, 128}};
  for (const RopeShape& s : shapes) {
    const std::size_t row_stride = s.heads * s.head_stride + 3;
    for (RopePairing pairing : {RopePairing::interleaved, RopePairing::halves}) {
      for (std::size_t M : {1u, 2u, 17u}) {
        std::vector<int> positions(M);
        for (std::size_t m = 0; m < M; ++m) positions[m] = static_cast<int>(m * 7919 % 200000);  // up to 2e5 rad
        const auto x = random_vector(M * row_stride, kSeed + M, "x");
        auto got = x, want = x;
        impl.fn(got.data(), M, row_stride, s.heads, s.head_stride, s.rot_dim, positions.data(), 10000.0, pairing);
        reference::rope(want.data(), M, row_stride, s.heads, s.head_stride, s.rot_dim, positions.data(), 10000.0,
                        pairing);
        EXPECT_LE(relative_error(got, want), kTolerance)
            << "head_stride " << s.head_stride << " rot_dim " << s.rot_dim << " M " << M
            << (pairing == RopePairing::halves ? " halves" : " interleaved");
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Impls, RopeImpl, ::testing::ValuesIn(impl_names<op::rope>()), param_name);

// ---- swiglu ----------------------------------------------------------------------------------------

class SwigluImpl : public ::testing::TestWithParam<std::string> {};

TEST_P(SwigluImpl, MatchesReference) {
  const auto& impl = impl_named<op::swiglu>(GetParam());
  REQUIRE_RUNNABLE(impl);
  for (std::size_t n : {1u, 37u, 1000u, 40001u}) {  // 40001: the threaded path, with a tail
    // Gates up to ±30 reach both saturated ends of the sigmoid.
    const auto gate = random_vector(n, kSeed + n, "gate", 30.0f);
    const auto up = random_vector(n, kSeed + n, "up", 2.0f);
    auto got = poisoned(n), want = poisoned(n);
    impl.fn(gate.data(), up.data(), n, got.data());
    reference::swiglu(gate.data(), up.data(), n, want.data());
    EXPECT_LE(relative_error(got, want), kTolerance) << "n = " << n;
    auto in_place = gate;  // out may alias gate (the fused FFN does so)
    impl.fn(in_place.data(), up.data(), n, in_place.data());
    EXPECT_LE(relative_error(in_place, want), kTolerance) << "in place, n = " << n;
  }
}

TEST_P(SwigluImpl, NanStaysNan) {
  const auto& impl = impl_named<op::swiglu>(GetParam());
  REQUIRE_RUNNABLE(impl);
  std::vector<float> gate(19, 1.0f), up(19, 1.0f);
  gate[17] = std::numeric_limits<float>::quiet_NaN();
  auto out = poisoned(19);
  impl.fn(gate.data(), up.data(), 19, out.data());
  EXPECT_TRUE(std::isnan(out[17]));
  EXPECT_FLOAT_EQ(out[0], reference::silu(1.0f));
}

INSTANTIATE_TEST_SUITE_P(Impls, SwigluImpl, ::testing::ValuesIn(impl_names<op::swiglu>()), param_name);

// ---- dispatch under instruction-set caps -----------------------------------------------------------

// Under each cap this CPU supports, dispatch runs the first listed implementation within the cap,
// and what it runs matches the reference.
template <class Op>
std::string expected_under_cap() {
  for (const auto& impl : implementations<Op>())
    if (impl.runnable() && !impl.external && impl.dtypes.contains(DType::f32)) return std::string(impl.name);
  return "";
}

TEST(FfnKernelDispatch, EachCapPicksTheFastestWithinIt) {
  const std::size_t M = 5, n = 99;
  const auto x = random_vector(M * n, kSeed, "x");
  const auto gamma = random_vector(n, kSeed, "gamma");
  std::vector<float> want(M * n), want_act(M * n);
  reference::rmsnorm(x.data(), M, n, gamma.data(), 1e-6, want.data());
  reference::swiglu(x.data(), gamma.data(), n, want_act.data());
  for (Isa cap : all_isas()) {
    if (cap > detected_isa()) continue;
    set_max_isa(cap);
    EXPECT_EQ(selected<op::rmsnorm>().name, expected_under_cap<op::rmsnorm>()) << to_string(cap);
    EXPECT_EQ(selected<op::rope>().name, expected_under_cap<op::rope>()) << to_string(cap);
    EXPECT_EQ(selected<op::swiglu>().name, expected_under_cap<op::swiglu>()) << to_string(cap);
    EXPECT_LE(selected<op::rmsnorm>().isa, cap);
    auto got = poisoned(M * n), act = poisoned(n);
    kernels::rmsnorm(x.data(), M, n, gamma.data(), 1e-6, got.data());
    kernels::swiglu(x.data(), gamma.data(), n, act.data());
    EXPECT_LE(relative_error(got, want), kTolerance) << to_string(cap);
    EXPECT_LE(relative_error(act.data(), want_act.data(), n), kTolerance) << to_string(cap);
  }
  set_max_isa(detected_isa());
  EXPECT_EQ(selected<op::rmsnorm>().name, expected_under_cap<op::rmsnorm>());
}

}  // namespace
}  // namespace infercost
