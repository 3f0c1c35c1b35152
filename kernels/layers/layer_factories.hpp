// The concrete layer constructors behind make_attention (layers.hpp).
#pragma once

#include "infercost/layers.hpp"

namespace infercost {

std::unique_ptr<Attention> make_standard_attention(const AttentionConfig& attention, const LayerContext& ctx);
std::unique_ptr<Attention> make_mla_attention(const AttentionConfig& attention, const LayerContext& ctx,
                                              MlaForm form);

}  // namespace infercost
