// RMSNorm, RoPE and the SwiGLU activation in plain C++ the compiler vectorises for the baseline
// target: fp32 arithmetic where the reference uses double, rows split across threads, and RoPE's
// cos/sin computed once per row and angle, not once per head.
#include <cmath>
#include <cstddef>

#include "infercost/ops/norm_rope.hpp"
#include "rope_rows.hpp"

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
namespace {

void row_angles(double position, const double* freq, std::size_t pairs, float* cos_t, float* sin_t) {
  for (std::size_t i = 0; i < pairs; ++i) {
    cos_t[i] = static_cast<float>(std::cos(position * freq[i]));
    sin_t[i] = static_cast<float>(std::sin(position * freq[i]));
  }
}

// Pair i is (2i, 2i+1) (interleaved, `step` 2, `second` 1) or (i, i + pairs) (halves).
void rotate(float* head, std::size_t pairs, const float* cos_t, const float* sin_t, std::size_t step,
            std::size_t second) {
  for (std::size_t i = 0; i < pairs; ++i) {
    const float a = head[i * step], b = head[i * step + second];
    head[i * step] = a * cos_t[i] - b * sin_t[i];
    head[i * step + second] = a * sin_t[i] + b * cos_t[i];
  }
}

void rotate_interleaved(float* head, std::size_t pairs, const float* cos_t, const float* sin_t) {
  rotate(head, pairs, cos_t, sin_t, 2, 1);
}

void rotate_halves(float* head, std::size_t pairs, const float* cos_t, const float* sin_t) {
  rotate(head, pairs, cos_t, sin_t, 1, pairs);
}

}  // namespace

// The angles are computed in double (position × frequency reaches 1e5 rad and more at long
// contexts, where an fp32 angle would be off by whole radians), their cos/sin rounded to fp32.
void rope(float* x, std::size_t M, std::size_t row_stride, std::size_t n_heads, std::size_t head_stride,
          std::size_t rot_dim, const int* positions, double theta, RopePairing pairing) {
  rope_rows(x, M, row_stride, n_heads, head_stride, rot_dim, positions, theta, pairing, kParallelElements, 1,
            row_angles, rotate_interleaved, rotate_halves);
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
