// AVX2 ceiling probes (kernels/ceilings.hpp): 12 ymm FMA chains; 32-byte vector loops.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "ceilings.hpp"

namespace infercost::ceilings {
namespace {

float horizontal_sum(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 s2 = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

}  // namespace

float fma_avx2(std::int64_t iterations) {
  // acc → acc·m + a converges to a / (1 − m) = 1: no overflow, no denormals, whatever the count.
  const __m256 m = _mm256_set1_ps(0.999f);
  const __m256 a = _mm256_set1_ps(0.001f);
  __m256 acc0 = _mm256_set1_ps(0.0f), acc1 = _mm256_set1_ps(0.1f), acc2 = _mm256_set1_ps(0.2f);
  __m256 acc3 = _mm256_set1_ps(0.3f), acc4 = _mm256_set1_ps(0.4f), acc5 = _mm256_set1_ps(0.5f);
  __m256 acc6 = _mm256_set1_ps(0.6f), acc7 = _mm256_set1_ps(0.7f), acc8 = _mm256_set1_ps(0.8f);
  __m256 acc9 = _mm256_set1_ps(0.9f), acc10 = _mm256_set1_ps(1.1f), acc11 = _mm256_set1_ps(1.2f);
  for (std::int64_t i = 0; i < iterations; ++i) {
    acc0 = _mm256_fmadd_ps(acc0, m, a);
    acc1 = _mm256_fmadd_ps(acc1, m, a);
    acc2 = _mm256_fmadd_ps(acc2, m, a);
    acc3 = _mm256_fmadd_ps(acc3, m, a);
    acc4 = _mm256_fmadd_ps(acc4, m, a);
    acc5 = _mm256_fmadd_ps(acc5, m, a);
    acc6 = _mm256_fmadd_ps(acc6, m, a);
    acc7 = _mm256_fmadd_ps(acc7, m, a);
    acc8 = _mm256_fmadd_ps(acc8, m, a);
    acc9 = _mm256_fmadd_ps(acc9, m, a);
    acc10 = _mm256_fmadd_ps(acc10, m, a);
    acc11 = _mm256_fmadd_ps(acc11, m, a);
  }
  const __m256 s0 = _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));
  const __m256 s1 = _mm256_add_ps(_mm256_add_ps(acc4, acc5), _mm256_add_ps(acc6, acc7));
  const __m256 s2 = _mm256_add_ps(_mm256_add_ps(acc8, acc9), _mm256_add_ps(acc10, acc11));
  return horizontal_sum(_mm256_add_ps(_mm256_add_ps(s0, s1), s2));
}

// x: [n]. Four accumulators: 4 loads of 32 bytes in flight per iteration.
float sum_avx2(const float* x, std::size_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(),
         s3 = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_add_ps(s0, _mm256_loadu_ps(x + i));
    s1 = _mm256_add_ps(s1, _mm256_loadu_ps(x + i + 8));
    s2 = _mm256_add_ps(s2, _mm256_loadu_ps(x + i + 16));
    s3 = _mm256_add_ps(s3, _mm256_loadu_ps(x + i + 24));
  }
  float total = horizontal_sum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; i < n; ++i) total += x[i];
  return total;
}

// a, b, c: [n].
void triad_avx2(float* a, const float* b, const float* c, float s, std::size_t n) {
  const __m256 vs = _mm256_set1_ps(s);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(a + i, _mm256_fmadd_ps(vs, _mm256_loadu_ps(c + i), _mm256_loadu_ps(b + i)));
  for (; i < n; ++i) a[i] = b[i] + s * c[i];
}

}  // namespace infercost::ceilings
