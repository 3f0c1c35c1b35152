#include <fmt/format.h>

#include "layers/layer_factories.hpp"

namespace infercost {

std::unique_ptr<Attention> make_attention(const AttentionConfig& attention, const LayerContext& ctx,
                                          MlaForm form) {
  validate(attention);
  // As the FFN layers do: a width < 1 would otherwise become a huge size_t and a failed allocation.
  if (ctx.hidden_size < 1) throw ConfigError(fmt::format("hidden_size = {}: must be >= 1", ctx.hidden_size));
  if (attention.kind == AttentionKind::mla) return make_mla_attention(attention, ctx, form);
  return make_standard_attention(attention, ctx);
}

}  // namespace infercost

namespace infercost {

void Attention::decode(const float* x, std::span<KvCache* const> caches, float* y) const {
  const std::size_t d = hidden_size();
  for (std::size_t b = 0; b < caches.size(); ++b) forward(x + b * d, 1, *caches[b], y + b * d);
}

}  // namespace infercost
