// RMSNorm, RoPE and the SwiGLU activation with AVX2 + FMA: 8 floats a step, scalar tails, rows
// split across threads. RoPE evaluates its cos/sin with a vectorised double-precision sincos, once
// per row and frequency (shared by every head), then rotates in fp32.
#include <immintrin.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "infercost/ops/norm_rope.hpp"
#include "rope_rows.hpp"

namespace infercost::avx2 {

namespace {

// Below this many elements a call runs on one thread: a decode step's few rows take less time than
// waking the second thread.
constexpr std::size_t kParallelElements = std::size_t{1} << 15;

float horizontal_sum(__m256 v) {
  const __m128 half = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 quarter = _mm_add_ps(half, _mm_movehl_ps(half, half));
  return _mm_cvtss_f32(_mm_add_ss(quarter, _mm_movehdup_ps(quarter)));
}

// Four accumulators hide the FMA latency; the partial sums stay in fp32 (relative error ~1e-7 at
// n = 16k, far inside what a norm needs).
double sum_of_squares(const float* row, std::size_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps(),
         acc3 = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256 a = _mm256_loadu_ps(row + i), b = _mm256_loadu_ps(row + i + 8);
    const __m256 c = _mm256_loadu_ps(row + i + 16), d = _mm256_loadu_ps(row + i + 24);
    acc0 = _mm256_fmadd_ps(a, a, acc0);
    acc1 = _mm256_fmadd_ps(b, b, acc1);
    acc2 = _mm256_fmadd_ps(c, c, acc2);
    acc3 = _mm256_fmadd_ps(d, d, acc3);
  }
  for (; i + 8 <= n; i += 8) {
    const __m256 a = _mm256_loadu_ps(row + i);
    acc0 = _mm256_fmadd_ps(a, a, acc0);
  }
  double sum = horizontal_sum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
  for (; i < n; ++i) sum += static_cast<double>(row[i]) * row[i];
  return sum;
}

// e^x for fp32 lanes: x = k ln2 + r with |r| <= ln2/2, e^r by its degree-6 Taylor polynomial
// (relative error < 2e-7), times 2^k added into the exponent bits. Inputs are clamped to
// [-87, 88] so that 2^k stays a normal number (at k = -126, r > 0); NaN stays NaN through the
// caller's multiplication by the gate.
__m256 exp_ps(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693145751953125f), x);  // ln2 split in two parts
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(1.428606765330187045e-06f), r);
  __m256 p = _mm256_set1_ps(1.0f / 720.0f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i scale = _mm256_slli_epi32(_mm256_cvtps_epi32(k), 23);
  return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), scale));
}

// The double vector reduced_sincos (rope_rows.hpp) computes on.
struct Pd {
  using reg = __m256d;
  static reg set1(double x) { return _mm256_set1_pd(x); }
  static reg mul(reg a, reg b) { return _mm256_mul_pd(a, b); }
  static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_pd(a, b, c); }
  static reg fnmadd(reg a, reg b, reg c) { return _mm256_fnmadd_pd(a, b, c); }
  static reg round(reg x) { return _mm256_round_pd(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
};

// cos and sin of 4 double angles of any size: the reduced pair of reduced_sincos, swapped and
// negated by the quadrant.
void sincos_pd(__m256d a, __m256d& cos_out, __m256d& sin_out) {
  __m256d s, c;
  const __m256d q = reduced_sincos<Pd>(a, s, c);
  // Quadrant q mod 4: (cos, sin) = (c, s), (-s, c), (-c, -s), (s, -c). Lane masks are all-ones
  // 64-bit integers where the bit is set.
  const __m256i qi = _mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(q));
  const __m256i zero = _mm256_setzero_si256();
  const auto bit_set = [&](__m256i v, long long bit) {
    return _mm256_castsi256_pd(
        _mm256_xor_si256(_mm256_cmpeq_epi64(_mm256_and_si256(v, _mm256_set1_epi64x(bit)), zero),
                         _mm256_set1_epi64x(-1)));
  };
  const __m256d odd = bit_set(qi, 1), sin_negative = bit_set(qi, 2);
  const __m256d cos_negative = bit_set(_mm256_add_epi64(qi, _mm256_set1_epi64x(1)), 2);
  const __m256d sign = _mm256_set1_pd(-0.0);
  cos_out = _mm256_xor_pd(_mm256_blendv_pd(c, s, odd), _mm256_and_pd(cos_negative, sign));
  sin_out = _mm256_xor_pd(_mm256_blendv_pd(s, c, odd), _mm256_and_pd(sin_negative, sign));
}

