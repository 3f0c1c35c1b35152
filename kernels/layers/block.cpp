#include <fmt/format.h>

#include <vector>

#include "infercost/kernels.hpp"
#include "infercost/cost_model.hpp"
#include "infercost/layers.hpp"
#include "infercost/ops/norm_rope.hpp"

namespace infercost {

Block::Block(std::unique_ptr<Attention> attention, std::unique_ptr<FeedForward> ffn, const LayerContext& ctx)
    : attention_(std::move(attention)),
      ffn_(std::move(ffn)),
      hidden_size_(ctx.hidden_size),
      eps_(ctx.rms_norm_eps),
      attn_norm_(random_gain(static_cast<std::size_t>(ctx.hidden_size), DType::f32, ctx.seed, "attn_norm")),
      ffn_norm_(random_gain(static_cast<std::size_t>(ctx.hidden_size), DType::f32, ctx.seed, "ffn_norm")) {}

void Block::forward(const float* x, std::size_t T, KvCache& cache, float* y) const {
  const std::size_t d = static_cast<std::size_t>(hidden_size_), n = T * d;
  std::vector<float> normed(n), delta(n);
  kernels::rmsnorm(x, T, d, attn_norm_.f32(), eps_, normed.data());
  attention_->forward(normed.data(), T, cache, delta.data());
  for (std::size_t i = 0; i < n; ++i) y[i] = x[i] + delta[i];
  kernels::rmsnorm(y, T, d, ffn_norm_.f32(), eps_, normed.data());
  ffn_->forward(normed.data(), T, delta.data());
  for (std::size_t i = 0; i < n; ++i) y[i] += delta[i];
}

void Block::decode(const float* x, std::span<KvCache* const> caches, float* y) const {
  const std::size_t d = static_cast<std::size_t>(hidden_size_), B = caches.size(), n = B * d;
  std::vector<float> normed(n), delta(n);
  kernels::rmsnorm(x, B, d, attn_norm_.f32(), eps_, normed.data());
  attention_->decode(normed.data(), caches, delta.data());
  for (std::size_t i = 0; i < n; ++i) y[i] = x[i] + delta[i];
  kernels::rmsnorm(y, B, d, ffn_norm_.f32(), eps_, normed.data());
  ffn_->forward(normed.data(), B, delta.data());  // the FFN is per token: the batch is B tokens
  for (std::size_t i = 0; i < n; ++i) y[i] += delta[i];
}

std::size_t Block::weight_bytes() const {
  return attention_->weight_bytes() + ffn_->weight_bytes() + attn_norm_.bytes() + ffn_norm_.bytes();
}

namespace {
// The cost model's parameter count of one layer, in bytes: what make_block is about to allocate.
double layer_weight_bytes(const ModelConfig& model, int layer, DType weight_dtype) {
  const CostOptions options;
  return static_cast<double>(layer_cost(model, model.is_moe_layer(layer), options).total().params_total) *
         static_cast<double>(size_of(weight_dtype));
}
}  // namespace

Block make_block(const ModelConfig& model, int layer, DType weight_dtype, std::uint64_t seed, MlaForm form) {
  validate(model);
  if (layer < 0 || layer >= model.num_layers)
    throw ConfigError(fmt::format("layer = {}: must be in [0, {}]", layer, model.num_layers - 1));
  ensure_fits_in_memory(layer_weight_bytes(model, layer, weight_dtype),
                        fmt::format("layer {} of {} with {} weights", layer, model.name, to_string(weight_dtype)));
  const std::uint64_t layer_seed = mix_seed(seed, fmt::format("layer{}", layer));
  const LayerContext ctx{.hidden_size = model.hidden_size,
                         .weight_dtype = weight_dtype,
                         .seed = layer_seed,
                         .rope_theta = model.rope_theta,
                         .rms_norm_eps = model.rms_norm_eps};
  LayerContext attn_ctx = ctx, ffn_ctx = ctx;
  attn_ctx.seed = mix_seed(layer_seed, "attention");
  ffn_ctx.seed = mix_seed(layer_seed, "ffn");
  auto ffn = model.is_moe_layer(layer) ? make_moe_ffn(*model.moe, ffn_ctx)
                                       : make_dense_ffn(model.intermediate_size, ffn_ctx);
  return Block(make_attention(model.attention, attn_ctx, form), std::move(ffn), ctx);
}

}  // namespace infercost
