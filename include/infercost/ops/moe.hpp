// The feed-forward operators (docs/design.md, "Feed-forward"): the SwiGLU FFN that is both the dense
// baseline and every expert, the V2 (softmax) and V3 (sigmoid) routers, the MoE combine, and the
// two FeedForward layers built from them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "infercost/config.hpp"
#include "infercost/layers.hpp"
#include "infercost/weights.hpp"

namespace infercost {

// One SwiGLU FFN, y = W2 (silu(W1 x) ⊙ W3 x): the dense FFN and every expert of an MoE.
struct SwigluWeights {
  Matrix w1;  // gate projection: [inter, d]
  Matrix w3;  // up projection:   [inter, d]
  Matrix w2;  // down projection: [d, inter]

  std::size_t bytes() const { return w1.bytes() + w3.bytes() + w2.bytes(); }
};

// Seeded random weights from the sub-streams "<prefix>.w1", "<prefix>.w3", "<prefix>.w2" of `seed`.
SwigluWeights random_swiglu(std::size_t d, std::size_t inter, DType dtype, std::uint64_t seed,
                            std::string_view prefix);

// Where one token goes: experts[j] (indices into the routed experts, in the order they were
// selected, best first) weighted by gates[j].
struct Routing {
  std::vector<int> experts;
  std::vector<float> gates;
};

// Everything one MoE layer holds.
struct MoeWeights {
  Matrix router;                      // the expert centroids e_i as rows: [n_routed, d]
  std::vector<float> bias;            // b_i, used only to select: [n_routed], or empty for none
  std::vector<SwigluWeights> routed;  // [n_routed], each of width expert_intermediate_size
  std::vector<SwigluWeights> shared;  // [n_shared], same width

  std::size_t bytes() const;  // all matrices (every expert, not only the activated ones) and the bias
};

namespace reference {

// x: [M, d], y: [M, d]; w.w1, w.w3: [inter, d], w.w2: [d, inter].
void swiglu_ffn(const float* x, std::size_t M, const SwigluWeights& w, float* y);

// Routes one token. u: [d]; router_weight: [n_routed, d]; bias: [n_routed] or empty (zero).
// Scores s_i: softmax (RouterKind::softmax, DeepSeek-V2, Mixtral) or sigmoid (RouterKind::sigmoid,
// DeepSeek-V3) of u·e_i. Experts are selected by s_i + b_i; when n_group > 1, only from the
// topk_group groups ranked best by their best single s + b (softmax) or by the sum of their two best
// s + b (sigmoid). The gates are the selected s_i without the bias, divided by their sum when
// norm_topk_prob (set by DeepSeek-V3's and Mixtral's configs, not by V2's), times
// routed_scaling_factor. Ties go to the lower expert (or group) index.
// Throws ConfigError when `moe` is invalid or the router or bias does not have n_routed rows.
Routing route(const float* u, const Matrix& router_weight, const std::vector<float>& bias,
              const MoeConfig& moe);

// The MoE FFN output for T tokens. x, y: [T, d], not aliased.
// y_t = Σ_shared expert(x_t) + Σ_{i in route(x_t)} g_i · expert_i(x_t): the residual x_t is not
// included (the block adds it). Each routed expert runs only on the tokens that selected it.
void moe(const float* x, std::size_t T, const MoeWeights& w, const MoeConfig& config, float* y);

}  // namespace reference

// The dense SwiGLU FFN layer, weights "ffn.w1", "ffn.w3", "ffn.w2" (what make_dense_ffn returns).
class DenseFfn final : public FeedForward {
 public:
  DenseFfn(int intermediate_size, const LayerContext& ctx);  // throws ConfigError on a size < 1
  void forward(const float* x, std::size_t T, float* y) const override;
  std::size_t weight_bytes() const override { return weights_.bytes(); }
  const SwigluWeights& weights() const { return weights_; }

 private:
  SwigluWeights weights_;
};

// The DeepSeekMoE layer (what make_moe_ffn returns). Weights: "router", "expert.<i>.w{1,3,2}",
// "shared.<i>.w{1,3,2}"; with the sigmoid router, a bias uniform in ±0.1 ("router.bias") so that
// selection and gating differ as they do in DeepSeek-V3.
class MoeLayer final : public FeedForward {
 public:
  MoeLayer(const MoeConfig& moe, const LayerContext& ctx);  // validates before allocating
  void forward(const float* x, std::size_t T, float* y) const override;
  std::size_t weight_bytes() const override { return weights_.bytes(); }
  Routing route(const float* u) const { return reference::route(u, weights_.router, weights_.bias, config_); }
  const MoeConfig& config() const { return config_; }
  const MoeWeights& weights() const { return weights_; }

 private:
  MoeConfig config_;
  MoeWeights weights_;
};

}  // namespace infercost
