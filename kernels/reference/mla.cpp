#include "infercost/ops/mla.hpp"

#include <cassert>

#include "infercost/ops/attention.hpp"

namespace infercost::reference {

namespace {

// One head against L cached tokens: o~ = Σ_j softmax_j(scale · (q~·c_KV,j + q_R·k_R,j)) c_KV,j.
// q_latent: [kv_lora_rank], q_rope: [rope_dim]; out: [kv_lora_rank].
void attend_latent(const float* q_latent, const float* q_rope, const Matrix& latent, const Matrix& k_rope,
                   std::size_t L, const MlaShape& s, float* out) {
  const auto score = [&](std::size_t j) {
    double dot = 0.0;
    for (std::size_t c = 0; c < s.kv_lora_rank; ++c)
      dot += static_cast<double>(q_latent[c]) * latent.at(j, c);
    for (std::size_t r = 0; r < s.rope_dim; ++r) dot += static_cast<double>(q_rope[r]) * k_rope.at(j, r);
    return dot;
  };
  const auto value = [&](std::size_t j, std::size_t c) { return latent.at(j, c); };
  attend(L, s.kv_lora_rank, s.scale, score, value, out);
}

}  // namespace

// q_latent: [n_heads, kv_lora_rank], q_rope: [n_heads, rope_dim]; latent: [>= L, kv_lora_rank],
// k_rope: [>= L, rope_dim] (fp32 or bf16); out: [n_heads, kv_lora_rank].
void mla_decode(const float* q_latent, const float* q_rope, const Matrix& latent,
                         const Matrix& k_rope, std::size_t L, const MlaShape& shape, float* out) {
  assert(L >= 1 && L <= latent.rows() && L <= k_rope.rows());
  assert(latent.cols() == shape.kv_lora_rank && k_rope.cols() == shape.rope_dim);
  const std::size_t R = shape.kv_lora_rank, dr = shape.rope_dim;
  for (std::size_t h = 0; h < shape.n_heads; ++h)
    attend_latent(q_latent + h * R, q_rope + h * dr, latent, k_rope, L, shape, out + h * R);
}

// q_latent: [T, n_heads, kv_lora_rank], q_rope: [T, n_heads, rope_dim]; latent: [>= T, kv_lora_rank],
// k_rope: [>= T, rope_dim]; out: [T, n_heads, kv_lora_rank]. Query t is decode over rows 0..t.
void mla_prefill(const float* q_latent, const float* q_rope, const Matrix& latent,
                          const Matrix& k_rope, std::size_t T, const MlaShape& shape, float* out) {
  const std::size_t q_row = shape.n_heads * shape.kv_lora_rank, r_row = shape.n_heads * shape.rope_dim;
  for (std::size_t t = 0; t < T; ++t) {
    mla_decode(q_latent + t * q_row, q_rope + t * r_row, latent, k_rope, t + 1, shape,
                        out + t * q_row);
  }
}

}  // namespace infercost::reference
