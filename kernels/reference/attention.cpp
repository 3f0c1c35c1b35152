#include "infercost/ops/attention.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace infercost::reference {

namespace {

// One query head against L keys: out = sum_j softmax_j(scale · q·k_j) v_j.
// q: [qk_dim]; key(j, i) / value(j, c) read element i / c of key / value j as fp32, whatever the
// storage; out: [v_dim]. Scores and sums in double; the max is subtracted before exp so large
// scores cannot overflow.
template <typename Key, typename Value>
void attend(const float* q, std::size_t L, std::size_t qk_dim, std::size_t v_dim, double scale, Key key,
            Value value, float* out) {
  std::vector<double> p(L);
  for (std::size_t j = 0; j < L; ++j) {
    double dot = 0.0;
    for (std::size_t i = 0; i < qk_dim; ++i) dot += static_cast<double>(q[i]) * key(j, i);
    p[j] = scale * dot;
  }
  const double max = *std::max_element(p.begin(), p.end());
  double sum = 0.0;
  for (double& s : p) {
    s = std::exp(s - max);
    sum += s;
  }
  for (std::size_t c = 0; c < v_dim; ++c) {
    double acc = 0.0;
    for (std::size_t j = 0; j < L; ++j) acc += p[j] * value(j, c);
    out[c] = static_cast<float>(acc / sum);
  }
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
      attend(q + (t * H + h) * dq, t + 1, dq, dv, shape.scale, key, value, out + (t * H + h) * dv);
    }
  }
}

// q: [n_heads, qk_dim]; k_cache: [>= L, n_kv_heads * qk_dim], v_cache: [>= L, n_kv_heads * v_dim]
// (fp32 or bf16); out: [n_heads, v_dim].
void attention_decode(const float* q, const Matrix& k_cache, const Matrix& v_cache, std::size_t L,
                      const AttentionShape& shape, float* out) {
  const std::size_t dq = shape.qk_dim, dv = shape.v_dim;
  for (std::size_t h = 0; h < shape.n_heads; ++h) {
    const std::size_t g = h / group_size(shape);
    auto key = [&](std::size_t j, std::size_t i) { return k_cache.at(j, g * dq + i); };
    auto value = [&](std::size_t j, std::size_t c) { return v_cache.at(j, g * dv + c); };
    attend(q + h * dq, L, dq, dv, shape.scale, key, value, out + h * dv);
  }
}

}  // namespace infercost::reference
