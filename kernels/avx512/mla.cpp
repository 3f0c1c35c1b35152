// Absorbed MLA decode and prefill with AVX-512: the blocked kernel of kernels/mla_blocked.hpp over
// 16-float vectors. Score tiles are 4 lane vectors × 6 tokens, 2 × 12 or 1 × 24 (24 accumulators,
// the broadcast key element read straight from memory by the FMA); value tiles 6 rows × 4 vectors.
//
// GCC 12's AVX-512 intrinsics pass _mm512_undefined_ps() as the pass-through of unmasked operations,
// which -Wuninitialized / -Wmaybe-uninitialized flag once inlined: silenced for this file.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "mla_blocked.hpp"

namespace infercost::avx512 {

namespace {

__mmask16 tail_mask(std::size_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << n) - 1u);
}

// E4M3 bytes -> their value / 256, exactly: the sign to bit 15 and the 7 magnitude bits to bits 7..13
// of an fp16 (see dtype.hpp), then F16C. 0x7f / 0xff (NaN in E4M3) would land on ±1.875, which no
// E4M3 value maps to, so they are turned into an fp16 NaN.
__m256i f8_to_f16_bits(__m256i bytes_as_words) {
  __m256i w = _mm256_srai_epi16(_mm256_slli_epi16(bytes_as_words, 8), 1);
  w = _mm256_and_si256(w, _mm256_set1_epi16(static_cast<short>(0xbfff)));
  const __m256i nan = _mm256_cmpeq_epi16(_mm256_and_si256(w, _mm256_set1_epi16(0x7fff)), _mm256_set1_epi16(0x3f80));
  return _mm256_or_si256(w, _mm256_and_si256(nan, _mm256_set1_epi16(0x7e00)));
}

float f8_raw_scalar(std::uint8_t b) {
  const auto word = static_cast<unsigned short>(((b & 0x80u) << 8) | ((b & 0x7fu) << 7));
  return (b & 0x7fu) == 0x7fu ? NAN : _cvtsh_ss(word);
}

struct V512 {
  using R = __m512;
  static constexpr std::size_t W = 16;
  static constexpr int kPvRows = 6, kPvVectors = 4;
  template <int HV>
  static constexpr int token_tile() {
    return HV == 4 ? 6 : HV == 2 ? 12 : 24;
  }

  static R zero() { return _mm512_setzero_ps(); }
  static R set1(float x) { return _mm512_set1_ps(x); }
  static R load(const float* p) { return _mm512_loadu_ps(p); }
  static R loadu(const float* p) { return _mm512_loadu_ps(p); }
  static R load_n(const float* p, std::size_t n) { return _mm512_maskz_loadu_ps(tail_mask(n), p); }
  static void store(float* p, R x) { _mm512_storeu_ps(p, x); }
  static void storeu(float* p, R x) { _mm512_storeu_ps(p, x); }
  static void store_n(float* p, R x, std::size_t n) { _mm512_mask_storeu_ps(p, tail_mask(n), x); }
  static R bcast(const float* p) { return _mm512_set1_ps(*p); }
  static R fma(R a, R b, R c) { return _mm512_fmadd_ps(a, b, c); }
  static R mul(R a, R b) { return _mm512_mul_ps(a, b); }
  static R add(R a, R b) { return _mm512_add_ps(a, b); }
  static R sub(R a, R b) { return _mm512_sub_ps(a, b); }
  static R max(R a, R b) { return _mm512_max_ps(a, b); }
  static R keep_if_ge(R s, R lim, R key) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(lim, key, _CMP_GE_OQ), _mm512_set1_ps(-INFINITY), s);
  }

  // 2^x for x <= 0 (x = -inf gives 0): 2^round(x) by scalef times a degree-7 Taylor polynomial of
  // 2^f, |f| <= 1/2 (truncation error < 1e-8, below fp32 rounding).
  static R exp2(R x) {
    x = _mm512_max_ps(_mm512_set1_ps(-151.0f), x);  // NaN stays NaN (max returns its 2nd operand)
    const R n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const R f = _mm512_sub_ps(x, n);
    R p = _mm512_set1_ps(1.525273380405984e-05f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.5403530393381606e-04f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.3333558146428443e-03f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.618129107628477e-03f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.550410866482158e-02f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.402265069591007e-01f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931471805599453e-01f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
  }

  static void bf16_to_f32(const std::uint16_t* src, float* dst, std::size_t n) {
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
      const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i)));
      _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
    }
    for (; i < n; ++i) {
      const std::uint32_t bits = static_cast<std::uint32_t>(src[i]) << 16;
      std::memcpy(dst + i, &bits, sizeof bits);
    }
  }
  static void f8_raw(const std::uint8_t* src, float* dst, std::size_t n) {
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
      const __m256i words = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)));
      _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(f8_to_f16_bits(words)));
    }
    for (; i < n; ++i) dst[i] = f8_raw_scalar(src[i]);
  }
};

}  // namespace

// q_latent: [n_heads, kv_lora_rank], q_rope: [n_heads, rope_dim]; latent: [>= L, kv_lora_rank],
// k_rope: [>= L, rope_dim] (fp32, bf16 or fp8); out: [n_heads, kv_lora_rank].
void mla_decode(const float* q_latent, const float* q_rope, const Matrix& latent, const Matrix& k_rope, std::size_t L,
                const MlaShape& shape, float* out) {
  mla_blocked::decode<V512>(q_latent, q_rope, mla_cache_view(latent, k_rope), L, shape, out);
}

// q_latent: [T, n_heads, kv_lora_rank], q_rope: [T, n_heads, rope_dim]; latent, k_rope: [>= T, ...];
// out: [T, n_heads, kv_lora_rank].
void mla_prefill(const float* q_latent, const float* q_rope, const Matrix& latent, const Matrix& k_rope, std::size_t T,
                 const MlaShape& shape, float* out) {
  mla_blocked::prefill<V512>(q_latent, q_rope, mla_cache_view(latent, k_rope), T, shape, out);
}

}  // namespace infercost::avx512
