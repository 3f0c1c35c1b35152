// y = x Wᵀ with AVX2 + FMA: the shared blocked GEMM / skinny GEMV (gemm_tiled.hpp) over ymm vectors.
// Micro-tile 6 × 16: 12 ymm accumulators + 2 of Wᵀ + 1 broadcast fill the 16 registers, with
// 12 independent FMA chains for the 2 ports × 4-5 cycles of latency. Skinny tile 2 x rows × 4 W
// rows: 8 accumulators + 4 W vectors + 1 of x (+ the bf16 mask), so nothing spills.
#include <immintrin.h>

#include "gemm_tiled.hpp"
#include "infercost/weights.hpp"

namespace infercost::avx2 {
namespace {

struct Ymm {
  using V = __m256;
  static constexpr std::size_t kLanes = 8, kMR = 6, kNV = 2, kSkinnyGroup = 2;

  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static V load(const std::uint16_t* p) {  // 8 bf16 widened: each is the top half of an fp32
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
  }
  static V load_part(const float* p, std::size_t) { return load(p); }
  // 16 bf16 as 8 dwords: the low half of dword i is element 2i, the high half element 2i + 1.
  static V load_part(const std::uint16_t* p, std::size_t part) {
    const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm256_castsi256_ps(part == 0 ? _mm256_slli_epi32(raw, 16)
                                         : _mm256_and_si256(raw, _mm256_set1_epi32(static_cast<int>(0xffff0000u))));
  }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V broadcast(float v) { return _mm256_set1_ps(v); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static float hsum(V v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }

  // dst[k · dst_ld + j] = src[j · ld + k] for j, k < 8: 8 loads, 24 shuffles, 8 stores.
  template <class T>
  static void transpose_tile(const T* src, std::size_t ld, float* dst, std::size_t dst_ld) {
    V r[8], t[8];
    for (int i = 0; i < 8; ++i) r[i] = load(src + i * ld);
    for (int i = 0; i < 8; i += 2) {  // t[i] lane q: r[i][4q], r[i+1][4q], r[i][4q+1], r[i+1][4q+1]
      t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
      t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {  // r[i + c] lane q: column 4q + c of rows i..i+3
      r[i] = _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(t[i]), _mm256_castps_pd(t[i + 2])));
      r[i + 1] = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(t[i]), _mm256_castps_pd(t[i + 2])));
      r[i + 2] = _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(t[i + 1]), _mm256_castps_pd(t[i + 3])));
      r[i + 3] = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(t[i + 1]), _mm256_castps_pd(t[i + 3])));
    }
    for (int c = 0; c < 4; ++c) {  // columns c and c + 4 of all 8 rows
      store(dst + c * dst_ld, _mm256_permute2f128_ps(r[c], r[4 + c], 0x20));
      store(dst + (c + 4) * dst_ld, _mm256_permute2f128_ps(r[c], r[4 + c], 0x31));
    }
  }
};

}  // namespace

// x: [M, K], W: [N, K] (row-major, out x in), y: [M, N]
void gemm(const float* x, std::size_t M, const Matrix& W, float* y) {
  if (W.dtype() == DType::f32)
    gemm_tiled::gemm<Ymm>(x, M, W.f32(), W.rows(), W.cols(), y);
  else if (W.dtype() == DType::bf16)
    gemm_tiled::gemm<Ymm>(x, M, W.bf16(), W.rows(), W.cols(), y);
  else
    gemm_unsupported_dtype("avx2", W.dtype());
}

}  // namespace infercost::avx2
