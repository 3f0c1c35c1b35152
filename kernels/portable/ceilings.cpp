// Portable ceiling probes (kernels/ceilings.hpp), for a CPU without AVX2 or a capped run: SSE2,
// which every x86-64 CPU has, with a multiply and an add where the others fuse them.
#include <emmintrin.h>

#include <cstddef>
#include <cstdint>

#include "ceilings.hpp"

namespace infercost::ceilings {
namespace {

float horizontal_sum(__m128 v) {
  const __m128 s = _mm_add_ps(v, _mm_movehl_ps(v, v));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)));
}

}  // namespace

float fma_portable(std::int64_t iterations) {
  // acc → acc·m + a converges to a / (1 − m) = 1: no overflow, no denormals, whatever the count.
  const __m128 m = _mm_set1_ps(0.999f);
  const __m128 a = _mm_set1_ps(0.001f);
  __m128 acc0 = _mm_set1_ps(0.0f), acc1 = _mm_set1_ps(0.1f), acc2 = _mm_set1_ps(0.2f);
  __m128 acc3 = _mm_set1_ps(0.3f), acc4 = _mm_set1_ps(0.4f), acc5 = _mm_set1_ps(0.5f);
  __m128 acc6 = _mm_set1_ps(0.6f), acc7 = _mm_set1_ps(0.7f), acc8 = _mm_set1_ps(0.8f);
  __m128 acc9 = _mm_set1_ps(0.9f), acc10 = _mm_set1_ps(1.1f), acc11 = _mm_set1_ps(1.2f);
  for (std::int64_t i = 0; i < iterations; ++i) {
    acc0 = _mm_add_ps(_mm_mul_ps(acc0, m), a);
    acc1 = _mm_add_ps(_mm_mul_ps(acc1, m), a);
    acc2 = _mm_add_ps(_mm_mul_ps(acc2, m), a);
    acc3 = _mm_add_ps(_mm_mul_ps(acc3, m), a);
    acc4 = _mm_add_ps(_mm_mul_ps(acc4, m), a);
    acc5 = _mm_add_ps(_mm_mul_ps(acc5, m), a);
    acc6 = _mm_add_ps(_mm_mul_ps(acc6, m), a);
    acc7 = _mm_add_ps(_mm_mul_ps(acc7, m), a);
    acc8 = _mm_add_ps(_mm_mul_ps(acc8, m), a);
    acc9 = _mm_add_ps(_mm_mul_ps(acc9, m), a);
    acc10 = _mm_add_ps(_mm_mul_ps(acc10, m), a);
    acc11 = _mm_add_ps(_mm_mul_ps(acc11, m), a);
  }
  const __m128 s0 = _mm_add_ps(_mm_add_ps(acc0, acc1), _mm_add_ps(acc2, acc3));
  const __m128 s1 = _mm_add_ps(_mm_add_ps(acc4, acc5), _mm_add_ps(acc6, acc7));
  const __m128 s2 = _mm_add_ps(_mm_add_ps(acc8, acc9), _mm_add_ps(acc10, acc11));
  return horizontal_sum(_mm_add_ps(_mm_add_ps(s0, s1), s2));
}

// x: [n]. Four accumulators: 4 loads of 16 bytes in flight per iteration.
float sum_portable(const float* x, std::size_t n) {
  __m128 s0 = _mm_setzero_ps(), s1 = _mm_setzero_ps(), s2 = _mm_setzero_ps(), s3 = _mm_setzero_ps();
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm_add_ps(s0, _mm_loadu_ps(x + i));
    s1 = _mm_add_ps(s1, _mm_loadu_ps(x + i + 4));
    s2 = _mm_add_ps(s2, _mm_loadu_ps(x + i + 8));
    s3 = _mm_add_ps(s3, _mm_loadu_ps(x + i + 12));
  }
  float total = horizontal_sum(_mm_add_ps(_mm_add_ps(s0, s1), _mm_add_ps(s2, s3)));
  for (; i < n; ++i) total += x[i];
  return total;
}

// a, b, c: [n].
void triad_portable(float* a, const float* b, const float* c, float s, std::size_t n) {
  const __m128 vs = _mm_set1_ps(s);
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4)
    _mm_storeu_ps(a + i, _mm_add_ps(_mm_loadu_ps(b + i), _mm_mul_ps(vs, _mm_loadu_ps(c + i))));
  for (; i < n; ++i) a[i] = b[i] + s * c[i];
}

}  // namespace infercost::ceilings
