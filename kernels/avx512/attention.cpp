// AVX-512 attention: the tiled algorithms of attention_tiles.hpp on 16-float registers.
// Prefill register tile: 6 query rows x 4 registers (64 keys or value columns) = 24 accumulators.
#include <immintrin.h>

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(), which -W(maybe-)uninitialized flags
// once they are inlined (a false positive): silence it for this file.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "attention_tiles.hpp"

namespace infercost::avx512 {

namespace {

struct Avx512 {
  using reg = __m512;
  static constexpr std::size_t W = 16;
  static constexpr std::size_t kMr = 6, kNr = 4, kKeyBlock = 64, kDecodeCols = 4;
  // fp8 is read through F16C: its 7 magnitude bits at bits 7..13 of an fp16 give value / 256.
  static constexpr float kF8Unit = 256.0f;

  static reg zero() { return _mm512_setzero_ps(); }
  static reg set1(float x) { return _mm512_set1_ps(x); }
  static reg load(const float* p) { return _mm512_loadu_ps(p); }
  static reg load(const bf16_t* p) {
    const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
  }
  // Sign-extending puts the sign at bits 15..7; shifting left by 7 leaves it at bit 15 (and 14,
  // cleared by the mask) and the magnitude at bits 7..13.
  static reg f8_to_f32(__m128i bytes) {
    const __m256i w = _mm256_slli_epi16(_mm256_cvtepi8_epi16(bytes), 7);
    return _mm512_cvtph_ps(_mm256_and_si256(w, _mm256_set1_epi16(static_cast<short>(0xbf80))));
  }
  static reg load(const f8_t* p) { return f8_to_f32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static __mmask16 first(std::size_t n) { return static_cast<__mmask16>((1u << n) - 1u); }
  static reg load_partial(const float* p, std::size_t n) { return _mm512_maskz_loadu_ps(first(n), p); }
  static reg load_partial(const bf16_t* p, std::size_t n) {
    const __m512i wide = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(first(n), p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
  }
  static reg load_partial(const f8_t* p, std::size_t n) { return f8_to_f32(_mm_maskz_loadu_epi8(first(n), p)); }
  static void store(float* p, reg x) { _mm512_storeu_ps(p, x); }
  static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm512_sub_ps(a, b); }
  static reg max(reg a, reg b) { return _mm512_max_ps(a, b); }
  static float hsum(reg x) { return _mm512_reduce_add_ps(x); }
  static float hmax(reg x) { return _mm512_reduce_max_ps(x); }
  // Lane k = the sum of a[k]'s lanes, k < 16: a transposing tree of 15 adds instead of 16 hsums.
  static reg sums(const reg* a) {
    reg pairs[8];  // 128-bit lane L of pairs[i]: a[2i], a[2i+1] summed over lane L, two by two
    for (int i = 0; i < 8; ++i)
      pairs[i] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * i], a[2 * i + 1]), _mm512_unpackhi_ps(a[2 * i], a[2 * i + 1]));
    reg quads[4];  // 128-bit lane L of quads[i]: a[4i .. 4i+3] summed over lane L
    for (int i = 0; i < 4; ++i) {
      const __m512d x = _mm512_castps_pd(pairs[2 * i]), y = _mm512_castps_pd(pairs[2 * i + 1]);
      quads[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
    }
    // Lanes 0, 2 with lanes 1, 3: d0 = [quads[0] L0+L1, quads[0] L2+L3, quads[1] L0+L1, quads[1] L2+L3].
    const reg d0 = _mm512_add_ps(_mm512_shuffle_f32x4(quads[0], quads[1], 0x88), _mm512_shuffle_f32x4(quads[0], quads[1], 0xdd));
    const reg d1 = _mm512_add_ps(_mm512_shuffle_f32x4(quads[2], quads[3], 0x88), _mm512_shuffle_f32x4(quads[2], quads[3], 0xdd));
    return _mm512_add_ps(_mm512_shuffle_f32x4(d0, d1, 0x88), _mm512_shuffle_f32x4(d0, d1, 0xdd));
  }
  // 2^x = 2^n · 2^f, n = round(x), |f| <= 1/2: degree-7 Taylor polynomial of 2^f (relative error
  // below 1e-8), scaled by scalef.
  static reg exp2(reg x) {
    const reg xc = _mm512_max_ps(_mm512_set1_ps(-127.0f), x);  // NaN stays in xc
    const reg n = _mm512_roundscale_ps(xc, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const reg f = _mm512_sub_ps(xc, n);
    reg p = _mm512_set1_ps(1.5252733804059840e-5f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.5403530393381606e-4f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.3333558146428443e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.6181291076284772e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5504108664821580e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022650695910071e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314718055994531e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    const __mmask16 tiny = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-126.0f), _CMP_LT_OQ);
    return _mm512_mask_mov_ps(_mm512_scalef_ps(p, n), tiny, _mm512_setzero_ps());
  }
};

}  // namespace

// q: [T, n_heads, qk_dim], k: [T, n_kv, qk_dim], v: [T, n_kv, v_dim], out: [T, n_heads, v_dim].
void attention_prefill(const float* q, const float* k, const float* v, std::size_t T, const AttentionShape& shape,
                       float* out) {
  prefill<Avx512>(q, k, v, T, shape, out);
}

// q: [n_heads, qk_dim]; k_cache: [>= L, n_kv * qk_dim], v_cache: [>= L, n_kv * v_dim] (fp32, bf16
// or fp8); out: [n_heads, v_dim].
void attention_decode(const float* q, const Matrix& k_cache, const Matrix& v_cache, std::size_t L,
                      const AttentionShape& shape, float* out) {
  decode<Avx512>(q, k_cache, v_cache, L, shape, out);
}

}  // namespace infercost::avx512
