// AVX2 attention: the tiled algorithms of attention_tiles.hpp on 8-float registers.
// Prefill register tile: 4 query rows x 3 registers (24 keys or value columns) = 12 accumulators,
// leaving 4 of the 16 registers for the loaded row and the broadcast.
#include <immintrin.h>

#include "attention_tiles.hpp"

namespace infercost::avx2 {

namespace {

struct Avx2 {
  using reg = __m256;
  static constexpr std::size_t W = 8;
  static constexpr std::size_t kMr = 4, kNr = 3, kKeyBlock = 48, kDecodeCols = 2;
  // fp8 is read through F16C: its 7 magnitude bits at bits 7..13 of an fp16 give value / 256.
  static constexpr float kF8Unit = 256.0f;

  static reg zero() { return _mm256_setzero_ps(); }
  static reg set1(float x) { return _mm256_set1_ps(x); }
  static reg load(const float* p) { return _mm256_loadu_ps(p); }
  static reg bf16_to_f32(__m128i halves) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(halves), 16));
  }
  static reg load(const bf16_t* p) { return bf16_to_f32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  // Sign-extending puts the sign at bits 15..7; shifting left by 7 leaves it at bit 15 (and 14,
  // cleared by the mask) and the magnitude at bits 7..13.
  static reg f8_to_f32(__m128i bytes) {
    const __m128i w = _mm_slli_epi16(_mm_cvtepi8_epi16(bytes), 7);
    return _mm256_cvtph_ps(_mm_and_si128(w, _mm_set1_epi16(static_cast<short>(0xbf80))));
  }
  static reg load(const f8_t* p) { return f8_to_f32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))); }
  // The first n < W elements through a zeroed copy (tails only).
  template <typename T>
  static reg load_partial(const T* p, std::size_t n) {
    alignas(32) T tmp[W] = {};
    for (std::size_t i = 0; i < n; ++i) tmp[i] = p[i];
    return load(static_cast<const T*>(tmp));
  }
  static void store(float* p, reg x) { _mm256_storeu_ps(p, x); }
  static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm256_sub_ps(a, b); }
  static reg max(reg a, reg b) { return _mm256_max_ps(a, b); }
  static float hsum(reg x) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  // Lane k = the sum of a[k]'s lanes, k < 8: three levels of pairwise adds instead of 8 hsums.
  static reg sums(const reg* a) {
    const reg s01 = _mm256_hadd_ps(a[0], a[1]), s23 = _mm256_hadd_ps(a[2], a[3]);
    const reg s45 = _mm256_hadd_ps(a[4], a[5]), s67 = _mm256_hadd_ps(a[6], a[7]);
    // Lanes of s0123: a[0..3]'s partial sums over their low halves, then over their high halves.
    const reg s0123 = _mm256_hadd_ps(s01, s23), s4567 = _mm256_hadd_ps(s45, s67);
    return _mm256_add_ps(_mm256_permute2f128_ps(s0123, s4567, 0x20), _mm256_permute2f128_ps(s0123, s4567, 0x31));
  }
  static float hmax(reg x) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  // 2^x = 2^n · 2^f, n = round(x), |f| <= 1/2: degree-7 Taylor polynomial of 2^f (relative error
  // below 1e-8); 2^n built in the exponent field (n = -127 gives 0).
  static reg exp2(reg x) {
    const reg xc = _mm256_max_ps(_mm256_set1_ps(-127.0f), x);  // NaN stays in xc
    const reg n = _mm256_round_ps(xc, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const reg f = _mm256_sub_ps(xc, n);
    reg p = _mm256_set1_ps(1.5252733804059840e-5f);
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.5403530393381606e-4f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.3333558146428443e-3f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(9.6181291076284772e-3f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(5.5504108664821580e-2f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(2.4022650695910071e-1f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(6.9314718055994531e-1f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    const reg scaled = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    const reg tiny = _mm256_cmp_ps(x, _mm256_set1_ps(-126.0f), _CMP_LT_OQ);
    return _mm256_andnot_ps(tiny, scaled);
  }
};

}  // namespace

// q: [T, n_heads, qk_dim], k: [T, n_kv, qk_dim], v: [T, n_kv, v_dim], out: [T, n_heads, v_dim].
void attention_prefill(const float* q, const float* k, const float* v, std::size_t T, const AttentionShape& shape,
                       float* out) {
  prefill<Avx2>(q, k, v, T, shape, out);
}

// q: [n_heads, qk_dim]; k_cache: [>= L, n_kv * qk_dim], v_cache: [>= L, n_kv * v_dim] (fp32, bf16
// or fp8); out: [n_heads, v_dim].
void attention_decode(const float* q, const Matrix& k_cache, const Matrix& v_cache, std::size_t L,
                      const AttentionShape& shape, float* out) {
  decode<Avx2>(q, k_cache, v_cache, L, shape, out);
}

}  // namespace infercost::avx2
