// y = x Wᵀ with AVX-512: the shared blocked GEMM / skinny GEMV (gemm_tiled.hpp) over zmm vectors.
// Micro-tile 12 × 32: 24 zmm accumulators, 2 loads of Wᵀ and 12 broadcasts of x per 24 FMAs, so
// both FMA ports stay busy and the 4-cycle FMA latency is covered 3 times over. Skinny tile 4 x
// rows × 4 W rows: 16 accumulators + 5 operands, within the 32 registers.
//
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(), which -W(maybe-)uninitialized
// reports wherever they are inlined (a false positive of GCC 12, gone in later releases): silenced
// in this file, where every intrinsic is inlined.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include "gemm_tiled.hpp"
#include "infercost/weights.hpp"

namespace infercost::avx512 {
namespace {

struct Zmm {
  using V = __m512;
  static constexpr std::size_t kLanes = 16, kMR = 12, kNV = 2, kSkinnyGroup = 4;

  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static V load(const std::uint16_t* p) {  // 16 bf16 widened: each is the top half of an fp32
    const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
  }
  static V load_part(const float* p, std::size_t) { return load(p); }
  // 32 bf16 as 16 dwords: the low half of dword i is element 2i, the high half element 2i + 1.
  static V load_part(const std::uint16_t* p, std::size_t part) {
    const __m512i raw = _mm512_loadu_si512(p);
    return _mm512_castsi512_ps(part == 0 ? _mm512_slli_epi32(raw, 16)
                                         : _mm512_and_si512(raw, _mm512_set1_epi32(static_cast<int>(0xffff0000u))));
  }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V broadcast(float v) { return _mm512_set1_ps(v); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static float hsum(V v) { return _mm512_reduce_add_ps(v); }

  // dst[k · dst_ld + j] = src[j · ld + k] for j, k < 16: 16 loads, 64 shuffles, 16 stores.
  template <class T>
  static void transpose_tile(const T* src, std::size_t ld, float* dst, std::size_t dst_ld) {
    V r[16], t[16];
    for (int i = 0; i < 16; ++i) r[i] = load(src + i * ld);
    for (int i = 0; i < 16; i += 2) {  // t[i] lane q: r[i][4q], r[i+1][4q], r[i][4q+1], r[i+1][4q+1]
      t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
      t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {  // r[i + c] lane q: column 4q + c of rows i..i+3
      r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
      r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
      r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
      r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    }
    for (int h = 0; h < 16; h += 8)  // t[h + c]: columns c, c+8 of rows h..h+7; t[h + 4 + c]: c+4, c+12
      for (int c = 0; c < 4; ++c) {
        t[h + c] = _mm512_shuffle_f32x4(r[h + c], r[h + 4 + c], 0x88);
        t[h + 4 + c] = _mm512_shuffle_f32x4(r[h + c], r[h + 4 + c], 0xdd);
      }
    for (int c = 0; c < 8; ++c) {  // columns c and c + 8 of all 16 rows
      store(dst + c * dst_ld, _mm512_shuffle_f32x4(t[c], t[8 + c], 0x88));
      store(dst + (c + 8) * dst_ld, _mm512_shuffle_f32x4(t[c], t[8 + c], 0xdd));
    }
  }
};

}  // namespace

// x: [M, K], W: [N, K] (row-major, out x in), y: [M, N]
void gemm(const float* x, std::size_t M, const Matrix& W, float* y) {
  if (W.dtype() == DType::f32)
    gemm_tiled::gemm<Zmm>(x, M, W.f32(), W.rows(), W.cols(), y);
  else if (W.dtype() == DType::bf16)
    gemm_tiled::gemm<Zmm>(x, M, W.bf16(), W.rows(), W.cols(), y);
  else
    gemm_unsupported_dtype("avx512", W.dtype());
}

}  // namespace infercost::avx512
