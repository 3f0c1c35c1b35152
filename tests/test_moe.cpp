// The feed-forward layers against loops written here: the dense SwiGLU FFN, the V2 (softmax) and
// V3 (sigmoid) routers, group-limited selection and the MoE combine.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "infercost/ops/moe.hpp"
#include "support/compare.hpp"

namespace infercost {
namespace {

using testing::poisoned;
using testing::random_vector;
using testing::relative_error;

// Awkward on purpose: nothing a multiple of 8, groups of 3 experts.
constexpr int kHidden = 37;
constexpr int kInter = 19;
constexpr std::uint64_t kSeed = 2024;

LayerContext context(DType dtype = DType::f32) { return {kHidden, dtype, kSeed, 10000.0, 1e-6}; }

// 12 routed experts in 4 groups of 3, 2 shared, top-3 from the best 2 groups.
MoeConfig awkward_moe(RouterKind router) {
  MoeConfig m;
  m.n_routed_experts = 12;
  m.n_shared_experts = 2;
  m.top_k = 3;
  m.expert_intermediate_size = kInter;
  m.n_group = 4;
  m.topk_group = 2;
  m.router = router;
  m.norm_topk_prob = router == RouterKind::sigmoid;
  m.routed_scaling_factor = router == RouterKind::sigmoid ? 2.5 : 16.0;
  return m;
}

// y = W2 (silu(W1 x) ⊙ W3 x) for one token, in double.
std::vector<double> hand_swiglu(const float* x, const SwigluWeights& w) {
  const std::size_t inter = w.w1.rows(), d = w.w1.cols();
  std::vector<double> act(inter);
  for (std::size_t i = 0; i < inter; ++i) {
    double g = 0.0, u = 0.0;
    for (std::size_t k = 0; k < d; ++k) {
      g += static_cast<double>(x[k]) * w.w1.at(i, k);
      u += static_cast<double>(x[k]) * w.w3.at(i, k);
    }
    act[i] = g / (1.0 + std::exp(-g)) * u;
  }
  std::vector<double> y(d, 0.0);
  for (std::size_t k = 0; k < d; ++k)
    for (std::size_t i = 0; i < inter; ++i) y[k] += act[i] * w.w2.at(k, i);
  return y;
}

// s_i = softmax(u·e)_i or sigmoid(u·e_i), in double.
std::vector<double> hand_scores(const float* u, const Matrix& router, RouterKind kind) {
  std::vector<double> s(router.rows(), 0.0);
  for (std::size_t i = 0; i < s.size(); ++i)
    for (std::size_t k = 0; k < router.cols(); ++k) s[i] += static_cast<double>(u[k]) * router.at(i, k);
  if (kind == RouterKind::sigmoid) {
    for (double& v : s) v = 1.0 / (1.0 + std::exp(-v));
    return s;
  }
  const double max = *std::max_element(s.begin(), s.end());
  double sum = 0.0;
  for (double& v : s) sum += (v = std::exp(v - max));
  for (double& v : s) v /= sum;
  return s;
}

std::string router_name(const ::testing::TestParamInfo<RouterKind>& p) {
  return std::string(to_string(p.param));
}

// Indices 0..n-1 ordered by descending value, ties to the lower index.
std::vector<int> ranked(const std::vector<double>& v) {
  std::vector<int> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return v[a] > v[b]; });
  return idx;
}

// The groups a token may use, recomputed from the selection keys s + b.
std::set<int> kept_groups(const std::vector<double>& key, const MoeConfig& m) {
  const int per = m.experts_per_group();
  std::vector<double> group_score(static_cast<std::size_t>(m.n_group));
  for (int g = 0; g < m.n_group; ++g) {
    std::vector<double> members(key.begin() + g * per, key.begin() + (g + 1) * per);
    std::sort(members.rbegin(), members.rend());
    group_score[g] = m.router == RouterKind::softmax ? members[0] : members[0] + members[1];
  }
  const std::vector<int> order = ranked(group_score);
  return {order.begin(), order.begin() + m.topk_group};
}

