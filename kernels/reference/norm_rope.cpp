#include "infercost/ops/norm_rope.hpp"

#include <algorithm>
#include <cmath>

namespace infercost::reference {

void rmsnorm(const float* x, std::size_t M, std::size_t n, const float* gamma, double eps, float* y) {
  for (std::size_t m = 0; m < M; ++m) {
    const float* row = x + m * n;
    double sum_sq = 0.0;
    for (std::size_t i = 0; i < n; ++i) sum_sq += static_cast<double>(row[i]) * row[i];
    const double inv_rms = 1.0 / std::sqrt(sum_sq / static_cast<double>(n) + eps);
    for (std::size_t i = 0; i < n; ++i) y[m * n + i] = static_cast<float>(row[i] * inv_rms * gamma[i]);
  }
}

void rope(float* x, std::size_t M, std::size_t row_stride, std::size_t n_heads, std::size_t head_stride,
          std::size_t rot_dim, const int* positions, double theta, RopePairing pairing) {
  const std::size_t pairs = rot_dim / 2;
  for (std::size_t m = 0; m < M; ++m) {
    for (std::size_t h = 0; h < n_heads; ++h) {
      float* head = x + m * row_stride + h * head_stride;
      for (std::size_t i = 0; i < pairs; ++i) {
        const double freq = std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(rot_dim));
        const double angle = positions[m] * freq;
        const double c = std::cos(angle), s = std::sin(angle);
        const std::size_t a = pairing == RopePairing::interleaved ? 2 * i : i;
        const std::size_t b = pairing == RopePairing::interleaved ? 2 * i + 1 : i + pairs;
        const double xa = head[a], xb = head[b];
        head[a] = static_cast<float>(xa * c - xb * s);
        head[b] = static_cast<float>(xa * s + xb * c);
      }
    }
  }
}

void softmax(float* x, std::size_t n) {
  const float max = *std::max_element(x, x + n);
  double sum = 0.0;
  for (std::size_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i]) - max);
  for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<float>(std::exp(static_cast<double>(x[i]) - max) / sum);
}

float silu(float x) { return static_cast<float>(x / (1.0 + std::exp(-static_cast<double>(x)))); }

void swiglu(const float* gate, const float* up, std::size_t n, float* out) {
  for (std::size_t i = 0; i < n; ++i) out[i] = silu(gate[i]) * up[i];
}

}  // namespace infercost::reference
