// AVX-512 ceiling probes (kernels/ceilings.hpp): 12 zmm FMA chains; 64-byte vector loops.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "ceilings.hpp"

namespace infercost::ceilings {
namespace {

// Through memory rather than _mm512_reduce_add_ps, whose GCC 12 expansion trips
// -Werror=uninitialized; off the hot loops, so its cost does not matter.
float horizontal_sum(__m512 v) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  float total = 0;
  for (const float lane : lanes) total += lane;
  return total;
}

}  // namespace

float fma_avx512(std::int64_t iterations) {
  // acc → acc·m + a converges to a / (1 − m) = 1: no overflow, no denormals, whatever the count.
  const __m512 m = _mm512_set1_ps(0.999f);
  const __m512 a = _mm512_set1_ps(0.001f);
  __m512 acc0 = _mm512_set1_ps(0.0f), acc1 = _mm512_set1_ps(0.1f), acc2 = _mm512_set1_ps(0.2f);
  __m512 acc3 = _mm512_set1_ps(0.3f), acc4 = _mm512_set1_ps(0.4f), acc5 = _mm512_set1_ps(0.5f);
  __m512 acc6 = _mm512_set1_ps(0.6f), acc7 = _mm512_set1_ps(0.7f), acc8 = _mm512_set1_ps(0.8f);
  __m512 acc9 = _mm512_set1_ps(0.9f), acc10 = _mm512_set1_ps(1.1f), acc11 = _mm512_set1_ps(1.2f);
  for (std::int64_t i = 0; i < iterations; ++i) {
    acc0 = _mm512_fmadd_ps(acc0, m, a);
    acc1 = _mm512_fmadd_ps(acc1, m, a);
    acc2 = _mm512_fmadd_ps(acc2, m, a);
    acc3 = _mm512_fmadd_ps(acc3, m, a);
    acc4 = _mm512_fmadd_ps(acc4, m, a);
    acc5 = _mm512_fmadd_ps(acc5, m, a);
    acc6 = _mm512_fmadd_ps(acc6, m, a);
    acc7 = _mm512_fmadd_ps(acc7, m, a);
    acc8 = _mm512_fmadd_ps(acc8, m, a);
    acc9 = _mm512_fmadd_ps(acc9, m, a);
    acc10 = _mm512_fmadd_ps(acc10, m, a);
    acc11 = _mm512_fmadd_ps(acc11, m, a);
  }
  const __m512 s0 = _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3));
  const __m512 s1 = _mm512_add_ps(_mm512_add_ps(acc4, acc5), _mm512_add_ps(acc6, acc7));
  const __m512 s2 = _mm512_add_ps(_mm512_add_ps(acc8, acc9), _mm512_add_ps(acc10, acc11));
  return horizontal_sum(_mm512_add_ps(_mm512_add_ps(s0, s1), s2));
}

// x: [n]. Four accumulators: 4 loads of 64 bytes in flight per iteration.
float sum_avx512(const float* x, std::size_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(),
         s3 = _mm512_setzero_ps();
  std::size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    s0 = _mm512_add_ps(s0, _mm512_loadu_ps(x + i));
    s1 = _mm512_add_ps(s1, _mm512_loadu_ps(x + i + 16));
    s2 = _mm512_add_ps(s2, _mm512_loadu_ps(x + i + 32));
    s3 = _mm512_add_ps(s3, _mm512_loadu_ps(x + i + 48));
  }
  float total = horizontal_sum(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
  for (; i < n; ++i) total += x[i];
  return total;
}

// a, b, c: [n].
void triad_avx512(float* a, const float* b, const float* c, float s, std::size_t n) {
  const __m512 vs = _mm512_set1_ps(s);
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(a + i, _mm512_fmadd_ps(vs, _mm512_loadu_ps(c + i), _mm512_loadu_ps(b + i)));
  for (; i < n; ++i) a[i] = b[i] + s * c[i];
}

}  // namespace infercost::ceilings
