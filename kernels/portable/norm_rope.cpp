// RMSNorm, RoPE and the SwiGLU activation in plain C++ the compiler vectorises for the baseline
// target: fp32 arithmetic where the reference uses double, rows split across threads, and RoPE's
// cos/sin computed once per row and angle, not once per head.
#include <cmath>
#include <cstddef>

#include "infercost/ops/norm_rope.hpp"
#include "scratch.hpp"

namespace infercost::portable {

namespace {

// Below this many elements a call runs on one thread: a decode step's few rows take less time than
// waking the second thread.
constexpr std::size_t kParallelElements = std::size_t{1} << 15;

// Independent partial sums, so the loop vectorises and the sum of squares loses less to rounding
// than one running fp32 sum would.
constexpr std::size_t kLanes = 16;

double sum_of_squares(const float* row, std::size_t n) {
  float partial[kLanes] = {};
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (std::size_t j = 0; j < kLanes; ++j) partial[j] += row[i + j] * row[i + j];
  double sum = 0.0;
  for (; i < n; ++i) sum += static_cast<double>(row[i]) * row[i];
  for (float p : partial) sum += p;
  return sum;
}

}  // namespace

// x, y: [M, n] (y may alias x); gamma: [n].
void rmsnorm(const float* x, std::size_t M, std::size_t n, const float* gamma, double eps, float* y) {
  const auto rows = static_cast<long long>(M);
#pragma omp parallel for schedule(static) if (M * n >= kParallelElements)
  for (long long m = 0; m < rows; ++m) {
    const float* row = x + static_cast<std::size_t>(m) * n;
    float* out = y + static_cast<std::size_t>(m) * n;
    const auto inv_rms = static_cast<float>(1.0 / std::sqrt(sum_of_squares(row, n) / static_cast<double>(n) + eps));
    for (std::size_t i = 0; i < n; ++i) out[i] = row[i] * inv_rms * gamma[i];
  }
}

// x: [M, row_stride], head h of row m at x + m*row_stride + h*head_stride; positions: [M].
// The angles are computed in double (position × frequency reaches 1e5 rad and more at long
// contexts, where an fp32 angle would be off by whole radians), their cos/sin rounded to fp32.
void rope(float* x, std::size_t M, std::size_t row_stride, std::size_t n_heads, std::size_t head_stride,
          std::size_t rot_dim, const int* positions, double theta, RopePairing pairing) {
  const std::size_t pairs = rot_dim / 2;
  if (pairs == 0) return;
  Scratch freq_storage(2 * pairs);  // doubles
  auto* freq = reinterpret_cast<double*>(freq_storage.data());
  for (std::size_t i = 0; i < pairs; ++i)
    freq[i] = std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(rot_dim));
  const bool interleaved = pairing == RopePairing::interleaved;
  const auto rows = static_cast<long long>(M);
#pragma omp parallel if (M * n_heads * rot_dim >= kParallelElements)
  {
    Scratch table(2 * pairs);
    float* cos_t = table.data();
    float* sin_t = table.data() + pairs;
#pragma omp for schedule(static)
    for (long long m = 0; m < rows; ++m) {
      const double position = positions[m];
      for (std::size_t i = 0; i < pairs; ++i) {
        cos_t[i] = static_cast<float>(std::cos(position * freq[i]));
        sin_t[i] = static_cast<float>(std::sin(position * freq[i]));
      }
      for (std::size_t h = 0; h < n_heads; ++h) {
        float* head = x + static_cast<std::size_t>(m) * row_stride + h * head_stride;
        const std::size_t step = interleaved ? 2 : 1, second = interleaved ? 1 : pairs;
        for (std::size_t i = 0; i < pairs; ++i) {
          const float a = head[i * step], b = head[i * step + second];
          head[i * step] = a * cos_t[i] - b * sin_t[i];
          head[i * step + second] = a * sin_t[i] + b * cos_t[i];
        }
      }
    }
  }
}

// out[i] = silu(gate[i]) · up[i]; out may alias gate or up.
void swiglu(const float* gate, const float* up, std::size_t n, float* out) {
  const auto count = static_cast<long long>(n);
#pragma omp parallel for schedule(static) if (n >= kParallelElements)
  for (long long i = 0; i < count; ++i) {
    const float g = gate[i];
    out[i] = g * up[i] / (1.0f + std::exp(-g));
  }
}

}  // namespace infercost::portable
