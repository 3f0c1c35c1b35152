// The fast y = x Wᵀ, written once over a vector type and included by kernels/portable/gemm.cpp,
// kernels/avx2/gemm.cpp and kernels/avx512/gemm.cpp, each with its own `S`:
//
//   S::V, S::kLanes                 a vector of kLanes floats
//   S::kMR, S::kNV                  the micro-tile: kMR rows of x by kNV vectors (kNV·kLanes columns) of W
//   S::kSkinnyGroup                 x rows per skinny tile (1 to 4): 4·kSkinnyGroup accumulators
//   zero, load (fp32 or bf16, widened), store, broadcast, fma, add, hsum
//   load_part(w, part)              fp32: the kLanes weights at w (part 0); bf16: of the 2·kLanes
//                                   weights at w, the even ones (part 0) or the odd ones (part 1)
//   transpose_tile(src, ld, dst, dst_ld)  dst[k·dst_ld + j] = src[j·ld + k] for j, k < kLanes
//
// Everything here has internal linkage, so each instruction set gets its own copy (see scratch.hpp:
// ISA translation units share no template or inline function with the rest of the program).
//
// Two paths, both split N across the OpenMP threads (each y element is computed by one thread in a
// fixed order, so the result does not depend on the thread count):
// - skinny (M <= kSkinnyMaxM, decode): every W row is read once from memory; x rows are dotted with
//   kSkinnyRows W rows at a time, over K chunks that keep the W rows and x in L1, so the loop runs
//   at the memory bandwidth (bf16 halves the bytes: it is widened to fp32 in registers, 2 integer
//   ops per 2·kLanes weights, against x reordered once per call to match; see load_part).
// - blocked (prefill): the BLIS loop nest. W is packed per call into kc × NR panels of Wᵀ (fp32,
//   bf16 widened once here), each when the first block of x reaches it; x into kc × MR panels; a
//   register-tiled micro-kernel does MR × NR outer products per k. Packing W costs N·K once per
//   call, amortised over M.
#pragma once

#include <omp.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "infercost/weights.hpp"
#include "scratch.hpp"

namespace infercost {
// Throws std::invalid_argument: the weights are neither fp32 nor bf16 (kernels/portable/gemm.cpp,
// where building the message is allowed).
[[noreturn]] void gemm_unsupported_dtype(const char* impl, DType dtype);
}  // namespace infercost

