// y = x Wᵀ in portable C++: the shared blocked GEMM / skinny GEMV (gemm_tiled.hpp) over 4-float
// vectors (GCC/Clang vector extensions, SSE2 on the baseline x86-64 target). Micro-tile 4 × 8:
// 8 accumulators, leaving registers for the operands and the separate multiply and add; skinny
// tile 2 x rows × 4 W rows, 8 accumulators as well.
#include <fmt/format.h>

#include <stdexcept>

#include "gemm_tiled.hpp"
#include "infercost/weights.hpp"

namespace infercost {

// For the ISA translation units, which may not build a std::string themselves (scratch.hpp).
[[noreturn]] void gemm_unsupported_dtype(const char* impl, DType dtype) {
  throw std::invalid_argument(fmt::format("{} gemm takes fp32 or bf16 weights, not {}", impl, to_string(dtype)));
}

namespace portable {
namespace {

struct Vec4 {
  using V = float __attribute__((vector_size(16)));
  static constexpr std::size_t kLanes = 4, kMR = 4, kNV = 2, kSkinnyGroup = 2;

  static V zero() { return V{0.0f, 0.0f, 0.0f, 0.0f}; }
  static V load(const float* p) {
    V v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static V load(const std::uint16_t* p) {
    return V{gemm_tiled::to_float(p[0]), gemm_tiled::to_float(p[1]), gemm_tiled::to_float(p[2]),
             gemm_tiled::to_float(p[3])};
  }
  static V load_part(const float* p, std::size_t) { return load(p); }
  static V load_part(const std::uint16_t* p, std::size_t part) {  // part 0: the even elements, 1: the odd
    using gemm_tiled::to_float;
    return V{to_float(p[part]), to_float(p[part + 2]), to_float(p[part + 4]), to_float(p[part + 6])};
  }
  static void store(float* p, V v) { std::memcpy(p, &v, sizeof v); }
  static V broadcast(float v) { return V{v, v, v, v}; }
  static V fma(V a, V b, V c) { return a * b + c; }
  static V add(V a, V b) { return a + b; }
  static float hsum(V v) { return (v[0] + v[1]) + (v[2] + v[3]); }

  // dst[k · dst_ld + j] = src[j · ld + k] for j, k < 4.
  template <class T>
  static void transpose_tile(const T* src, std::size_t ld, float* dst, std::size_t dst_ld) {
    for (std::size_t k = 0; k < kLanes; ++k)
      for (std::size_t j = 0; j < kLanes; ++j) dst[k * dst_ld + j] = gemm_tiled::to_float(src[j * ld + k]);
  }
};

}  // namespace

// x: [M, K], W: [N, K] (row-major, out x in), y: [M, N]
void gemm(const float* x, std::size_t M, const Matrix& W, float* y) {
  if (W.dtype() == DType::f32)
    gemm_tiled::gemm<Vec4>(x, M, W.f32(), W.rows(), W.cols(), y);
  else if (W.dtype() == DType::bf16)
    gemm_tiled::gemm<Vec4>(x, M, W.bf16(), W.rows(), W.cols(), y);
  else
    gemm_unsupported_dtype("portable", W.dtype());
}

}  // namespace portable
}  // namespace infercost
