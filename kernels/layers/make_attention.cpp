#include "layers/layer_factories.hpp"

namespace infercost {

std::unique_ptr<Attention> make_attention(const AttentionConfig& attention, const LayerContext& ctx,
                                          MlaForm form) {
  validate(attention);
  if (attention.kind == AttentionKind::mla) return make_mla_attention(attention, ctx, form);
  return make_standard_attention(attention, ctx);
}

}  // namespace infercost