// A router whose row i is logits_i · u / |u|², so that u·e_i = logits_i exactly.
Matrix router_with_logits(const std::vector<float>& u, const std::vector<double>& logits) {
  double norm2 = 0.0;
  for (float v : u) norm2 += static_cast<double>(v) * v;
  Matrix router(logits.size(), u.size(), DType::f32);
  for (std::size_t i = 0; i < logits.size(); ++i)
    for (std::size_t k = 0; k < u.size(); ++k) router.set(i, k, static_cast<float>(logits[i] * u[k] / norm2));
  return router;
}

// A float copy of a matrix's values: bf16 weights seen as the fp32 weights they round to.
Matrix as_f32(const Matrix& w) {
  Matrix out(w.rows(), w.cols(), DType::f32);
  for (std::size_t r = 0; r < w.rows(); ++r)
    for (std::size_t c = 0; c < w.cols(); ++c) out.set(r, c, w.at(r, c));
  return out;
}

SwigluWeights as_f32(const SwigluWeights& w) { return {as_f32(w.w1), as_f32(w.w3), as_f32(w.w2)}; }

// ---------------------------------------------------------------------------------------------
// Dense SwiGLU FFN.

TEST(DenseFfn, MatchesHandLoop) {
  const std::size_t T = 5;
  const auto ffn = make_dense_ffn(kInter, context());
  const auto& weights = dynamic_cast<const DenseFfn&>(*ffn).weights();
  ASSERT_EQ(weights.w1.rows(), static_cast<std::size_t>(kInter));
  ASSERT_EQ(weights.w2.rows(), static_cast<std::size_t>(kHidden));
  const std::vector<float> x = random_vector(T * kHidden, kSeed, "x");
  std::vector<float> y = poisoned(T * kHidden), want(T * kHidden);
  ffn->forward(x.data(), T, y.data());
  for (std::size_t t = 0; t < T; ++t) {
    const std::vector<double> row = hand_swiglu(x.data() + t * kHidden, weights);
    std::copy(row.begin(), row.end(), want.begin() + static_cast<std::ptrdiff_t>(t * kHidden));
  }
  EXPECT_LE(relative_error(y, want), 1e-5);
  EXPECT_EQ(ffn->weight_bytes(), 3u * kInter * kHidden * sizeof(float));
}

TEST(DenseFfn, Bf16WeightsMatchRoundedFp32) {
  const std::size_t T = 3;
  const DenseFfn bf16(kInter, context(DType::bf16)), f32(kInter, context(DType::f32));
  EXPECT_EQ(bf16.weight_bytes() * 2, f32.weight_bytes());
  const std::vector<float> x = random_vector(T * kHidden, kSeed, "x");
  std::vector<float> y_bf16 = poisoned(T * kHidden), y_f32 = poisoned(T * kHidden);
  std::vector<float> y_rounded = poisoned(T * kHidden);
  bf16.forward(x.data(), T, y_bf16.data());
  f32.forward(x.data(), T, y_f32.data());
  const SwigluWeights rounded = as_f32(f32.weights());
  // The same seed gives the same values, rounded to bf16: the two layers differ only by rounding.
  for (std::size_t r = 0; r < rounded.w1.rows(); ++r)
    for (std::size_t c = 0; c < rounded.w1.cols(); ++c)
      ASSERT_EQ(bf16.weights().w1.at(r, c), round_to_bf16(rounded.w1.at(r, c)));
  reference::swiglu_ffn(x.data(), T, as_f32(bf16.weights()), y_rounded.data());
  EXPECT_LE(relative_error(y_bf16, y_rounded), 1e-5);
  const double err = relative_error(y_bf16, y_f32);
  EXPECT_LE(err, 1e-2);
  EXPECT_GT(err, 0.0);  // the rounding is really there
}

// ---------------------------------------------------------------------------------------------
// Routing.

// The gates of a token routed to every expert are all the scores, whatever the router.
class MoeAllExperts : public ::testing::TestWithParam<RouterKind> {};

