// Portable attention: the tiled algorithms of attention_tiles.hpp on the compiler's generic
// 4-float vectors, for the baseline target.
#include <cstdint>
#include <cstring>

#include "attention_tiles.hpp"

namespace infercost::portable {

namespace {

// 4-float registers through the compiler's vector extension (plain SSE2 on the baseline x86-64
// target, no intrinsics). Prefill register tile: 4 rows x 3 registers = 12 of the 16 xmm registers.
struct Portable {
  using reg = float __attribute__((vector_size(16)));
  using ints = std::int32_t __attribute__((vector_size(16)));
  static constexpr std::size_t W = 4;
  static constexpr std::size_t kMr = 4, kNr = 3, kKeyBlock = 48, kDecodeCols = 2;
  static constexpr float kF8Unit = 1.0f;  // fp8 converted exactly by from_f8

  static float to_f32(float x) { return x; }
  static float to_f32(bf16_t x) { return from_bf16(x); }
  static float to_f32(f8_t x) { return f8_values().v[x]; }
  // Every fp8 value, from from_f8 once: a table lookup instead of its exponent arithmetic.
  struct F8Table {
    float v[256];
  };
  static const F8Table& f8_values() {
    static const F8Table table = [] {
      F8Table t{};
      for (unsigned i = 0; i < 256; ++i) t.v[i] = from_f8(static_cast<f8_t>(i));
      return t;
    }();
    return table;
  }

  static reg zero() { return reg{}; }
  static reg set1(float x) { return reg{x, x, x, x}; }
  static reg load(const float* p) {
    reg r;
    std::memcpy(&r, p, sizeof r);
    return r;
  }
  template <typename T>
  static reg load(const T* p) {
    return reg{to_f32(p[0]), to_f32(p[1]), to_f32(p[2]), to_f32(p[3])};
  }
  template <typename T>
  static reg load_partial(const T* p, std::size_t n) {
    reg r{};
    for (std::size_t i = 0; i < n; ++i) r[i] = to_f32(p[i]);
    return r;
  }
  static void store(float* p, reg x) { std::memcpy(p, &x, sizeof x); }
  static reg fmadd(reg a, reg b, reg c) { return a * b + c; }
  static reg mul(reg a, reg b) { return a * b; }
  static reg add(reg a, reg b) { return a + b; }
  static reg sub(reg a, reg b) { return a - b; }
  static reg max(reg a, reg b) { return a > b ? a : b; }
  static float hsum(reg x) { return (x[0] + x[2]) + (x[1] + x[3]); }
  static float hmax(reg x) {
    const float a = x[0] > x[1] ? x[0] : x[1], b = x[2] > x[3] ? x[2] : x[3];
    return a > b ? a : b;
  }
  static reg sums(const reg* a) { return reg{hsum(a[0]), hsum(a[1]), hsum(a[2]), hsum(a[3])}; }
  // 2^x = 2^n · 2^f, n = round(x) (the 1.5 · 2^23 trick rounds to nearest), |f| <= 1/2: degree-7
  // Taylor polynomial of 2^f; 2^n built in the exponent field (n = -127 gives 0).
  static reg exp2(reg x) {
    const reg xc = x < -127.0f ? set1(-127.0f) : x;  // NaN stays in xc
    const reg n = (xc + 12582912.0f) - 12582912.0f;
    const reg f = xc - n;
    reg p = set1(1.5252733804059840e-5f);
    p = p * f + 1.5403530393381606e-4f;
    p = p * f + 1.3333558146428443e-3f;
    p = p * f + 9.6181291076284772e-3f;
    p = p * f + 5.5504108664821580e-2f;
    p = p * f + 2.4022650695910071e-1f;
    p = p * f + 6.9314718055994531e-1f;
    p = p * f + 1.0f;
    const ints e = (__builtin_convertvector(n, ints) + 127) << 23;
    reg scale;
    std::memcpy(&scale, &e, sizeof scale);
    return x < -126.0f ? zero() : p * scale;
  }
};

}  // namespace

// q: [T, n_heads, qk_dim], k: [T, n_kv, qk_dim], v: [T, n_kv, v_dim], out: [T, n_heads, v_dim].
void attention_prefill(const float* q, const float* k, const float* v, std::size_t T, const AttentionShape& shape,
                       float* out) {
  prefill<Portable>(q, k, v, T, shape, out);
}

// q: [n_heads, qk_dim]; k_cache: [>= L, n_kv * qk_dim], v_cache: [>= L, n_kv * v_dim] (fp32, bf16
// or fp8); out: [n_heads, v_dim].
void attention_decode(const float* q, const Matrix& k_cache, const Matrix& v_cache, std::size_t L,
                      const AttentionShape& shape, float* out) {
  decode<Portable>(q, k_cache, v_cache, L, shape, out);
}

}  // namespace infercost::portable
