// Absorbed MLA decode and prefill with AVX2 + FMA + F16C: the blocked kernel of
// kernels/mla_blocked.hpp over 8-float vectors. 16 registers: score tiles of 4 lane vectors × 3
// tokens, 2 × 6 or 1 × 12 (12 accumulators); value tiles 4 rows × 3 vectors.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "mla_blocked.hpp"

namespace infercost::avx2 {

namespace {

// Lanes i < n set, for maskload / maskstore.
__m256i tail_mask(std::size_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n < 8 ? n : 8)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// E4M3 bytes -> their value / 256, exactly (see kernels/avx512/mla.cpp, same bit placement).
__m128i f8_to_f16_bits(__m128i bytes_as_words) {
  __m128i w = _mm_srai_epi16(_mm_slli_epi16(bytes_as_words, 8), 1);
  w = _mm_and_si128(w, _mm_set1_epi16(static_cast<short>(0xbfff)));
  const __m128i nan = _mm_cmpeq_epi16(_mm_and_si128(w, _mm_set1_epi16(0x7fff)), _mm_set1_epi16(0x3f80));
  return _mm_or_si128(w, _mm_and_si128(nan, _mm_set1_epi16(0x7e00)));
}

float f8_raw_scalar(std::uint8_t b) {
  const auto word = static_cast<unsigned short>(((b & 0x80u) << 8) | ((b & 0x7fu) << 7));
  return (b & 0x7fu) == 0x7fu ? NAN : _cvtsh_ss(word);
}

struct V256 {
  using R = __m256;
  static constexpr std::size_t W = 8;
  static constexpr int kPvRows = 4, kPvVectors = 3;
  template <int HV>
  static constexpr int token_tile() {
    return HV == 4 ? 3 : HV == 2 ? 6 : 12;
  }

  static R zero() { return _mm256_setzero_ps(); }
  static R set1(float x) { return _mm256_set1_ps(x); }
  static R load(const float* p) { return _mm256_loadu_ps(p); }
  static R loadu(const float* p) { return _mm256_loadu_ps(p); }
  static R load_n(const float* p, std::size_t n) { return _mm256_maskload_ps(p, tail_mask(n)); }
  static void store(float* p, R x) { _mm256_storeu_ps(p, x); }
  static void storeu(float* p, R x) { _mm256_storeu_ps(p, x); }
  static void store_n(float* p, R x, std::size_t n) { _mm256_maskstore_ps(p, tail_mask(n), x); }
  static R bcast(const float* p) { return _mm256_broadcast_ss(p); }
  static R fma(R a, R b, R c) { return _mm256_fmadd_ps(a, b, c); }
  static R mul(R a, R b) { return _mm256_mul_ps(a, b); }
  static R add(R a, R b) { return _mm256_add_ps(a, b); }
  static R sub(R a, R b) { return _mm256_sub_ps(a, b); }
  static R max(R a, R b) { return _mm256_max_ps(a, b); }
  static R keep_if_ge(R s, R lim, R key) {
    return _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), s, _mm256_cmp_ps(lim, key, _CMP_GE_OQ));
  }

  // 2^x for x <= 0, 0 below -126 (x = -inf included): 2^round(x) built in the exponent field times
  // a degree-7 Taylor polynomial of 2^f, |f| <= 1/2.
  static R exp2(R x) {
    const R keep = _mm256_cmp_ps(x, _mm256_set1_ps(-126.0f), _CMP_NLT_UQ);  // NaN kept
    x = _mm256_max_ps(_mm256_set1_ps(-126.0f), x);
    const R n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const R f = _mm256_sub_ps(x, n);
    R p = _mm256_set1_ps(1.525273380405984e-05f);
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.5403530393381606e-04f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.3333558146428443e-03f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(9.618129107628477e-03f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(5.550410866482158e-02f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(2.402265069591007e-01f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(6.931471805599453e-01f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
    const __m256i biased = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    const R two_n = _mm256_castsi256_ps(_mm256_slli_epi32(biased, 23));
    return _mm256_and_ps(_mm256_mul_ps(p, two_n), keep);
  }

  static void bf16_to_f32(const std::uint16_t* src, float* dst, std::size_t n) {
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)));
      _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
    }
    for (; i < n; ++i) {
      const std::uint32_t bits = static_cast<std::uint32_t>(src[i]) << 16;
      std::memcpy(dst + i, &bits, sizeof bits);
    }
  }
  static void f8_raw(const std::uint8_t* src, float* dst, std::size_t n) {
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const __m128i words = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(src + i)));
      _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(f8_to_f16_bits(words)));
    }
    for (; i < n; ++i) dst[i] = f8_raw_scalar(src[i]);
  }
};

}  // namespace

// q_latent: [n_heads, kv_lora_rank], q_rope: [n_heads, rope_dim]; latent: [>= L, kv_lora_rank],
// k_rope: [>= L, rope_dim] (fp32, bf16 or fp8); out: [n_heads, kv_lora_rank].
void mla_decode(const float* q_latent, const float* q_rope, const Matrix& latent, const Matrix& k_rope, std::size_t L,
                const MlaShape& shape, float* out) {
  mla_blocked::decode<V256>(q_latent, q_rope, mla_cache_view(latent, k_rope), L, shape, out);
}

// q_latent: [T, n_heads, kv_lora_rank], q_rope: [T, n_heads, rope_dim]; latent, k_rope: [>= T, ...];
// out: [T, n_heads, kv_lora_rank].
void mla_prefill(const float* q_latent, const float* q_rope, const Matrix& latent, const Matrix& k_rope, std::size_t T,
                 const MlaShape& shape, float* out) {
  mla_blocked::prefill<V256>(q_latent, q_rope, mla_cache_view(latent, k_rope), T, shape, out);
}

}  // namespace infercost::avx2