// cos_t, sin_t [pairs] of one row: angle i = position · freq[i]. The tables have room for pairs
// rounded up to 4.
void row_angles(double position, const double* freq, std::size_t pairs, float* cos_t, float* sin_t) {
  const __m256d pos = _mm256_set1_pd(position);
  for (std::size_t i = 0; i < pairs; i += 4) {
    __m256d angle;
    if (i + 4 <= pairs) {
      angle = _mm256_mul_pd(pos, _mm256_loadu_pd(freq + i));
    } else {
      double tail[4] = {};
      for (std::size_t j = 0; i + j < pairs; ++j) tail[j] = freq[i + j];
      angle = _mm256_mul_pd(pos, _mm256_loadu_pd(tail));
    }
    __m256d c, s;
    sincos_pd(angle, c, s);
    _mm_storeu_ps(cos_t + i, _mm256_cvtpd_ps(c));
    _mm_storeu_ps(sin_t + i, _mm256_cvtpd_ps(s));
  }
}

// Interleaved pairs (2i, 2i+1): 4 pairs per vector; each lane's partner is its neighbour.
void rotate_interleaved(float* head, std::size_t pairs, const float* cos_t, const float* sin_t) {
  const __m256i duplicate = _mm256_set_epi32(3, 3, 2, 2, 1, 1, 0, 0);
  const __m256 sign = _mm256_set_ps(1, -1, 1, -1, 1, -1, 1, -1);
  std::size_t i = 0;
  for (; i + 4 <= pairs; i += 4) {
    const __m256 c = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_loadu_ps(cos_t + i)), duplicate);
    const __m256 s = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_loadu_ps(sin_t + i)), duplicate);
    const __m256 v = _mm256_loadu_ps(head + 2 * i);
    const __m256 swapped = _mm256_permute_ps(v, 0xb1);  // (b, a) in each pair
    // (a c - b s, b c + a s)
    _mm256_storeu_ps(head + 2 * i, _mm256_fmadd_ps(_mm256_mul_ps(swapped, sign), s, _mm256_mul_ps(v, c)));
  }
  for (; i < pairs; ++i) {
    const float a = head[2 * i], b = head[2 * i + 1];
    head[2 * i] = a * cos_t[i] - b * sin_t[i];
    head[2 * i + 1] = a * sin_t[i] + b * cos_t[i];
  }
}

// Halves pairing (i, i + pairs).
void rotate_halves(float* head, std::size_t pairs, const float* cos_t, const float* sin_t) {
  std::size_t i = 0;
  for (; i + 8 <= pairs; i += 8) {
    const __m256 c = _mm256_loadu_ps(cos_t + i), s = _mm256_loadu_ps(sin_t + i);
    const __m256 a = _mm256_loadu_ps(head + i), b = _mm256_loadu_ps(head + pairs + i);
    _mm256_storeu_ps(head + i, _mm256_fmsub_ps(a, c, _mm256_mul_ps(b, s)));
    _mm256_storeu_ps(head + pairs + i, _mm256_fmadd_ps(a, s, _mm256_mul_ps(b, c)));
  }
  for (; i < pairs; ++i) {
    const float a = head[i], b = head[pairs + i];
    head[i] = a * cos_t[i] - b * sin_t[i];
    head[pairs + i] = a * sin_t[i] + b * cos_t[i];
  }
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
    const __m256 scale = _mm256_set1_ps(inv_rms);
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(row + i), scale);
      _mm256_storeu_ps(out + i, _mm256_mul_ps(v, _mm256_loadu_ps(gamma + i)));
    }
    for (; i < n; ++i) out[i] = row[i] * inv_rms * gamma[i];
  }
}

// x: [M, row_stride], head h of row m at x + m*row_stride + h*head_stride; positions: [M].
// Angles in double (position × frequency reaches 1e5 rad at long contexts), cos/sin rounded to fp32.
void rope(float* x, std::size_t M, std::size_t row_stride, std::size_t n_heads, std::size_t head_stride,
          std::size_t rot_dim, const int* positions, double theta, RopePairing pairing) {
  rope_rows(x, M, row_stride, n_heads, head_stride, rot_dim, positions, theta, pairing, kParallelElements, 4,
            row_angles, rotate_interleaved, rotate_halves);
}

// out[i] = silu(gate[i]) · up[i] = gate · up / (1 + e^-gate); out may alias gate or up.
void swiglu(const float* gate, const float* up, std::size_t n, float* out) {
  const auto blocks = static_cast<long long>(n / 8);
#pragma omp parallel for schedule(static) if (n >= kParallelElements)
  for (long long blk = 0; blk < blocks; ++blk) {
    const std::size_t i = static_cast<std::size_t>(blk) * 8;
    const __m256 g = _mm256_loadu_ps(gate + i), u = _mm256_loadu_ps(up + i);
    const __m256 e = exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), g));
    _mm256_storeu_ps(out + i, _mm256_div_ps(_mm256_mul_ps(g, u), _mm256_add_ps(_mm256_set1_ps(1.0f), e)));
  }
  for (std::size_t i = n / 8 * 8; i < n; ++i) out[i] = gate[i] * up[i] / (1.0f + std::exp(-gate[i]));
}

}  // namespace infercost::avx2
