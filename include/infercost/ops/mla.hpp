// Multi-head latent attention in its absorbed form (DeepSeek-V2 §2.1; docs/design.md, "Multi-head
// latent attention"): the part of an MLA layer that reads the latent cache. Head i scores its
// absorbed query q~_i = W_UK,iᵀ q_C,i against the cached latent rows c_KV,j, adds its RoPE score
// against the shared k_R,j, and returns o~_i = Σ_j p_ij c_KV,j. W_UK (folded into the query) and
// W_UV, W_O (applied to o~) stay in the layer.
//
// It is multi-query attention with one key/value head: key j = [c_KV,j | k_R,j], value j = c_KV,j,
// so every head streams the same (kv_lora_rank + rope_dim) elements per cached token.
// The naive form needs no kernel of its own: it is ordinary attention (ops/attention.hpp) with
// qk_dim = qk_nope_head_dim + qk_rope_head_dim and v_dim = v_head_dim.
#pragma once

#include <cstddef>

#include "infercost/weights.hpp"

namespace infercost {

struct MlaShape {
  std::size_t n_heads = 0;
  std::size_t kv_lora_rank = 0;  // width of c_KV, of the absorbed query and of the latent output
  std::size_t rope_dim = 0;      // qk_rope_head_dim: width of q_R per head and of the shared k_R
  float scale = 1.0f;            // 1/sqrt(qk_nope_head_dim + qk_rope_head_dim): the naive form's scale
};

namespace reference {

// One query token against the first L rows of the latent cache (its own row included).
// q_latent: [n_heads, kv_lora_rank] (q~), q_rope: [n_heads, rope_dim] (q_R, RoPE applied);
// latent rows: [kv_lora_rank] (c_KV), k_rope rows: [rope_dim] (k_R, RoPE applied), fp32 or bf16,
// at least L rows each; out: [n_heads, kv_lora_rank] (o~).
void mla_decode(const float* q_latent, const float* q_rope, const Matrix& latent,
                         const Matrix& k_rope, std::size_t L, const MlaShape& shape, float* out);

// Causal attention of the first T cached tokens on themselves: query t reads rows 0..t.
// q_latent: [T, n_heads, kv_lora_rank], q_rope: [T, n_heads, rope_dim]; latent, k_rope as in
// decode, at least T rows each; out: [T, n_heads, kv_lora_rank].
void mla_prefill(const float* q_latent, const float* q_rope, const Matrix& latent,
                          const Matrix& k_rope, std::size_t T, const MlaShape& shape, float* out);

}  // namespace reference
}  // namespace infercost
