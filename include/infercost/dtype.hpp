// Element types for weights and caches, and their conversions to and from fp32.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace infercost {

// fp8 is OCP FP8 E4M3 (1 sign, 4 exponent bits of bias 7, 3 mantissa bits; largest finite 448,
// no infinities), the format DeepSeek-V3 trains in (V3 report §3.3). infercost uses it for the
// 8-bit KV cache: one byte per element and no scale to store, so bytes per token stay
// elements × size_of exactly as the cost model counts them.
enum class DType { f32, bf16, f8 };

constexpr std::size_t size_of(DType t) { return t == DType::f32 ? 4 : t == DType::bf16 ? 2 : 1; }
constexpr std::string_view to_string(DType t) {
  return t == DType::f32 ? "fp32" : t == DType::bf16 ? "bf16" : "fp8";
}

// bf16 is the top half of an fp32. Conversion rounds to nearest even; NaN stays NaN.
using bf16_t = std::uint16_t;

inline bf16_t to_bf16(float x) {
  std::uint32_t bits = std::bit_cast<std::uint32_t>(x);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<bf16_t>((bits >> 16) | 0x40u);  // quiet NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<bf16_t>(bits >> 16);
}

inline float from_bf16(bf16_t x) { return std::bit_cast<float>(static_cast<std::uint32_t>(x) << 16); }

// The value an fp32 takes once stored as bf16: lets a reference see exactly what a bf16 kernel sees.
inline float round_to_bf16(float x) { return from_bf16(to_bf16(x)); }

using f8_t = std::uint8_t;

// E4M3 -> fp32, exact. The 7 magnitude bits placed at bits 7..13 of an fp16 give the same value
// times 2^-8 for normals and subnormals alike (both formats put the exponent right above the
// mantissa); fast kernels use that trick with the F16C conversion. 0x7f / 0xff are NaN.
inline float from_f8(f8_t x) {
  const float sign = (x & 0x80u) ? -1.0f : 1.0f;
  const unsigned exponent = (x >> 3) & 0xfu, mantissa = x & 0x7u;
  if (exponent == 0xfu && mantissa == 0x7u) return std::nanf("");
  if (exponent == 0) return sign * std::ldexp(static_cast<float>(mantissa), -9);  // subnormal: m · 2^-9
  return sign * std::ldexp(1.0f + static_cast<float>(mantissa) / 8.0f, static_cast<int>(exponent) - 7);
}

// fp32 -> E4M3, rounding to nearest even and saturating to ±448 (as the OCP "saturate" mode does
// for the values a cache stores); NaN stays NaN.
inline f8_t to_f8(float x) {
  if (std::isnan(x)) return 0x7fu;
  const f8_t sign = std::signbit(x) ? 0x80u : 0u;
  const float a = std::fabs(x);
  if (a >= 448.0f) return sign | 0x7eu;
  // The spacing of E4M3 values around a: 2^(e-3) for a in [2^e, 2^(e+1)), e >= -6; 2^-9 below.
  int e = a < 0x1p-6f ? -6 : std::ilogb(a);
  const float step = std::ldexp(1.0f, e - 3);
  const float q = std::nearbyint(a / step) * step;  // round-to-nearest-even in the default mode
  if (q == 0.0f) return sign;
  e = q < 0x1p-6f ? -7 : std::ilogb(q);  // the rounding may carry into the next binade
  if (e < -6) return sign | static_cast<f8_t>(q * 512.0f);  // subnormal: q = m · 2^-9
  const auto mantissa = static_cast<unsigned>(std::ldexp(q, -e) * 8.0f) - 8u;
  return sign | static_cast<f8_t>(((e + 7) << 3) | mantissa);
}

inline float round_to_f8(float x) { return from_f8(to_f8(x)); }

// The value an fp32 takes once stored in `t`.
inline float round_to(DType t, float x) {
  return t == DType::f32 ? x : t == DType::bf16 ? round_to_bf16(x) : round_to_f8(x);
}

}  // namespace infercost
