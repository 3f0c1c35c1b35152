// RMSNorm, RoPE and the SwiGLU activation with AVX-512: 16 floats a step, masked tails, rows split
// across threads. RoPE evaluates its cos/sin with a vectorised double-precision sincos, once per
// row and frequency (shared by every head), then rotates in fp32.
// GCC 12's AVX-512 intrinsics pass _mm512_undefined_*() as the unused merge source, which
// -Wmaybe-uninitialized flags once they are inlined into an OpenMP region: silence it for this file.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "infercost/ops/norm_rope.hpp"
#include "rope_rows.hpp"

namespace infercost::avx512 {

namespace {

// Below this many elements a call runs on one thread: a decode step's few rows take less time than
// waking the second thread.
constexpr std::size_t kParallelElements = std::size_t{1} << 15;

__mmask16 tail_mask(std::size_t remaining) {
  return remaining >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << remaining) - 1u);
}

// Four accumulators hide the FMA latency; the partial sums stay in fp32 (relative error ~1e-7 at
// n = 16k, far inside what a norm needs).
double sum_of_squares(const float* row, std::size_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps(), acc2 = _mm512_setzero_ps(),
         acc3 = _mm512_setzero_ps();
  std::size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    const __m512 a = _mm512_loadu_ps(row + i), b = _mm512_loadu_ps(row + i + 16);
    const __m512 c = _mm512_loadu_ps(row + i + 32), d = _mm512_loadu_ps(row + i + 48);
    acc0 = _mm512_fmadd_ps(a, a, acc0);
    acc1 = _mm512_fmadd_ps(b, b, acc1);
    acc2 = _mm512_fmadd_ps(c, c, acc2);
    acc3 = _mm512_fmadd_ps(d, d, acc3);
  }
  for (; i < n; i += 16) {
    const __m512 a = _mm512_maskz_loadu_ps(tail_mask(n - i), row + i);
    acc0 = _mm512_fmadd_ps(a, a, acc0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

// e^x for fp32 lanes: x = k ln2 + r with |r| <= ln2/2, e^r by its degree-6 Taylor polynomial
// (relative error < 2e-7), scaled by 2^k. Inputs are clamped to the finite range; NaN stays NaN
// through the caller's multiplication by the gate.
__m512 exp_ps(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
  const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693145751953125f), x);  // ln2 split in two parts
  r = _mm512_fnmadd_ps(k, _mm512_set1_ps(1.428606765330187045e-06f), r);
  __m512 p = _mm512_set1_ps(1.0f / 720.0f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, k);
}

