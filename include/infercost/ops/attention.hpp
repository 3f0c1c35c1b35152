// Scaled dot-product attention, the part of an attention layer that reads the context:
// causal over a sequence (prefill) and one query against a KV cache (decode).
#pragma once

#include <cstddef>

#include "infercost/weights.hpp"

namespace infercost {

// Query head h reads key/value head h / (n_heads / n_kv_heads): MHA when n_kv_heads == n_heads,
// MQA when 1, GQA otherwise. qk_dim and v_dim may differ (MLA's naive form: 192 and 128).
struct AttentionShape {
  std::size_t n_heads = 0;
  std::size_t n_kv_heads = 0;
  std::size_t qk_dim = 0;
  std::size_t v_dim = 0;
  float scale = 1.0f;  // usually 1/sqrt(qk_dim)
};

namespace reference {

// Causal attention of a T-token sequence on itself: token t attends to tokens 0..t.
// q: [T, n_heads, qk_dim], k: [T, n_kv_heads, qk_dim], v: [T, n_kv_heads, v_dim],
// out: [T, n_heads, v_dim].
void attention_prefill(const float* q, const float* k, const float* v, std::size_t T,
                       const AttentionShape& shape, float* out);

// One query against the first L rows of a cache (the query's own key and value included).
// q: [n_heads, qk_dim]; k_cache rows: [n_kv_heads, qk_dim]; v_cache rows: [n_kv_heads, v_dim],
// fp32 or bf16; out: [n_heads, v_dim].
void attention_decode(const float* q, const Matrix& k_cache, const Matrix& v_cache, std::size_t L,
                      const AttentionShape& shape, float* out);

}  // namespace reference
}  // namespace infercost