TEST_P(MoeAllExperts, EqualsGateWeightedSumOfAllExperts) {
  MoeConfig m = awkward_moe(GetParam());
  m.top_k = m.n_routed_experts;
  m.topk_group = m.n_group;
  m.norm_topk_prob = false;
  m.routed_scaling_factor = 1.0;
  const MoeLayer layer(m, context());
  const MoeWeights& w = layer.weights();
  const std::size_t T = 7;
  const std::vector<float> x = random_vector(T * kHidden, kSeed, "x");
  std::vector<float> y = poisoned(T * kHidden), want(T * kHidden);
  layer.forward(x.data(), T, y.data());
  for (std::size_t t = 0; t < T; ++t) {
    const float* u = x.data() + t * kHidden;
    const std::vector<double> s = hand_scores(u, w.router, m.router);
    std::vector<double> acc(kHidden, 0.0);
    for (const SwigluWeights& e : w.shared) {
      const std::vector<double> out = hand_swiglu(u, e);
      for (int k = 0; k < kHidden; ++k) acc[k] += out[k];
    }
    for (int i = 0; i < m.n_routed_experts; ++i) {
      const std::vector<double> out = hand_swiglu(u, w.routed[i]);
      for (int k = 0; k < kHidden; ++k) acc[k] += s[i] * out[k];
    }
    std::copy(acc.begin(), acc.end(), want.begin() + static_cast<std::ptrdiff_t>(t * kHidden));
  }
  EXPECT_LE(relative_error(y, want), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Routers, MoeAllExperts, ::testing::Values(RouterKind::softmax, RouterKind::sigmoid),
                         router_name);

class MoeRouter : public ::testing::TestWithParam<RouterKind> {};

// Logits u·e_i of 4 for expert a, 3 for b, and in [-3, -1] for the others, which then lose both the
// expert and the group ranking.
TEST_P(MoeRouter, TokenBuiltToPreferTwoExpertsGetsThem) {
  MoeConfig m = awkward_moe(GetParam());
  m.top_k = 2;
  const std::vector<float> u = random_vector(kHidden, kSeed, "u");
  const std::vector<float> others = random_vector(m.n_routed_experts, kSeed, "others");
  const std::vector<float> bias = random_vector(m.n_routed_experts, kSeed, "bias", 0.1f);
  // (same group), (groups 0 and 2), (groups 3 and 1: the better expert first, though its index is higher).
  for (const auto& [a, b] : std::vector<std::pair<int, int>>{{0, 1}, {2, 7}, {11, 4}}) {
    std::vector<double> logits(static_cast<std::size_t>(m.n_routed_experts));
    for (int i = 0; i < m.n_routed_experts; ++i) logits[i] = i == a ? 4.0 : i == b ? 3.0 : -2.0 + others[i];
    const Matrix router = router_with_logits(u, logits);
    for (int n_group : {1, 4}) {
      m.n_group = n_group;
      m.topk_group = n_group == 1 ? 1 : 2;
      const Routing r = reference::route(u.data(), router, bias, m);
      EXPECT_EQ(r.experts, (std::vector<int>{a, b})) << "a=" << a << " b=" << b << " n_group=" << n_group;
      ASSERT_EQ(r.gates.size(), 2u);
    }
  }
}

// Many random tokens: every selected expert lies in a group the test itself ranks among the
// topk_group best, and the selection is the top-k of those groups' experts by s + b.
TEST_P(MoeRouter, GroupLimitedSelectionStaysInBestGroups) {
  const MoeConfig m = awkward_moe(GetParam());
  const MoeLayer layer(m, context());
  const MoeWeights& w = layer.weights();
  ASSERT_EQ(w.bias.empty(), m.router == RouterKind::softmax);
  const int per = m.experts_per_group();
  const std::size_t tokens = 300;
  const std::vector<float> x = random_vector(tokens * kHidden, kSeed, "tokens", 3.0f);
  int limited = 0;  // tokens whose unrestricted top-k would leave the kept groups
  for (std::size_t t = 0; t < tokens; ++t) {
    const float* u = x.data() + t * kHidden;
    std::vector<double> key = hand_scores(u, w.router, m.router);
    for (std::size_t i = 0; i < w.bias.size(); ++i) key[i] += w.bias[i];
    const std::set<int> groups = kept_groups(key, m);
    std::vector<double> masked = key;
    for (int i = 0; i < m.n_routed_experts; ++i)
      if (!groups.count(i / per)) masked[i] = -1e30;
    const std::vector<int> want_order = ranked(masked), free_order = ranked(key);
    const std::vector<int> want(want_order.begin(), want_order.begin() + m.top_k);

    const Routing r = layer.route(u);
    ASSERT_EQ(r.experts.size(), static_cast<std::size_t>(m.top_k));
    for (int e : r.experts) EXPECT_TRUE(groups.count(e / per)) << "token " << t << " expert " << e;
    EXPECT_EQ(r.experts, want) << "token " << t;
    limited += !std::equal(want.begin(), want.end(), free_order.begin());
  }
  EXPECT_GT(limited, 0) << "the group limit never changed a selection: the test proves nothing";
}

// All scores equal: the lowest indices win, and the lowest groups.
TEST_P(MoeRouter, TiesGoToLowerIndex) {
  const MoeConfig m = awkward_moe(GetParam());
  const Matrix router(static_cast<std::size_t>(m.n_routed_experts), kHidden, DType::f32);  // zeros
  const std::vector<float> u = random_vector(kHidden, kSeed, "u");
  EXPECT_EQ(reference::route(u.data(), router, {}, m).experts, (std::vector<int>{0, 1, 2}));
  MoeConfig ungrouped = m;
  ungrouped.n_group = 1;
  ungrouped.topk_group = 1;
  EXPECT_EQ(reference::route(u.data(), router, {}, ungrouped).experts, (std::vector<int>{0, 1, 2}));
}

INSTANTIATE_TEST_SUITE_P(Routers, MoeRouter, ::testing::Values(RouterKind::softmax, RouterKind::sigmoid),
                         router_name);

// Group 0 holds the best single expert (logit 3, then -2, -2); group 1 the best pair (2.5, 2.4).
// V2 ranks groups by their best score and keeps group 0; V3 by the sum of their two best and keeps
// group 1 (sigmoid: 0.95 + 0.12 < 0.92 + 0.92). Unlimited, the top 2 would be experts 0 and 3.
TEST(MoeRouterGroups, V2RanksGroupsByBestScoreV3ByBestTwo) {
  const std::vector<double> logits{3.0, -2.0, -2.0, 2.5, 2.4, -2.0, -3.0, -3.0, -3.0, -3.0, -3.0, -3.0};
  const std::vector<float> u = random_vector(kHidden, kSeed, "u");
  const Matrix router = router_with_logits(u, logits);
  for (RouterKind kind : {RouterKind::softmax, RouterKind::sigmoid}) {
    MoeConfig m = awkward_moe(kind);
    m.top_k = 2;
    m.topk_group = 1;
    const std::vector<int> want =
        kind == RouterKind::softmax ? std::vector<int>{0, 1} : std::vector<int>{3, 4};
    EXPECT_EQ(reference::route(u.data(), router, {}, m).experts, want) << to_string(kind);
    m.n_group = 1;
    EXPECT_EQ(reference::route(u.data(), router, {}, m).experts, (std::vector<int>{0, 3})) << to_string(kind);
  }
}

TEST(MoeRouterV3, GatesAreNormalisedScoresWithoutBiasTimesFactor) {
  const MoeConfig m = awkward_moe(RouterKind::sigmoid);
  const MoeLayer layer(m, context());
  const std::vector<float> x = random_vector(50 * kHidden, kSeed, "tokens", 3.0f);
  for (std::size_t t = 0; t < 50; ++t) {
    const float* u = x.data() + t * kHidden;
    const std::vector<double> s = hand_scores(u, layer.weights().router, m.router);
    const Routing r = layer.route(u);
    double sum_s = 0.0, sum_g = 0.0;
    for (int e : r.experts) sum_s += s[e];
    for (std::size_t j = 0; j < r.gates.size(); ++j) {
      EXPECT_NEAR(r.gates[j], s[r.experts[j]] / sum_s * m.routed_scaling_factor, 1e-5);
      sum_g += r.gates[j];
    }
    EXPECT_NEAR(sum_g, m.routed_scaling_factor, 1e-5);
  }
}

// Expert 1 scores a little below expert 0 but its bias lifts it above: it is selected, and its
// gate is still its own score, the bias left out.
TEST(MoeRouterV3, BiasSteersSelectionButNotGates) {
  MoeConfig m = awkward_moe(RouterKind::sigmoid);
  m.top_k = 1;
  m.n_group = 1;
  m.topk_group = 1;
  m.norm_topk_prob = false;
  m.routed_scaling_factor = 1.0;
  std::vector<float> u(kHidden, 0.0f);
  u[0] = 1.0f;
  Matrix router(static_cast<std::size_t>(m.n_routed_experts), kHidden, DType::f32);  // scores sigmoid(0)
  router.set(0, 0, 1.0f);
  router.set(1, 0, 0.9f);
  std::vector<float> bias(static_cast<std::size_t>(m.n_routed_experts), 0.0f);
  EXPECT_EQ(reference::route(u.data(), router, bias, m).experts, std::vector<int>{0});
  bias[1] = 0.3f;
  const Routing r = reference::route(u.data(), router, bias, m);
  EXPECT_EQ(r.experts, std::vector<int>{1});
  EXPECT_NEAR(r.gates[0], 1.0 / (1.0 + std::exp(-0.9)), 1e-6);
}

TEST(MoeRouterV2, GatesAreSoftmaxScoresTimesFactorNotRenormalised) {
  const MoeConfig m = awkward_moe(RouterKind::softmax);
  const MoeLayer layer(m, context());
  const std::vector<float> x = random_vector(50 * kHidden, kSeed, "tokens", 3.0f);
  for (std::size_t t = 0; t < 50; ++t) {
    const float* u = x.data() + t * kHidden;
    const std::vector<double> s = hand_scores(u, layer.weights().router, m.router);
    const Routing r = layer.route(u);
    double sum_g = 0.0;
    for (std::size_t j = 0; j < r.gates.size(); ++j) {
      EXPECT_NEAR(r.gates[j], s[r.experts[j]] * m.routed_scaling_factor, 1e-5 * m.routed_scaling_factor);
      sum_g += r.gates[j];
    }
    EXPECT_LT(sum_g, m.routed_scaling_factor);
  }
}

// Mixtral: softmax over all experts, top-2, renormalised: the softmax of the two selected logits.
TEST(MoeRouterV2, MixtralRenormalisesTheSelectedGates) {
  MoeConfig m;
  m.n_routed_experts = 7;
  m.top_k = 2;
  m.expert_intermediate_size = kInter;
  m.norm_topk_prob = true;
  const Matrix router = random_matrix(7, kHidden, DType::f32, kSeed, "router");
  const std::vector<float> u = random_vector(kHidden, kSeed, "u", 3.0f);
  const std::vector<double> s = hand_scores(u.data(), router, RouterKind::softmax);
  const std::vector<int> order = ranked(s);
  const Routing r = reference::route(u.data(), router, {}, m);
  ASSERT_EQ(r.experts, (std::vector<int>{order[0], order[1]}));
  EXPECT_NEAR(r.gates[0], s[order[0]] / (s[order[0]] + s[order[1]]), 1e-6);
  EXPECT_NEAR(r.gates[0] + r.gates[1], 1.0, 1e-6);
}

// ---------------------------------------------------------------------------------------------
// The MoE combine.

// Each token: shared experts plus its own top-k experts weighted by its gates; a batch gives the
// same rows as its tokens one at a time (prefill and decode agree).
TEST_P(MoeRouter, ForwardSumsSharedAndSelectedExperts) {
  const MoeConfig m = awkward_moe(GetParam());
  const MoeLayer layer(m, context());
  const MoeWeights& w = layer.weights();
  const std::size_t T = 9;
  const std::vector<float> x = random_vector(T * kHidden, kSeed, "x", 2.0f);
  std::vector<float> y = poisoned(T * kHidden), want(T * kHidden), one = poisoned(kHidden);
  layer.forward(x.data(), T, y.data());
  for (std::size_t t = 0; t < T; ++t) {
    const float* u = x.data() + t * kHidden;
    std::vector<double> acc(kHidden, 0.0);
    for (const SwigluWeights& e : w.shared) {
      const std::vector<double> out = hand_swiglu(u, e);
      for (int k = 0; k < kHidden; ++k) acc[k] += out[k];
    }
    const Routing r = layer.route(u);
    for (std::size_t j = 0; j < r.experts.size(); ++j) {
      const std::vector<double> out = hand_swiglu(u, w.routed[r.experts[j]]);
      for (int k = 0; k < kHidden; ++k) acc[k] += r.gates[j] * out[k];
    }
    std::copy(acc.begin(), acc.end(), want.begin() + static_cast<std::ptrdiff_t>(t * kHidden));
    layer.forward(u, 1, one.data());
    EXPECT_LE(relative_error(one.data(), y.data() + t * kHidden, kHidden), 1e-6) << "token " << t;
  }
  EXPECT_LE(relative_error(y, want), 1e-5);
}

TEST(MoeLayer, Bf16WeightsMatchFp32RoundedToBf16) {
  const MoeConfig m = awkward_moe(RouterKind::sigmoid);
  const MoeLayer layer(m, context(DType::bf16));
  const MoeWeights& w = layer.weights();
  MoeWeights rounded{as_f32(w.router), w.bias, {}, {}};
  for (const SwigluWeights& e : w.routed) rounded.routed.push_back(as_f32(e));
  for (const SwigluWeights& e : w.shared) rounded.shared.push_back(as_f32(e));
  const std::size_t T = 6;
  const std::vector<float> x = random_vector(T * kHidden, kSeed, "x");
  std::vector<float> y = poisoned(T * kHidden), want = poisoned(T * kHidden);
  layer.forward(x.data(), T, y.data());
  reference::moe(x.data(), T, rounded, m, want.data());
  EXPECT_LE(relative_error(y, want), 1e-5);
}

TEST(MoeLayer, WeightBytesCountEveryExpertAndTheBias) {
  const MoeConfig m = awkward_moe(RouterKind::sigmoid);
  const std::size_t expert = 3u * kInter * kHidden;
  const std::size_t matrices = 12u * kHidden + (12u + 2u) * expert;
  EXPECT_EQ(make_moe_ffn(m, context())->weight_bytes(), matrices * 4 + 12 * sizeof(float));
  EXPECT_EQ(make_moe_ffn(m, context(DType::bf16))->weight_bytes(), matrices * 2 + 12 * sizeof(float));
  EXPECT_EQ(make_moe_ffn(awkward_moe(RouterKind::softmax), context())->weight_bytes(), matrices * 4);
}

TEST(MoeLayer, RefusesConfigsThatCannotRoute) {
  MoeConfig m = awkward_moe(RouterKind::softmax);
  m.top_k = 7;  // more than the 2 kept groups of 3 experts hold
  EXPECT_THROW(make_moe_ffn(m, context()), ConfigError);
  EXPECT_THROW(make_dense_ffn(0, context()), ConfigError);
  LayerContext no_width = context();
  no_width.hidden_size = 0;
  EXPECT_THROW(make_moe_ffn(awkward_moe(RouterKind::softmax), no_width), ConfigError);
  const Matrix too_few_rows(11, kHidden, DType::f32);
  const std::vector<float> u(kHidden, 1.0f);
  EXPECT_THROW(reference::route(u.data(), too_few_rows, {}, awkward_moe(RouterKind::softmax)), ConfigError);
  EXPECT_NO_THROW(make_moe_ffn(awkward_moe(RouterKind::softmax), context()));
}

}  // namespace
}  // namespace infercost