// The double vector reduced_sincos (rope_rows.hpp) computes on.
struct Pd {
  using reg = __m512d;
  static reg set1(double x) { return _mm512_set1_pd(x); }
  static reg mul(reg a, reg b) { return _mm512_mul_pd(a, b); }
  static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_pd(a, b, c); }
  static reg fnmadd(reg a, reg b, reg c) { return _mm512_fnmadd_pd(a, b, c); }
  static reg round(reg x) { return _mm512_roundscale_pd(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
};

// cos and sin of 8 double angles of any size: the reduced pair of reduced_sincos, swapped and
// negated by the quadrant.
void sincos_pd(__m512d a, __m512d& cos_out, __m512d& sin_out) {
  __m512d s, c;
  const __m512d q = reduced_sincos<Pd>(a, s, c);
  // Quadrant q mod 4: (cos, sin) = (c, s), (-s, c), (-c, -s), (s, -c).
  const __m512i qi = _mm512_cvtpd_epi64(q);
  const __mmask8 odd = _mm512_test_epi64_mask(qi, _mm512_set1_epi64(1));
  const __mmask8 sin_negative = _mm512_test_epi64_mask(qi, _mm512_set1_epi64(2));
  const __mmask8 cos_negative = _mm512_test_epi64_mask(_mm512_add_epi64(qi, _mm512_set1_epi64(1)),
                                                       _mm512_set1_epi64(2));
  const __m512d cos_v = _mm512_mask_blend_pd(odd, c, s);
  const __m512d sin_v = _mm512_mask_blend_pd(odd, s, c);
  const __m512d zero = _mm512_setzero_pd();
  cos_out = _mm512_mask_sub_pd(cos_v, cos_negative, zero, cos_v);
  sin_out = _mm512_mask_sub_pd(sin_v, sin_negative, zero, sin_v);
}

// cos_t, sin_t [pairs] of one row: angle i = position · freq[i].
void row_angles(double position, const double* freq, std::size_t pairs, float* cos_t, float* sin_t) {
  const __m512d pos = _mm512_set1_pd(position);
  for (std::size_t i = 0; i < pairs; i += 8) {
    const std::size_t left = pairs - i;
    const auto mask = static_cast<__mmask8>(left >= 8 ? 0xff : (1u << left) - 1u);
    __m512d c, s;
    sincos_pd(_mm512_mul_pd(pos, _mm512_maskz_loadu_pd(mask, freq + i)), c, s);
    _mm256_mask_storeu_ps(cos_t + i, mask, _mm512_cvtpd_ps(c));
    _mm256_mask_storeu_ps(sin_t + i, mask, _mm512_cvtpd_ps(s));
  }
}

// Interleaved pairs (2i, 2i+1): 8 pairs per vector; each lane's partner is its neighbour.
void rotate_interleaved(float* head, std::size_t pairs, const float* cos_t, const float* sin_t) {
  const __m512i duplicate = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
  const __m512 sign = _mm512_set_ps(1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1);
  for (std::size_t i = 0; i < pairs; i += 8) {
    const std::size_t left = pairs - i;
    const auto pair_mask = static_cast<__mmask8>(left >= 8 ? 0xff : (1u << left) - 1u);
    const __mmask16 mask = tail_mask(2 * (left >= 8 ? 8 : left));
    const __m512 c =
        _mm512_permutexvar_ps(duplicate, _mm512_castps256_ps512(_mm256_maskz_loadu_ps(pair_mask, cos_t + i)));
    const __m512 s =
        _mm512_permutexvar_ps(duplicate, _mm512_castps256_ps512(_mm256_maskz_loadu_ps(pair_mask, sin_t + i)));
    const __m512 v = _mm512_maskz_loadu_ps(mask, head + 2 * i);
    const __m512 swapped = _mm512_permute_ps(v, 0xb1);  // (b, a) in each pair
    // (a c - b s, b c + a s)
    const __m512 out = _mm512_fmadd_ps(_mm512_mul_ps(swapped, sign), s, _mm512_mul_ps(v, c));
    _mm512_mask_storeu_ps(head + 2 * i, mask, out);
  }
}

// Halves pairing (i, i + pairs).
void rotate_halves(float* head, std::size_t pairs, const float* cos_t, const float* sin_t) {
  for (std::size_t i = 0; i < pairs; i += 16) {
    const __mmask16 mask = tail_mask(pairs - i);
    const __m512 c = _mm512_maskz_loadu_ps(mask, cos_t + i), s = _mm512_maskz_loadu_ps(mask, sin_t + i);
    const __m512 a = _mm512_maskz_loadu_ps(mask, head + i), b = _mm512_maskz_loadu_ps(mask, head + pairs + i);
    _mm512_mask_storeu_ps(head + i, mask, _mm512_fmsub_ps(a, c, _mm512_mul_ps(b, s)));
    _mm512_mask_storeu_ps(head + pairs + i, mask, _mm512_fmadd_ps(a, s, _mm512_mul_ps(b, c)));
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
    const __m512 inv_rms =
        _mm512_set1_ps(static_cast<float>(1.0 / std::sqrt(sum_of_squares(row, n) / static_cast<double>(n) + eps)));
    for (std::size_t i = 0; i < n; i += 16) {
      const __mmask16 mask = tail_mask(n - i);
      const __m512 v = _mm512_maskz_loadu_ps(mask, row + i);
      const __m512 g = _mm512_maskz_loadu_ps(mask, gamma + i);
      _mm512_mask_storeu_ps(out + i, mask, _mm512_mul_ps(_mm512_mul_ps(v, inv_rms), g));
    }
  }
}

// x: [M, row_stride], head h of row m at x + m*row_stride + h*head_stride; positions: [M].
// Angles in double (position × frequency reaches 1e5 rad at long contexts), cos/sin rounded to fp32.
void rope(float* x, std::size_t M, std::size_t row_stride, std::size_t n_heads, std::size_t head_stride,
          std::size_t rot_dim, const int* positions, double theta, RopePairing pairing) {
  rope_rows(x, M, row_stride, n_heads, head_stride, rot_dim, positions, theta, pairing, kParallelElements, 1,
            row_angles, rotate_interleaved, rotate_halves);
}

// out[i] = silu(gate[i]) · up[i] = gate · up / (1 + e^-gate); out may alias gate or up.
void swiglu(const float* gate, const float* up, std::size_t n, float* out) {
  const auto blocks = static_cast<long long>((n + 15) / 16);
#pragma omp parallel for schedule(static) if (n >= kParallelElements)
  for (long long blk = 0; blk < blocks; ++blk) {
    const std::size_t i = static_cast<std::size_t>(blk) * 16;
    const __mmask16 mask = tail_mask(n - i);
    const __m512 g = _mm512_maskz_loadu_ps(mask, gate + i), u = _mm512_maskz_loadu_ps(mask, up + i);
    const __m512 e = exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), g));
    _mm512_mask_storeu_ps(out + i, mask, _mm512_div_ps(_mm512_mul_ps(g, u), _mm512_add_ps(_mm512_set1_ps(1.0f), e)));
  }
}

}  // namespace infercost::avx512
