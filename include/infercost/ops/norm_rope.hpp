// The small element-wise and row-wise operators: RMSNorm, RoPE, softmax, SiLU and SwiGLU.
#pragma once

#include <cstddef>

namespace infercost {

// How RoPE pairs the dimensions of a head it rotates by the same angle.
enum class RopePairing {
  interleaved,  // (0,1), (2,3), ...: DeepSeek's reference inference/model.py (view_as_complex)
  halves,       // (i, i + d/2): Llama and Qwen in HuggingFace transformers (rotate_half)
};

namespace reference {

// x, y: [M, n]; gamma: [n]. y = x / sqrt(mean(x²) + eps) ⊙ gamma. y may alias x.
void rmsnorm(const float* x, std::size_t M, std::size_t n, const float* gamma, double eps, float* y);

// Rotates in place the first `rot_dim` elements of each of n_heads heads of each of M rows.
// x: [M, row_stride], head h of row m at x + m*row_stride + h*head_stride.
// positions: [M], the token position of each row. Pair i turns by position · theta^(-2i/rot_dim).
void rope(float* x, std::size_t M, std::size_t row_stride, std::size_t n_heads, std::size_t head_stride,
          std::size_t rot_dim, const int* positions, double theta, RopePairing pairing);

// In place over n values: x = exp(x - max) / sum.
void softmax(float* x, std::size_t n);

float silu(float x);  // x · sigmoid(x)
// out[i] = silu(gate[i]) * up[i] over n values (the SwiGLU activation).
void swiglu(const float* gate, const float* up, std::size_t n, float* out);

}  // namespace reference
}  // namespace infercost
