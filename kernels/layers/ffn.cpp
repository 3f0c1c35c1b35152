// The two feed-forward layers (docs/design.md, "Feed-forward"): the dense SwiGLU FFN and
// DeepSeekMoE, with seeded random weights, computed by the reference kernels of ops/moe.hpp.
#include <fmt/format.h>

#include <string>

#include "infercost/kernels.hpp"
#include "infercost/ops/moe.hpp"

namespace infercost {

namespace {

// The magnitude of the V3 selection bias: large enough to change some selections, so that the
// bias path is exercised, small next to the sigmoid scores it shifts.
constexpr float kRouterBiasScale = 0.1f;

void require_width(const char* field, int value) {
  if (value < 1) throw ConfigError(fmt::format("{} = {}: must be >= 1", field, value));
}

std::size_t width(int value) { return static_cast<std::size_t>(value); }

// Experts "<prefix>0" .. "<prefix><count-1>", each a SwiGLU FFN of width `inter`.
std::vector<SwigluWeights> random_experts(int count, const std::string& prefix, int inter,
                                          const LayerContext& ctx) {
  std::vector<SwigluWeights> experts;
  for (int i = 0; i < count; ++i)
    experts.push_back(random_swiglu(width(ctx.hidden_size), width(inter), ctx.weight_dtype, ctx.seed,
                                    prefix + std::to_string(i)));
  return experts;
}

MoeWeights random_moe(const MoeConfig& moe, const LayerContext& ctx) {
  const std::size_t n_routed = width(moe.n_routed_experts);
  MoeWeights w;
  w.router = random_matrix(n_routed, width(ctx.hidden_size), ctx.weight_dtype, ctx.seed, "router");
  if (moe.router == RouterKind::sigmoid) {
    w.bias.resize(n_routed);
    fill_uniform(w.bias.data(), n_routed, mix_seed(ctx.seed, "router.bias"), kRouterBiasScale);
  }
  w.routed = random_experts(moe.n_routed_experts, "expert.", moe.expert_intermediate_size, ctx);
  w.shared = random_experts(moe.n_shared_experts, "shared.", moe.expert_intermediate_size, ctx);
  return w;
}

}  // namespace

SwigluWeights random_swiglu(std::size_t d, std::size_t inter, DType dtype, std::uint64_t seed,
                            std::string_view prefix) {
  const std::string p(prefix);
  return {random_matrix(inter, d, dtype, seed, p + ".w1"),
          random_matrix(inter, d, dtype, seed, p + ".w3"),
          random_matrix(d, inter, dtype, seed, p + ".w2")};
}

DenseFfn::DenseFfn(int intermediate_size, const LayerContext& ctx) {
  require_width("hidden_size", ctx.hidden_size);
  require_width("intermediate_size", intermediate_size);
  weights_ =
      random_swiglu(width(ctx.hidden_size), width(intermediate_size), ctx.weight_dtype, ctx.seed, "ffn");
}

void DenseFfn::forward(const float* x, std::size_t T, float* y) const {
  kernels::swiglu_ffn(x, T, weights_, y);
}

MoeLayer::MoeLayer(const MoeConfig& moe, const LayerContext& ctx) : config_(moe) {
  validate(moe);
  require_width("hidden_size", ctx.hidden_size);
  weights_ = random_moe(moe, ctx);
}

void MoeLayer::forward(const float* x, std::size_t T, float* y) const {
  kernels::moe(x, T, weights_, config_, y);
}

std::unique_ptr<FeedForward> make_dense_ffn(int intermediate_size, const LayerContext& ctx) {
  return std::make_unique<DenseFfn>(intermediate_size, ctx);
}

std::unique_ptr<FeedForward> make_moe_ffn(const MoeConfig& moe, const LayerContext& ctx) {
  return std::make_unique<MoeLayer>(moe, ctx);
}

}  // namespace infercost
