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