namespace infercost::gemm_tiled {
namespace {

using std::size_t;

// M up to this runs the skinny path (decode batches; above it packing W pays off).
constexpr size_t kSkinnyMaxM = 16;
// W rows a skinny tile dots at once: 4 independent streams per thread, 4·MB accumulators.
constexpr size_t kSkinnyRows = 4;
// K per skinny chunk: 4 W rows + 16 x rows of 128 floats = 10 KiB, well inside a 32 KiB L1 even
// though the W rows, K apart, fall into the same cache sets (x is copied with a padded stride,
// kSkinnyPad, so that its rows do not as well: with K = 2048 they all would).
constexpr size_t kSkinnyChunk = 128;
constexpr size_t kSkinnyPad = 16;

// Blocked path: a kc × NR panel of Wᵀ (32 KiB with AVX-512's NR = 32, 16 KiB with AVX2's 16)
// stays in L1 while the x panels stream past it from L2; the mc × kc block of x (192 KiB) stays in
// L2 (2 MiB per core on an Emerald Rapids Xeon, 512 KiB on a Zen 3); the kc × nc block of Wᵀ (1 MiB) is kept
// only when M > mc, for the later blocks of x. x is packed again for every nc columns: a larger nc
// makes that rarer. Each y tile is read and written K / kc times.
constexpr size_t kKc = 256;
constexpr size_t kMc = 192;
constexpr size_t kNc = 1024;

// How far ahead of its use the micro-kernel prefetches the packed x panel: 256 bytes, 4 cache lines.
constexpr size_t kPrefetchFloats = 64;

// Below this many multiply-adds a second thread costs more than it saves.
constexpr double kParallelMinMacs = 1 << 17;

inline size_t min_of(size_t a, size_t b) { return a < b ? a : b; }
inline size_t round_up(size_t a, size_t b) { return (a + b - 1) / b * b; }

inline float to_float(float v) { return v; }
inline float to_float(std::uint16_t bf16) {  // bf16 is the top half of an fp32
  const std::uint32_t bits = static_cast<std::uint32_t>(bf16) << 16;
  float v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

// [begin, end) of `n` items for thread `t` of `threads`, in whole multiples of `align`.
struct Range {
  size_t begin, end;
};
inline Range thread_range(size_t n, size_t align, size_t t, size_t threads) {
  const size_t per_thread = round_up((n + threads - 1) / threads, align);
  return {min_of(n, t * per_thread), min_of(n, (t + 1) * per_thread)};
}

// ---------------------------------------------------------------------------------------------
// Skinny path. acc[m · acc_stride + r] holds the vector partial sums of x row m · W row r.

// Weights per skinny step: kLanes fp32, or 2·kLanes bf16 loaded as kLanes dwords and split into
// the even and odd elements (S::load_part: shift left by 16 / mask the top half, 2 ops per
// 2·kLanes weights and no shuffle), against x stored split the same way (split_x_rows).
template <class T>
inline constexpr size_t kSkinnyParts = sizeof(float) / sizeof(T);
template <class S, class T>
inline constexpr size_t kSkinnyStep = kSkinnyParts<T> * S::kLanes;

// acc += x[0..MB) [k0, k1) · w[0..R) [k0, k1), k1 - k0 a multiple of kSkinnyStep.
// x: [MB, ldx] (split for bf16 weights), w: [R, ldw] (rows of W), acc: [MB][acc_stride] vectors.
template <class S, size_t MB, size_t R, class T>
void skinny_tile(const float* x, size_t ldx, const T* w, size_t ldw, size_t k0, size_t k1,
                 typename S::V* acc, size_t acc_stride) {
  using V = typename S::V;
  constexpr size_t P = kSkinnyParts<T>;
  V a[MB][R];
#pragma GCC unroll 4
  for (size_t m = 0; m < MB; ++m)
#pragma GCC unroll 4
    for (size_t r = 0; r < R; ++r) a[m][r] = acc[m * acc_stride + r];
  for (size_t k = k0; k < k1; k += kSkinnyStep<S, T>)
    // One part at a time (the bf16 weights are loaded once per part, from L1): R W vectors live
    // rather than 2·R, so that AVX2's 16 registers hold them and 8 accumulators without spilling.
#pragma GCC unroll 2
    for (size_t p = 0; p < P; ++p) {
      V wv[R];
#pragma GCC unroll 4
      for (size_t r = 0; r < R; ++r) wv[r] = S::load_part(w + r * ldw + k, p);
#pragma GCC unroll 4
      for (size_t m = 0; m < MB; ++m) {
        const V xv = S::load(x + m * ldx + k + p * S::kLanes);
#pragma GCC unroll 4
        for (size_t r = 0; r < R; ++r) a[m][r] = S::fma(xv, wv[r], a[m][r]);
      }
    }
#pragma GCC unroll 4
  for (size_t m = 0; m < MB; ++m)
#pragma GCC unroll 4
    for (size_t r = 0; r < R; ++r) acc[m * acc_stride + r] = a[m][r];
}

// Copies the M rows of x (x: [M, K]) to dst (row stride ldx) as skinny_tile reads them: for bf16
// weights each whole block of 2·kLanes columns reordered to its even then its odd columns (the
// order S::load_part gives the weights in); the rest, summed in scalar, as it is.
template <class S, class T>
void split_x_rows(const float* x, size_t M, size_t K, float* dst, size_t ldx) {
  constexpr size_t L = S::kLanes, step = kSkinnyStep<S, T>;
  const size_t k_vec = K / step * step;
  for (size_t m = 0; m < M; ++m) {
    const float* src = x + m * K;
    float* row = dst + m * ldx;
    if constexpr (kSkinnyParts<T> == 2) {
      for (size_t k = 0; k < k_vec; k += step)
        for (size_t i = 0; i < L; ++i) {
          row[k + i] = src[k + 2 * i];
          row[k + L + i] = src[k + 2 * i + 1];
        }
      std::memcpy(row + k_vec, src + k_vec, (K - k_vec) * sizeof(float));
    } else {
      std::memcpy(row, src, K * sizeof(float));
    }
  }
}

// skinny_tile for mb (1 to S::kSkinnyGroup) rows of x.
template <class S, size_t R, class T>
void skinny_group(size_t mb, const float* x, size_t ldx, const T* w, size_t ldw, size_t k0, size_t k1,
                  typename S::V* acc, size_t acc_stride) {
  static_assert(S::kSkinnyGroup >= 1 && S::kSkinnyGroup <= 4);
  if constexpr (S::kSkinnyGroup >= 4)
    if (mb == 4) return skinny_tile<S, 4, R>(x, ldx, w, ldw, k0, k1, acc, acc_stride);
  if constexpr (S::kSkinnyGroup >= 3)
    if (mb == 3) return skinny_tile<S, 3, R>(x, ldx, w, ldw, k0, k1, acc, acc_stride);
  if constexpr (S::kSkinnyGroup >= 2)
    if (mb == 2) return skinny_tile<S, 2, R>(x, ldx, w, ldw, k0, k1, acc, acc_stride);
  skinny_tile<S, 1, R>(x, ldx, w, ldw, k0, k1, acc, acc_stride);
}

// y[0..M) [n0, n1) of y = x Wᵀ for M <= kSkinnyMaxM. x: [M, ldx], w: [N, K], y: [M, N].
template <class S, class T>
void skinny_rows(const float* x, size_t ldx, size_t M, const T* w, size_t N, size_t K, Range rows, float* y) {
  using V = typename S::V;
  const size_t k_vec = K / kSkinnyStep<S, T> * kSkinnyStep<S, T>;  // the rest is summed in scalar
  V acc[kSkinnyMaxM * kSkinnyRows];
  for (size_t n = rows.begin; n < rows.end; n += kSkinnyRows) {
    const size_t nr = min_of(kSkinnyRows, rows.end - n);
    for (size_t i = 0; i < M * kSkinnyRows; ++i) acc[i] = S::zero();
    const T* wn = w + n * K;
    for (size_t k0 = 0; k0 < k_vec; k0 += kSkinnyChunk) {
      const size_t k1 = min_of(k0 + kSkinnyChunk, k_vec);
      for (size_t m = 0; m < M; m += S::kSkinnyGroup) {
        const size_t mb = min_of(S::kSkinnyGroup, M - m);
        V* acc_m = acc + m * kSkinnyRows;
        if (nr == kSkinnyRows) {
          skinny_group<S, kSkinnyRows>(mb, x + m * ldx, ldx, wn, K, k0, k1, acc_m, kSkinnyRows);
        } else {
          for (size_t r = 0; r < nr; ++r)
            skinny_group<S, 1>(mb, x + m * ldx, ldx, wn + r * K, K, k0, k1, acc_m + r, kSkinnyRows);
        }
      }
    }
    for (size_t m = 0; m < M; ++m)
      for (size_t r = 0; r < nr; ++r) {
        float sum = S::hsum(acc[m * kSkinnyRows + r]);
        for (size_t k = k_vec; k < K; ++k) sum += x[m * ldx + k] * to_float(wn[r * K + k]);
        y[m * N + n + r] = sum;
      }
  }
}

// ---------------------------------------------------------------------------------------------
// Blocked path.

// Packs rows [n0, n0 + nc) × columns [k0, k0 + kc) of W as ceil(nc / NR) panels of Wᵀ, each
// [kc][NR] (column n0 + p·NR + j of panel p at j), zero beyond N. w: [N, K] (rows of W).
template <class S, class T>
void pack_w(const T* w, size_t N, size_t K, size_t n0, size_t nc, size_t k0, size_t kc, float* packed) {
  constexpr size_t L = S::kLanes, NR = S::kNV * S::kLanes;
  const size_t k_tiles = kc / L * L;
  for (size_t p = 0; p < nc; p += NR) {
    float* panel = packed + p * kc;
    for (size_t j = 0; j < NR; j += L) {
      const size_t n = n0 + p + j;
      if (n + L <= N && p + j + L <= nc) {
        const T* src = w + n * K + k0;
        for (size_t k = 0; k < k_tiles; k += L) S::transpose_tile(src + k, K, panel + k * NR + j, NR);
        for (size_t k = k_tiles; k < kc; ++k)
          for (size_t jj = 0; jj < L; ++jj) panel[k * NR + j + jj] = to_float(src[jj * K + k]);
      } else {  // the last, partial group of columns
        for (size_t jj = 0; jj < L; ++jj) {
          const bool inside = n + jj < N && p + j + jj < nc;
          for (size_t k = 0; k < kc; ++k)
            panel[k * NR + j + jj] = inside ? to_float(w[(n + jj) * K + k0 + k]) : 0.0f;
        }
      }
    }
  }
}

// Packs rows [m0, m0 + mc) × columns [k0, k0 + kc) of x as ceil(mc / MR) panels, each [kc][MR],
// zero beyond M. x: [M, K].
template <class S>
void pack_x(const float* x, size_t M, size_t K, size_t m0, size_t mc, size_t k0, size_t kc, float* packed) {
  constexpr size_t MR = S::kMR;
  for (size_t p = 0; p < mc; p += MR) {
    float* panel = packed + p * kc;
    for (size_t i = 0; i < MR; ++i) {
      const size_t m = m0 + p + i;
      if (m < M && p + i < mc) {
        const float* src = x + m * K + k0;
        for (size_t k = 0; k < kc; ++k) panel[k * MR + i] = src[k];
      } else {
        for (size_t k = 0; k < kc; ++k) panel[k * MR + i] = 0.0f;
      }
    }
  }
}

// acc += a[k] ⊗ b[k] for one k: NV vector loads of Wᵀ, ROWS broadcasts of x, ROWS · NV FMAs.
template <class S, size_t ROWS>
inline void rank1_update(const float* a, const float* b, typename S::V (&acc)[ROWS][S::kNV]) {
  using V = typename S::V;
  V bv[S::kNV];
#pragma GCC unroll 4
  for (size_t v = 0; v < S::kNV; ++v) bv[v] = S::load(b + v * S::kLanes);
#pragma GCC unroll 16
  for (size_t m = 0; m < ROWS; ++m) {
    const V av = S::broadcast(a[m]);
#pragma GCC unroll 4
    for (size_t v = 0; v < S::kNV; ++v) acc[m][v] = S::fma(av, bv[v], acc[m][v]);
  }
}

// c[ROWS, NR] (row stride ldc) = (accumulate ? c : 0) + a_panel · b_panel over kc, ROWS <= MR
// (fewer rows: the last tile of a block of x, so that it computes no rows of zeros).
// a: [kc][MR] packed x, b: [kc][NR] packed Wᵀ.
template <class S, size_t ROWS = S::kMR>
void micro_kernel(size_t kc, const float* a, const float* b, float* c, size_t ldc, bool accumulate) {
  using V = typename S::V;
  constexpr size_t MR = S::kMR, NV = S::kNV, NR = NV * S::kLanes;
  // y is far larger than the caches: fetch the tile's rows now, so that adding to them after the
  // k loop does not wait for memory.
  if (accumulate)
    for (size_t m = 0; m < ROWS; ++m) {
      __builtin_prefetch(c + m * ldc);
      __builtin_prefetch(c + m * ldc + NR - 1);
    }
  V acc[ROWS][NV];
#pragma GCC unroll 16
  for (size_t m = 0; m < ROWS; ++m)
#pragma GCC unroll 4
    for (size_t v = 0; v < NV; ++v) acc[m][v] = S::zero();
  // Not unrolled: GCC 12 then interleaves consecutive k steps and spills accumulators.
  for (size_t k = 0; k < kc; ++k) {
    __builtin_prefetch(a + k * MR + kPrefetchFloats);  // the x panel streams from L2
    rank1_update<S, ROWS>(a + k * MR, b + k * NR, acc);
  }
#pragma GCC unroll 16
  for (size_t m = 0; m < ROWS; ++m)
#pragma GCC unroll 4
    for (size_t v = 0; v < NV; ++v) {
      float* dst = c + m * ldc + v * S::kLanes;
      S::store(dst, accumulate ? S::add(S::load(dst), acc[m][v]) : acc[m][v]);
    }
}

// The micro-tile at y (row stride N) with only `rows` × `cols` of it inside y: computed in a
// local tile, then the inside part copied.
template <class S>
void edge_tile(size_t kc, const float* a, const float* b, float* y, size_t N, size_t rows, size_t cols,
               bool accumulate) {
  constexpr size_t MR = S::kMR, NR = S::kNV * S::kLanes;
  alignas(64) float tile[MR * NR];
  for (size_t m = 0; m < MR; ++m)
    for (size_t j = 0; j < NR; ++j) tile[m * NR + j] = accumulate && m < rows && j < cols ? y[m * N + j] : 0.0f;
  micro_kernel<S>(kc, a, b, tile, NR, accumulate);
  for (size_t m = 0; m < rows; ++m)
    for (size_t j = 0; j < cols; ++j) y[m * N + j] = tile[m * NR + j];
}

// micro_kernel for the last `rows` (< MR) rows of a block of x.
template <class S, size_t ROWS = S::kMR - 1>
void short_tile(size_t rows, size_t kc, const float* a, const float* b, float* c, size_t ldc, bool accumulate) {
  if constexpr (ROWS >= 1) {
    if (rows == ROWS) return micro_kernel<S, ROWS>(kc, a, b, c, ldc, accumulate);
    short_tile<S, ROWS - 1>(rows, kc, a, b, c, ldc, accumulate);
  }
}

// y[:, cols) of y = x Wᵀ. x: [M, K], w: [N, K], y: [M, N]; packed_w: kKc × kNc floats, packed_x:
// kKc × round_up(kMc, MR) floats. Each W panel is packed when the first block of x reaches it, and
// later blocks of x (M > kMc) reuse the packed copy. (Prefetching the next panel's W rows into L2
// over the current panel's tiles cost up to half the throughput at M = 512 once it really ran:
// GCC 12 had deleted it, see prefetch.hpp.)
template <class S, class T>
void blocked_columns(const float* x, size_t M, const T* w, size_t N, size_t K, Range cols, float* y,
                     float* packed_w, float* packed_x) {
  constexpr size_t MR = S::kMR, NR = S::kNV * S::kLanes;
  for (size_t jc = cols.begin; jc < cols.end; jc += kNc) {
    const size_t nc = min_of(kNc, cols.end - jc);
    for (size_t pc = 0; pc < K; pc += kKc) {
      const size_t kc = min_of(kKc, K - pc);
      const bool accumulate = pc > 0;
      for (size_t ic = 0; ic < M; ic += kMc) {
        const size_t mc = min_of(kMc, M - ic);
        pack_x<S>(x, M, K, ic, mc, pc, kc, packed_x);
        for (size_t jr = 0; jr < nc; jr += NR) {
          // With one block of x a panel is used right after packing it and never again: packing
          // every panel into the same place keeps that in L1 rather than writing 1 MiB out to L3.
          float* b = M <= kMc ? packed_w : packed_w + jr * kc;
          const size_t tile_cols = min_of(NR, nc - jr);
          if (ic == 0) pack_w<S>(w, N, K, jc + jr, tile_cols, pc, kc, b);
          for (size_t ir = 0; ir < mc; ir += MR) {
            const float* a = packed_x + ir * kc;
            float* c = y + (ic + ir) * N + jc + jr;
            const size_t tile_rows = min_of(MR, mc - ir);
            if (tile_rows == MR && tile_cols == NR)
              micro_kernel<S>(kc, a, b, c, N, accumulate);
            else if (tile_cols == NR)
              short_tile<S>(tile_rows, kc, a, b, c, N, accumulate);
            else
              edge_tile<S>(kc, a, b, c, N, tile_rows, tile_cols, accumulate);
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Entry: x: [M, K], w: [N, K] (row-major, out × in), y: [M, N].
template <class S, class T>
void gemm(const float* x, size_t M, const T* w, size_t N, size_t K, float* y) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    for (size_t i = 0; i < M * N; ++i) y[i] = 0.0f;
    return;
  }
  const bool parallel = static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K) >= kParallelMinMacs;
  if (M <= kSkinnyMaxM) {
    const bool copy = M > 1 || kSkinnyParts<T> > 1;
    const size_t ldx = M > 1 ? K + kSkinnyPad : K;
    const Scratch padded(copy ? M * ldx : 0);
    if (copy) split_x_rows<S, T>(x, M, K, padded.data(), ldx);
    const float* xs = copy ? padded.data() : x;
#pragma omp parallel if (parallel)
    skinny_rows<S>(xs, ldx, M, w, N, K,
                   thread_range(N, kSkinnyRows, static_cast<size_t>(omp_get_thread_num()),
                                static_cast<size_t>(omp_get_num_threads())),
                   y);
    return;
  }
  constexpr size_t MR = S::kMR, NR = S::kNV * S::kLanes;
  const size_t w_floats = kKc * kNc, x_floats = kKc * round_up(kMc, MR);
  const size_t max_threads = parallel ? static_cast<size_t>(omp_get_max_threads()) : 1;
  const Scratch scratch(max_threads * (w_floats + x_floats));
#pragma omp parallel if (parallel)
  {
    const auto t = static_cast<size_t>(omp_get_thread_num());
    float* packed_w = scratch.data() + t * (w_floats + x_floats);
    blocked_columns<S>(x, M, w, N, K, thread_range(N, NR, t, static_cast<size_t>(omp_get_num_threads())), y,
                       packed_w, packed_w + w_floats);
  }
}

}  // namespace
}  // namespace infercost::gemm_tiled
