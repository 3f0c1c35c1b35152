// Absorbed MLA decode and prefill for any x86-64: the blocked kernel of kernels/mla_blocked.hpp over
// 4-float GCC vectors, which the compiler maps onto SSE2 at the baseline target. Also defines
// mla_cache_view, the one place the instruction-set kernels get their cache pointers from.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "infercost/dtype.hpp"
#include "infercost/weights.hpp"
#include "mla_blocked.hpp"

namespace infercost {

MlaCacheView mla_cache_view(const Matrix& latent, const Matrix& k_rope) {
  switch (latent.dtype()) {
    case DType::f32:
      return {DType::f32, latent.f32(), k_rope.f32()};
    case DType::bf16:
      return {DType::bf16, latent.bf16(), k_rope.bf16()};
    case DType::f8:
      break;
  }
  return {DType::f8, latent.f8(), k_rope.f8()};
}

namespace portable {

namespace {

using v4f = float __attribute__((vector_size(16)));
using v4i = std::int32_t __attribute__((vector_size(16)));

struct V128 {
  using R = v4f;
  static constexpr std::size_t W = 4;
  static constexpr int kPvRows = 3, kPvVectors = 3;
  template <int HV>
  static constexpr int token_tile() {
    return HV == 4 ? 3 : HV == 2 ? 6 : 12;
  }

  static R zero() { return R{}; }
  static R set1(float x) { return R{} + x; }
  static R load(const float* p) {
    R x;
    std::memcpy(&x, p, sizeof x);
    return x;
  }
  static R loadu(const float* p) { return load(p); }
  static R load_n(const float* p, std::size_t n) {
    R x{};
    for (std::size_t i = 0; i < n && i < W; ++i) x[i] = p[i];
    return x;
  }
  static void store(float* p, R x) { std::memcpy(p, &x, sizeof x); }
  static void storeu(float* p, R x) { store(p, x); }
  static void store_n(float* p, R x, std::size_t n) {
    for (std::size_t i = 0; i < n && i < W; ++i) p[i] = x[i];
  }
  static R bcast(const float* p) { return set1(*p); }
  static R fma(R a, R b, R c) { return a * b + c; }
  static R mul(R a, R b) { return a * b; }
  static R add(R a, R b) { return a + b; }
  static R sub(R a, R b) { return a - b; }
  static R max(R a, R b) { return a < b ? b : a; }
  static R keep_if_ge(R s, R lim, R key) { return lim >= key ? s : set1(-INFINITY); }

  // 2^x for x <= 0, 0 below -126 (x = -inf included): 2^n built in the exponent field, n = x
  // rounded (x - 1/2 truncated, x <= 0), times a degree-7 Taylor polynomial of 2^f, |f| <= 1/2.
  static R exp2(R x) {
    const R lowest = set1(-126.0f);
    const auto underflow = x < lowest;
    x = underflow ? lowest : x;
    const v4i n = __builtin_convertvector(x - 0.5f, v4i);
    const R f = x - __builtin_convertvector(n, v4f);
    R p = set1(1.525273380405984e-05f);
    p = p * f + 1.5403530393381606e-04f;
    p = p * f + 1.3333558146428443e-03f;
    p = p * f + 9.618129107628477e-03f;
    p = p * f + 5.550410866482158e-02f;
    p = p * f + 2.402265069591007e-01f;
    p = p * f + 6.931471805599453e-01f;
    p = p * f + 1.0f;
    R two_n;
    const v4i bits = (n + 127) << 23;
    std::memcpy(&two_n, &bits, sizeof two_n);
    return underflow ? zero() : p * two_n;
  }

  static void bf16_to_f32(const std::uint16_t* src, float* dst, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) dst[i] = from_bf16(src[i]);
  }
  // The value / 256, as the instruction-set kernels produce it (exact: a power of two), from a
  // table of all 256 codes built once with dtype.hpp's conversion.
  static void f8_raw(const std::uint8_t* src, float* dst, std::size_t n) {
    static const std::array<float, 256> table = [] {
      std::array<float, 256> t{};
      for (unsigned code = 0; code < 256; ++code) t[code] = from_f8(static_cast<f8_t>(code)) * (1.0f / 256.0f);
      return t;
    }();
    for (std::size_t i = 0; i < n; ++i) dst[i] = table[src[i]];
  }
};

}  // namespace

// q_latent: [n_heads, kv_lora_rank], q_rope: [n_heads, rope_dim]; latent: [>= L, kv_lora_rank],
// k_rope: [>= L, rope_dim] (fp32, bf16 or fp8); out: [n_heads, kv_lora_rank].
void mla_decode(const float* q_latent, const float* q_rope, const Matrix& latent, const Matrix& k_rope, std::size_t L,
                const MlaShape& shape, float* out) {
  mla_blocked::decode<V128>(q_latent, q_rope, mla_cache_view(latent, k_rope), L, shape, out);
}

// q_latent: [T, n_heads, kv_lora_rank], q_rope: [T, n_heads, rope_dim]; latent, k_rope: [>= T, ...];
// out: [T, n_heads, kv_lora_rank].
void mla_prefill(const float* q_latent, const float* q_rope, const Matrix& latent, const Matrix& k_rope, std::size_t T,
                 const MlaShape& shape, float* out) {
  mla_blocked::prefill<V128>(q_latent, q_rope, mla_cache_view(latent, k_rope), T, shape, out);
}

}  // namespace portable
}  // namespace infercost
