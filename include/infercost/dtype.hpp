// Element types for weights and caches, and the bf16 conversions.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace infercost {

enum class DType { f32, bf16 };

constexpr std::size_t size_of(DType t) { return t == DType::f32 ? 4 : 2; }
constexpr std::string_view to_string(DType t) { return t == DType::f32 ? "fp32" : "bf16"; }

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

}  // namespace infercost
