#include "infercost/ops/attention.hpp"

#include <cassert>

namespace infercost::reference {

namespace {

// One query head q: [qk_dim] against L keys; key(j, i) / value(j, c) read element i / c of key /
// value j as fp32, whatever the storage. out: [v_dim].
template <typename Key, typename Value>
void attend_head(const float* q, std::size_t L, const AttentionShape& s, Key key, Value value, float* out) {
  const auto score = [&](std::size_t j) {
    double dot = 0.0;
    for (std::size_t i = 0; i < s.qk_dim; ++i) dot += static_cast<double>(q[i]) * key(j, i);
    return dot;
  };
  attend(L, s.v_dim, s.scale, score, value, out);
}

// Query heads per key/value head: head h reads key/value head h / group.
std::size_t group_size(const AttentionShape& s) { return s.n_heads / s.n_kv_heads; }

}  // namespace

// q: [T, n_heads, qk_dim], k: [T, n_kv_heads, qk_dim], v: [T, n_kv_heads, v_dim],
// out: [T, n_heads, v_dim].
void attention_prefill(const float* q, const float* k, const float* v, std::size_t T,
                       const AttentionShape& shape, float* out) {
  const std::size_t H = shape.n_heads, KV = shape.n_kv_heads, dq = shape.qk_dim, dv = shape.v_dim;
  for (std::size_t t = 0; t < T; ++t) {
    for (std::size_t h = 0; h < H; ++h) {
      const std::size_t g = h / group_size(shape);
      auto key = [&](std::size_t j, std::size_t i) { return k[(j * KV + g) * dq + i]; };
      auto value = [&](std::size_t j, std::size_t c) { return v[(j * KV + g) * dv + c]; };
      attend_head(q + (t * H + h) * dq, t + 1, shape, key, value, out + (t * H + h) * dv);
    }
  }
}

// q: [n_heads, qk_dim]; k_cache: [>= L, n_kv_heads * qk_dim], v_cache: [>= L, n_kv_heads * v_dim]
// (fp32 or bf16); out: [n_heads, v_dim].
void attention_decode(const float* q, const Matrix& k_cache, const Matrix& v_cache, std::size_t L,
                      const AttentionShape& shape, float* out) {
  assert(L >= 1 && L <= k_cache.rows() && L <= v_cache.rows());
  const std::size_t dq = shape.qk_dim, dv = shape.v_dim;
  for (std::size_t h = 0; h < shape.n_heads; ++h) {
    const std::size_t g = h / group_size(shape);
    auto key = [&](std::size_t j, std::size_t i) { return k_cache.at(j, g * dq + i); };
    auto value = [&](std::size_t j, std::size_t c) { return v_cache.at(j, g * dv + c); };
    attend_head(q + h * dq, L, shape, key, value, out + h * dv);
  }
}

}  // namespace infercost::reference
