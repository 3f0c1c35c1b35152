// Reference SwiGLU FFN, DeepSeek-V2/V3 routers and MoE combine: plain loops, the math of
// docs/design.md, "Feed-forward".
#include "infercost/ops/moe.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <utility>

#include "infercost/ops/gemm.hpp"
#include "infercost/ops/norm_rope.hpp"

namespace infercost {

std::size_t MoeWeights::bytes() const {
  std::size_t total = router.bytes() + bias.size() * sizeof(float);
  for (const SwigluWeights& e : routed) total += e.bytes();
  for (const SwigluWeights& e : shared) total += e.bytes();
  return total;
}

namespace reference {

void swiglu_ffn(const float* x, std::size_t M, const SwigluWeights& w, float* y) {
  const std::size_t inter = w.w1.rows();
  std::vector<float> gate(M * inter), up(M * inter), act(M * inter);
  gemm(x, M, w.w1, gate.data());
  gemm(x, M, w.w3, up.data());
  swiglu(gate.data(), up.data(), M * inter, act.data());
  gemm(act.data(), M, w.w2, y);
}

namespace {

void check_router(const Matrix& router_weight, const std::vector<float>& bias, const MoeConfig& moe) {
  validate(moe);
  const auto n = static_cast<std::size_t>(moe.n_routed_experts);
  if (router_weight.rows() != n || !(bias.empty() || bias.size() == n))
    throw ConfigError(fmt::format("router has {} rows and bias {} values: both must be n_routed_experts = {} "
                                  "(the bias may also be empty)",
                                  router_weight.rows(), bias.size(), n));
}

// s_i = softmax_i(u·e) or sigmoid(u·e_i). u: [d], router_weight: [n_routed, d]; returns [n_routed].
std::vector<float> router_scores(const float* u, const Matrix& router_weight, RouterKind kind) {
  std::vector<float> s(router_weight.rows());
  gemm(u, 1, router_weight, s.data());
  if (kind == RouterKind::softmax) {
    softmax(s.data(), s.size());
  } else {
    for (float& v : s) v = static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(v))));
  }
  return s;
}

// The k best of `candidates` by descending key; equal keys go to the lower index so that the
// selection does not depend on the order candidates come in.
std::vector<int> top_k(const std::vector<double>& key, std::vector<int> candidates, int k) {
  const auto better = [&](int a, int b) { return key[a] != key[b] ? key[a] > key[b] : a < b; };
  std::partial_sort(candidates.begin(), candidates.begin() + k, candidates.end(), better);
  candidates.resize(static_cast<std::size_t>(k));
  return candidates;
}

// The experts in the topk_group best groups. A group's score is its best key (softmax router,
// DeepSeek-V2) or the sum of its two best keys (sigmoid router, DeepSeek-V3).
std::vector<int> experts_in_best_groups(const std::vector<double>& key, const MoeConfig& moe) {
  const int per_group = moe.experts_per_group();
  const int summed = moe.router == RouterKind::softmax ? 1 : 2;
  std::vector<double> group_score(static_cast<std::size_t>(moe.n_group));
  for (int g = 0; g < moe.n_group; ++g) {
    std::vector<double> members(key.begin() + g * per_group, key.begin() + (g + 1) * per_group);
    std::partial_sort(members.begin(), members.begin() + summed, members.end(), std::greater<>());
    group_score[static_cast<std::size_t>(g)] =
        std::accumulate(members.begin(), members.begin() + summed, 0.0);
  }
  std::vector<int> groups(static_cast<std::size_t>(moe.n_group));
  std::iota(groups.begin(), groups.end(), 0);
  std::vector<int> experts;
  for (int g : top_k(group_score, groups, moe.topk_group))
    for (int i = 0; i < per_group; ++i) experts.push_back(g * per_group + i);
  return experts;
}

}  // namespace

Routing route(const float* u, const Matrix& router_weight, const std::vector<float>& bias,
              const MoeConfig& moe) {
  check_router(router_weight, bias, moe);
  const std::vector<float> s = router_scores(u, router_weight, moe.router);
  std::vector<double> key(s.begin(), s.end());  // what selection ranks: s + b
  for (std::size_t i = 0; i < bias.size(); ++i) key[i] += bias[i];

  std::vector<int> candidates(s.size());
  std::iota(candidates.begin(), candidates.end(), 0);
  if (moe.n_group > 1) candidates = experts_in_best_groups(key, moe);

  Routing r;
  r.experts = top_k(key, std::move(candidates), moe.top_k);
  double sum = 0.0;
  for (int e : r.experts) sum += s[static_cast<std::size_t>(e)];
  const double scale = moe.routed_scaling_factor / (moe.norm_topk_prob ? sum : 1.0);
  for (int e : r.experts) r.gates.push_back(static_cast<float>(s[static_cast<std::size_t>(e)] * scale));
  return r;
}

void moe(const float* x, std::size_t T, const MoeWeights& w, const MoeConfig& config, float* y) {
  const std::size_t d = w.router.cols();
  std::fill(y, y + T * d, 0.0f);
  std::vector<float> out(T * d);
  for (const SwigluWeights& expert : w.shared) {
    swiglu_ffn(x, T, expert, out.data());
    for (std::size_t i = 0; i < T * d; ++i) y[i] += out[i];
  }

  // Gather, for each routed expert, the tokens that chose it and their gates, so that each
  // expert runs once over its tokens as a serving engine batches them.
  std::vector<std::vector<std::pair<std::size_t, float>>> chosen_by(w.routed.size());
  for (std::size_t t = 0; t < T; ++t) {
    const Routing r = route(x + t * d, w.router, w.bias, config);
    for (std::size_t j = 0; j < r.experts.size(); ++j)
      chosen_by[static_cast<std::size_t>(r.experts[j])].emplace_back(t, r.gates[j]);
  }
  std::vector<float> rows;
  for (std::size_t e = 0; e < w.routed.size(); ++e) {
    const auto& tokens = chosen_by[e];
    if (tokens.empty()) continue;
    rows.clear();
    for (const auto& token : tokens) rows.insert(rows.end(), x + token.first * d, x + (token.first + 1) * d);
    swiglu_ffn(rows.data(), tokens.size(), w.routed[e], out.data());
    for (std::size_t j = 0; j < tokens.size(); ++j) {
      const auto& [t, gate] = tokens[j];
      for (std::size_t k = 0; k < d; ++k) y[t * d + k] += gate * out[j * d + k];
    }
  }
}

}  // namespace reference
}  // namespace infercost
