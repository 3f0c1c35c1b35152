// Scaled dot-product attention, the part of an attention layer that reads the context:
// causal over a sequence (prefill) and one query against a KV cache (decode).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

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

// One query against L >= 1 keys: out[c] = Σ_j softmax_j(scale · score(j)) · value(j, c), c < v_dim,
// where score(j) is the query's dot product with key j and value(j, c) element c of value j.
// Shared by every reference attention kernel (MHA/GQA/MQA here, absorbed MLA in ops/mla.hpp), which
// differ only in how they read a key and a value. Scores and sums in double; the max is subtracted
// before exp so large scores cannot overflow. out: [v_dim].
template <typename Score, typename Value>
void attend(std::size_t L, std::size_t v_dim, double scale, Score score, Value value, float* out) {
  std::vector<double> p(L);
  for (std::size_t j = 0; j < L; ++j) p[j] = scale * score(j);
  const double max = *std::max_element(p.begin(), p.end());
  double sum = 0.0;
  for (double& e : p) {
    e = std::exp(e - max);
    sum += e;
  }
  for (std::size_t c = 0; c < v_dim; ++c) {
    double acc = 0.0;
    for (std::size_t j = 0; j < L; ++j) acc += p[j] * value(j, c);
    out[c] = static_cast<float>(acc / sum);
  }
}

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
