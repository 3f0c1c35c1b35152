// The blocked absorbed-MLA kernel shared by kernels/{portable,avx2,avx512}/mla.cpp, written once over
// a vector type V (the including translation unit defines it: GCC vectors, AVX2 or AVX-512).
//
// Absorbed MLA is multi-query attention with a single key/value stream: key j = [c_KV,j | k_R,j]
// (D = kv_lora_rank + rope_dim elements), value j = c_KV,j. So a block of cached tokens is read once
// for ALL query rows (the heads of one token in decode; query tokens × heads in prefill) and the
// work is two small GEMMs per block, with an online softmax across blocks:
//   S [block, rows] = Kblock · Qᵀ           (heads in vector lanes: Qᵀ is stored [D, rows])
//   O [rows, r]     = O · α + Pᵀ · Vblock  (r in vector lanes, P broadcast)
// The softmax runs in base 2: Qᵀ carries scale · log2(e), so P = 2^(S - max) = e^(scale·score - max').
//
// Everything in it has internal linkage: each translation unit compiles its own copy with its own
// instruction-set flags (kernels/scratch.hpp says why nothing may be shared between them).
#pragma once

#include <omp.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "infercost/dtype.hpp"
#include "infercost/ops/mla.hpp"
#include "prefetch.hpp"
#include "scratch.hpp"

namespace infercost {

// The raw storage of an MLA cache pair, read in a portable translation unit (kernels/portable/mla.cpp)
// so that instruction-set code never instantiates Matrix's inline members.
struct MlaCacheView {
  DType dtype;
  const void* latent;  // [rows, kv_lora_rank]
  const void* k_rope;  // [rows, rope_dim]
};
MlaCacheView mla_cache_view(const Matrix& latent, const Matrix& k_rope);

namespace {
namespace mla_blocked {

// Cached tokens per block: S and the converted block stay in L1/L2, and it divides by every token
// tile width used below (6, 12, 24 on AVX-512; 3, 6, 12 on AVX2).
constexpr std::size_t kBlock = 48;
constexpr float kLog2e = 1.4426950408889634f;

inline std::size_t round_up(std::size_t n, std::size_t m) { return (n + m - 1) / m * m; }

// One block of keys as fp32 rows: latent rows (stride lat_stride) and k_rope rows (stride rope_stride).
struct KeyBlock {
  const float* lat;
  const float* rope;
  std::size_t lat_stride, rope_stride, n;
};

// Requests the next block of the cache (its stored bytes, latent then k_rope rows: two contiguous
// ranges) into L2 while the current one is scored, a few lines after each score tile, so DRAM
// latency overlaps compute: the score pass walks a block 64 dimensions at a time across 48 rows,
// not as one sequential stream a hardware prefetcher would run ahead of. (L2, not L1: an fp32
// block is 110 KB.) No default member initialisers, so that decode's table of Rows costs nothing to
// declare; every Rows in use is brace-initialised, which zeroes its Prefetcher.
struct Prefetcher {
  const char* next[2];
  const char* end[2];
  std::size_t lines_per_step;

  // The cursor lives in locals for the loop (the members are reloaded on every line otherwise,
  // since the array index is not known at compile time).
  void step() {
    std::size_t left = lines_per_step;
    for (int range = 0; range < 2 && left > 0; ++range) {
      const char* p = next[range];
      const char* const stop = end[range];
      for (; left > 0 && p < stop; --left, p += 64) prefetch_l2(p);
      next[range] = p;
    }
  }
};

// The state of one set of query rows attending to a range of keys.
struct Rows {
  const float* qt;   // [D, Rp]: the queries transposed, times scale · log2(e) · unit, padded lanes 0
  const float* lim;  // [Rp]: the last key each row may see (causal), or nullptr: no mask
  float lim_min;     // the smallest of lim: blocks wholly at or below it need no mask
  std::size_t rows, Rp;
  float* m;                     // [Rp] running max (base-2 units)
  float* l;                     // [Rp] running sum of 2^(s - m)
  float* alpha;                 // [Rp] rescale of the block in progress
  float* s;                     // [kBlock, Rp] scores, then probabilities
  float* o;                     // [rows, r] unnormalised output
  float* kbuf;                  // [kBlock, D] the block converted to fp32 (bf16 / fp8 caches)
  mutable Prefetcher prefetch;  // advanced by the score pass, which otherwise only reads the Rows
};

// Floats of working memory one Rows needs.
inline std::size_t rows_floats(std::size_t rows, std::size_t Rp, std::size_t r, std::size_t D) {
  return 3 * Rp + kBlock * Rp + rows * r + kBlock * D;
}

// Carves a Rows' buffers (all but qt and lim) out of `mem` (rows_floats of them).
inline void carve(Rows& w, float* mem, std::size_t r) {
  w.m = mem, w.l = mem + w.Rp, w.alpha = mem + 2 * w.Rp;
  w.s = w.alpha + w.Rp;
  w.o = w.s + kBlock * w.Rp;
  w.kbuf = w.o + w.rows * r;
}

// fp8 E4M3 values come out of the conversion divided by 256 (see V::f8_raw): the queries carry the
// 256 into the scores and the output takes it back at the end, both exact powers of two.
inline float unit_of(DType t) { return t == DType::f8 ? 256.0f : 1.0f; }

// Keys [j0, j0 + n) as fp32 rows: pointers into an fp32 cache, else converted into w.kbuf.
template <class V>
KeyBlock key_block(const MlaCacheView& c, std::size_t r, std::size_t dr, std::size_t j0, std::size_t n, float* kbuf) {
  if (c.dtype == DType::f32)
    return {static_cast<const float*>(c.latent) + j0 * r, static_cast<const float*>(c.k_rope) + j0 * dr, r, dr, n};
  float* lat = kbuf;
  float* rope = kbuf + kBlock * r;
  if (c.dtype == DType::bf16) {
    V::bf16_to_f32(static_cast<const std::uint16_t*>(c.latent) + j0 * r, lat, n * r);
    V::bf16_to_f32(static_cast<const std::uint16_t*>(c.k_rope) + j0 * dr, rope, n * dr);
  } else {
    V::f8_raw(static_cast<const std::uint8_t*>(c.latent) + j0 * r, lat, n * r);
    V::f8_raw(static_cast<const std::uint8_t*>(c.k_rope) + j0 * dr, rope, n * dr);
  }
  return {lat, rope, r, dr, n};
}

// Key dimensions per pass of the score GEMM: the queries' slice (kDimChunk × lanes) and the block's
// (kBlock × kDimChunk) stay in L1 while every token tile reuses them, instead of streaming all of Qᵀ
// (36 KB for 16 heads) from L2 for each tile.
constexpr std::size_t kDimChunk = 64;

// S[t0 + t, HV vectors of lanes] (+)= Σ_d Qᵀ[d, lanes] · K[t0 + t, d] over `width` dimensions, for
// TN tokens: the K element is broadcast, the queries of W·HV rows are one vector each. q points at
// Qᵀ[first dimension, first lane], k at K[t0, first dimension], s at S[0, first lane]. `first`:
// the first chunk, S starts at 0. STRIDE: the row stride known at compile time (0: `row_stride`),
// so the TN rows are constant offsets from one pointer instead of TN registers of addresses.
template <class V, int HV, int TN, std::size_t STRIDE>
void score_tile(const float* q, std::size_t Rp, const float* k, std::size_t row_stride, std::size_t width,
                std::size_t t0, bool first, float* s) {
  const std::size_t stride = STRIDE != 0 ? STRIDE : row_stride;
  using R = typename V::R;
  R acc[TN][HV];
#pragma GCC unroll 32
  for (int t = 0; t < TN; ++t)
#pragma GCC unroll 8
    for (int v = 0; v < HV; ++v) acc[t][v] = first ? V::zero() : V::load(s + (t0 + t) * Rp + v * V::W);
  for (std::size_t d = 0; d < width; ++d) {
    R qv[HV];
#pragma GCC unroll 8
    for (int v = 0; v < HV; ++v) qv[v] = V::load(q + d * Rp + v * V::W);
#pragma GCC unroll 32
    for (int t = 0; t < TN; ++t) {
      const R kv = V::bcast(k + t * stride + d);
#pragma GCC unroll 8
      for (int v = 0; v < HV; ++v) acc[t][v] = V::fma(qv[v], kv, acc[t][v]);
    }
  }
#pragma GCC unroll 32
  for (int t = 0; t < TN; ++t)
#pragma GCC unroll 8
    for (int v = 0; v < HV; ++v) V::store(s + (t0 + t) * Rp + v * V::W, acc[t][v]);
}

// One chunk of dimensions for HV lane vectors and every token of the block.
template <class V, int HV, std::size_t STRIDE>
void score_lanes(const float* q, std::size_t Rp, const float* k, std::size_t stride, std::size_t width, std::size_t n,
                 bool first, float* s, Prefetcher& prefetch) {
  constexpr int TN = V::template token_tile<HV>();
  std::size_t t = 0;
  for (; t + TN <= n; t += TN) {
    score_tile<V, HV, TN, STRIDE>(q, Rp, k + t * stride, stride, width, t, first, s);
    prefetch.step();
  }
  for (; t < n; ++t) score_tile<V, HV, 1, STRIDE>(q, Rp, k + t * stride, stride, width, t, first, s);
}

// How many full score tiles one chunk of dimensions takes for Rp lanes and n tokens (the
// Prefetcher's steps), mirroring score_chunk.
template <class V>
std::size_t tiles_per_chunk(std::size_t Rp, std::size_t n) {
  const std::size_t vectors = Rp / V::W;
  return vectors / 4 * (n / V::template token_tile<4>()) + vectors % 4 / 2 * (n / V::template token_tile<2>()) +
         vectors % 2 * (n / V::template token_tile<1>());
}

// One chunk of dimensions (Qᵀ rows q, key columns k) for every lane: vectors in groups of 4, 2, 1.
template <class V, std::size_t STRIDE>
void score_chunk(const Rows& w, const float* q, const float* k, std::size_t stride, std::size_t width, std::size_t n,
                 bool first) {
  const std::size_t W = V::W;
  std::size_t lane = 0;
  for (; lane + 4 * W <= w.Rp; lane += 4 * W)
    score_lanes<V, 4, STRIDE>(q + lane, w.Rp, k, stride, width, n, first, w.s + lane, w.prefetch);
  for (; lane + 2 * W <= w.Rp; lane += 2 * W)
    score_lanes<V, 2, STRIDE>(q + lane, w.Rp, k, stride, width, n, first, w.s + lane, w.prefetch);
  for (; lane < w.Rp; lane += W)
    score_lanes<V, 1, STRIDE>(q + lane, w.Rp, k, stride, width, n, first, w.s + lane, w.prefetch);
}

// One chunk of dimensions; the row strides of DeepSeek's shapes (kv_lora_rank 512, rope 64, in the
// cache and in the converted block alike) get tiles compiled for them.
template <class V>
void score_chunk_any(const Rows& w, const float* q, const float* k, std::size_t stride, std::size_t width,
                     std::size_t n, bool first) {
  if (stride == 512) return score_chunk<V, 512>(w, q, k, stride, width, n, first);
  if (stride == 64) return score_chunk<V, 64>(w, q, k, stride, width, n, first);
  score_chunk<V, 0>(w, q, k, stride, width, n, first);
}

// S [n, Rp] for the whole block, over the latent dimensions then the rope ones, chunk by chunk.
template <class V>
void scores(const Rows& w, const KeyBlock& kb, std::size_t r, std::size_t dr) {
  for (std::size_t d = 0; d < r; d += kDimChunk)
    score_chunk_any<V>(w, w.qt + d * w.Rp, kb.lat + d, kb.lat_stride, r - d < kDimChunk ? r - d : kDimChunk, kb.n,
                       d == 0);
  for (std::size_t d = 0; d < dr; d += kDimChunk)
    score_chunk_any<V>(w, w.qt + (r + d) * w.Rp, kb.rope + d, kb.rope_stride, dr - d < kDimChunk ? dr - d : kDimChunk,
                       kb.n, r == 0 && d == 0);
}

// Causal mask of a block starting at key j0: a row sees key j only when j <= lim[row].
template <class V>
void mask(const Rows& w, std::size_t j0, std::size_t n) {
  for (std::size_t t = 0; t < n; ++t) {
    const auto key = V::set1(static_cast<float>(j0 + t));
    for (std::size_t lane = 0; lane < w.Rp; lane += V::W) {
      float* p = w.s + t * w.Rp + lane;
      V::store(p, V::keep_if_ge(V::load(p), V::load(w.lim + lane), key));
    }
  }
}

// Online softmax over the block, per lane: new max, α = 2^(m_old - m_new), P = 2^(S - m_new) in
// place of S, l = l·α + Σ P.
template <class V>
void softmax_step(const Rows& w, std::size_t n) {
  using R = typename V::R;
  for (std::size_t lane = 0; lane < w.Rp; lane += V::W) {
    const R m_old = V::load(w.m + lane);
    R m_new = m_old;
    for (std::size_t t = 0; t < n; ++t) m_new = V::max(m_new, V::load(w.s + t * w.Rp + lane));
    const R alpha = V::exp2(V::sub(m_old, m_new));
    R sum = V::zero();
    for (std::size_t t = 0; t < n; ++t) {
      float* p = w.s + t * w.Rp + lane;
      const R e = V::exp2(V::sub(V::load(p), m_new));
      V::store(p, e);
      sum = V::add(sum, e);
    }
    V::store(w.m + lane, m_new);
    V::store(w.alpha + lane, alpha);
    V::store(w.l + lane, V::fma(V::load(w.l + lane), alpha, sum));
  }
}

// O[row0 .. row0 + HB, cols c0 + RV vectors] = O · α + Σ_t P[t, row] · V[t, cols]. PARTIAL: one
// vector of which only `width` columns exist.
template <class V, int HB, int RV, bool PARTIAL>
void pv_tile(const Rows& w, const KeyBlock& kb, std::size_t r, std::size_t row0, std::size_t c0, std::size_t width) {
  using R = typename V::R;
  R acc[HB][RV];
#pragma GCC unroll 8
  for (int i = 0; i < HB; ++i) {
    const R a = V::set1(w.alpha[row0 + i]);
    const float* o = w.o + (row0 + i) * r + c0;
#pragma GCC unroll 8
    for (int v = 0; v < RV; ++v) acc[i][v] = V::mul(PARTIAL ? V::load_n(o, width) : V::loadu(o + v * V::W), a);
  }
  const float* vrow = kb.lat + c0;
  const float* p = w.s + row0;
  for (std::size_t t = 0; t < kb.n; ++t, vrow += kb.lat_stride, p += w.Rp) {
    R x[RV];
#pragma GCC unroll 8
    for (int v = 0; v < RV; ++v) x[v] = PARTIAL ? V::load_n(vrow, width) : V::loadu(vrow + v * V::W);
#pragma GCC unroll 8
    for (int i = 0; i < HB; ++i) {
      const R pv = V::bcast(p + i);
#pragma GCC unroll 8
      for (int v = 0; v < RV; ++v) acc[i][v] = V::fma(x[v], pv, acc[i][v]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < HB; ++i) {
    float* o = w.o + (row0 + i) * r + c0;
#pragma GCC unroll 8
    for (int v = 0; v < RV; ++v) {
      if constexpr (PARTIAL)
        V::store_n(o, acc[i][v], width);
      else
        V::storeu(o + v * V::W, acc[i][v]);
    }
  }
}

// The last `left` (< HB) rows from row0, with a tile of exactly that height.
template <class V, int HB, int RV, bool PARTIAL>
void pv_remainder(const Rows& w, const KeyBlock& kb, std::size_t r, std::size_t row0, std::size_t left, std::size_t c0,
                  std::size_t width) {
  if constexpr (HB > 1) {
    if (left == HB - 1) return pv_tile<V, HB - 1, RV, PARTIAL>(w, kb, r, row0, c0, width);
    pv_remainder<V, HB - 1, RV, PARTIAL>(w, kb, r, row0, left, c0, width);
  }
}

// Columns c0 .. (RV vectors, or PARTIAL: `width` columns) of every row, HB rows per tile: the
// block's slice of these columns (kBlock rows × RV vectors, a few KB) stays in L1 across the row
// tiles instead of the whole block (110 KB in fp32) streaming from L2 once per row tile.
template <class V, int RV, bool PARTIAL>
void pv_columns(const Rows& w, const KeyBlock& kb, std::size_t r, std::size_t c0, std::size_t width) {
  constexpr int HB = V::kPvRows;
  std::size_t row = 0;
  for (; row + HB <= w.rows; row += HB) pv_tile<V, HB, RV, PARTIAL>(w, kb, r, row, c0, width);
  if (row < w.rows) pv_remainder<V, HB, RV, PARTIAL>(w, kb, r, row, w.rows - row, c0, width);
}

// O = O · α + Pᵀ · Vblock: chunks of RV vectors of columns, single vectors, then the partial one.
template <class V>
void accumulate_values(const Rows& w, const KeyBlock& kb, std::size_t r) {
  constexpr int RV = V::kPvVectors;
  const std::size_t W = V::W;
  std::size_t c = 0;
  for (; c + RV * W <= r; c += RV * W) pv_columns<V, RV, false>(w, kb, r, c, 0);
  for (; c + W <= r; c += W) pv_columns<V, 1, false>(w, kb, r, c, 0);
  if (c < r) pv_columns<V, 1, true>(w, kb, r, c, r - c);
}

// Points the prefetcher at the stored bytes of keys [j, j + n) (nothing when n = 0), spread over the
// score tiles of the block in progress (n_now keys).
template <class V>
void aim(Prefetcher& p, const MlaCacheView& c, std::size_t r, std::size_t dr, std::size_t Rp, std::size_t j,
         std::size_t n, std::size_t n_now) {
  const std::size_t bytes = size_of(c.dtype);
  p.next[0] = static_cast<const char*>(c.latent) + j * r * bytes;
  p.end[0] = p.next[0] + n * r * bytes;
  p.next[1] = static_cast<const char*>(c.k_rope) + j * dr * bytes;
  p.end[1] = p.next[1] + n * dr * bytes;
  const std::size_t lines = n * (r + dr) * bytes / 64 + 2;
  const std::size_t chunks = (r + kDimChunk - 1) / kDimChunk + (dr + kDimChunk - 1) / kDimChunk;
  const std::size_t steps = chunks * tiles_per_chunk<V>(Rp, n_now);
  p.lines_per_step = steps == 0 ? 0 : (lines + steps - 1) / steps;
}

// Empties the running state of w: m = -inf, l = 0, O = 0.
inline void start(Rows& w, std::size_t r) {
  float* const m = w.m;
  for (std::size_t i = 0; i < w.Rp; ++i) m[i] = -INFINITY;
  std::memset(w.l, 0, w.Rp * sizeof(float));
  std::memset(w.o, 0, w.rows * r * sizeof(float));
}

// Rows w attend to keys [j0, j1) as well, block by block, on top of their running state. Each block
// prefetches the next one; the last prefetches the first block of [then0, then1), the keys the
// caller expects to give these rows next (empty: nothing), so a new run does not start on DRAM latency.
template <class V>
void attend_range(Rows& w, const MlaCacheView& cache, const MlaShape& shape, std::size_t j0, std::size_t j1,
                  std::size_t then0 = 0, std::size_t then1 = 0) {
  const std::size_t r = shape.kv_lora_rank, dr = shape.rope_dim;
  for (std::size_t j = j0; j < j1; j += kBlock) {
    const std::size_t n = j1 - j < kBlock ? j1 - j : kBlock;
    const bool last = j + n >= j1;
    const std::size_t ahead = last ? then0 : j + n, ahead_end = last ? then1 : j1;
    const std::size_t n_ahead = ahead_end - ahead < kBlock ? ahead_end - ahead : kBlock;
    aim<V>(w.prefetch, cache, r, dr, w.Rp, ahead, n_ahead, n);
    const KeyBlock kb = key_block<V>(cache, r, dr, j, n, w.kbuf);
    scores<V>(w, kb, r, dr);
    if (w.lim != nullptr && static_cast<float>(j + n - 1) > w.lim_min) mask<V>(w, j, n);
    softmax_step<V>(w, n);
    accumulate_values<V>(w, kb, r);
  }
}

// Qᵀ[d, lane] for the rows whose q_latent / q_rope rows are q_latent + row_of(lane) * r etc.
// (lanes >= rows are zero), times `factor`.
template <class RowOf>
void transpose_queries(const float* q_latent, const float* q_rope, std::size_t r, std::size_t dr, std::size_t rows,
                       std::size_t Rp, float factor, RowOf row_of, float* qt) {
  for (std::size_t lane = 0; lane < Rp; ++lane) {
    if (lane >= rows) {
      for (std::size_t d = 0; d < r + dr; ++d) qt[d * Rp + lane] = 0.0f;
      continue;
    }
    const std::size_t row = row_of(lane);
    for (std::size_t d = 0; d < r; ++d) qt[d * Rp + lane] = factor * q_latent[row * r + d];
    for (std::size_t d = 0; d < dr; ++d) qt[(r + d) * Rp + lane] = factor * q_rope[row * dr + d];
  }
}

// out[row, :] = unit · O[row, :] / l[row].
template <class V>
void normalise_row(const float* o, float l, float unit, std::size_t r, float* out) {
  const auto f = V::set1(unit / l);
  std::size_t c = 0;
  for (; c + V::W <= r; c += V::W) V::storeu(out + c, V::mul(V::loadu(o + c), f));
  if (c < r) V::store_n(out + c, V::mul(V::load_n(o + c, r - c), f), r - c);
}

// out[c] = Σ_t weights[t] · rows[t][c] for c < r: the n partial outputs of one head merged.
template <class V>
void merge_row(const float* const* rows, const float* weights, int n, std::size_t r, float* out) {
  std::size_t c = 0;
  for (; c + V::W <= r; c += V::W) {
    auto acc = V::zero();
    for (int t = 0; t < n; ++t) acc = V::fma(V::loadu(rows[t] + c), V::set1(weights[t]), acc);
    V::storeu(out + c, acc);
  }
  if (c < r) {
    auto acc = V::zero();
    for (int t = 0; t < n; ++t) acc = V::fma(V::load_n(rows[t] + c, r - c), V::set1(weights[t]), acc);
    V::store_n(out + c, acc, r - c);
  }
}

// Heads per decode group: a group's Qᵀ and O (4.4 KB per head at kv_lora_rank 512) stay in a
// thread's L2 next to the block (V3's 128 heads in one group need 550 KB per thread, more than the
// L2, and spill to L3 on every block).
constexpr std::size_t kDecodeGroup = 64;
constexpr std::size_t kMaxDecodeGroups = 8;

// Decode: the n_heads rows of one token against L keys. Work items are (a run of whole blocks) × (a
// group of heads): about 8 runs per thread, equal to within a block, handed out dynamically run by
// run (a thread the OS delays on a shared machine does fewer). The groups of a run are taken at
// about the same time, so the run comes from DRAM once and from L3 for the other groups, and with
// as many groups as threads each thread tends to keep one group. Each thread folds the items it
// gets into its own (max, sum, O) per group, since the online softmax does not need the runs
// contiguous, and the partial softmaxes are merged per head:
// M = max_t m_t, w_t = 2^(m_t - M), out = Σ w_t O_t / Σ w_t l_t.
template <class V>
void decode(const float* q_latent, const float* q_rope, const MlaCacheView& cache, std::size_t L, const MlaShape& shape,
            float* out) {
  constexpr int kMaxThreads = 64;
  const std::size_t H = shape.n_heads, r = shape.kv_lora_rank, dr = shape.rope_dim, D = r + dr;
  // Groups of kDecodeGroup heads, or larger ones when that would make more than kMaxDecodeGroups.
  const std::size_t G = H <= kDecodeGroup * kMaxDecodeGroups
                            ? kDecodeGroup
                            : round_up((H + kMaxDecodeGroups - 1) / kMaxDecodeGroups, V::W);
  const std::size_t groups = (H + G - 1) / G;
  const auto heads_in = [&](std::size_t g) { return H - g * G < G ? H - g * G : G; };  // the last may be short
  const std::size_t Gp = round_up(H < G ? H : G, V::W);  // lanes of the widest group
  const int threads = omp_get_max_threads() < kMaxThreads ? omp_get_max_threads() : kMaxThreads;
  const std::size_t qt_floats = round_up(D * Gp, 16), state_floats = round_up(rows_floats(Gp, Gp, r, D), 16);
  const std::size_t per_thread = groups * state_floats;
  Scratch scratch(groups * qt_floats + static_cast<std::size_t>(threads) * per_thread);
  const float unit = unit_of(cache.dtype);
  const float factor = shape.scale * kLog2e * unit;
  const std::size_t blocks = (L + kBlock - 1) / kBlock;
  const std::size_t most_runs = 8 * static_cast<std::size_t>(threads);
  const std::size_t runs = blocks < most_runs ? (blocks > 0 ? blocks : 1) : most_runs;
  Rows parts[kMaxThreads][kMaxDecodeGroups];  // uninitialised: only [thread][group] in use are set
#pragma omp parallel num_threads(threads)
  {
    const int nt = omp_get_num_threads();
    const auto me = static_cast<std::size_t>(omp_get_thread_num());
    float* qt = scratch.data();
#pragma omp for schedule(static)
    for (std::size_t g = 0; g < groups; ++g) {
      const std::size_t nh = heads_in(g);
      transpose_queries(
          q_latent + g * G * r, q_rope + g * G * dr, r, dr, nh, round_up(nh, V::W), factor,
          [](std::size_t lane) { return lane; }, qt + g * qt_floats);
    }
    for (std::size_t g = 0; g < groups; ++g) {
      const std::size_t nh = heads_in(g);
      Rows& w = parts[me][g];
      w = Rows{qt + g * qt_floats, nullptr, 0.0f, nh, round_up(nh, V::W), nullptr, nullptr, nullptr, nullptr,
               nullptr, nullptr, {}};
      carve(w, qt + groups * qt_floats + me * per_thread + g * state_floats, r);
      start(w, r);
    }
    const auto run_start = [&](std::size_t i) {
      const std::size_t j = i * blocks / runs * kBlock;
      return j < L ? j : L;
    };
    const std::size_t items = groups * runs;
#pragma omp for schedule(dynamic, 1)
    for (std::size_t item = 0; item < items; ++item) {
      const std::size_t g = item % groups, i = item / groups;
      // The item this thread most likely takes next: the others take one each in between.
      const std::size_t guess = item + static_cast<std::size_t>(nt), k = guess / groups;
      const bool more = guess < items;
      attend_range<V>(parts[me][g], cache, shape, run_start(i), run_start(i + 1), more ? run_start(k) : 0,
                      more ? run_start(k + 1) : 0);
    }
    // (the loop's implicit barrier: every partial is complete)
#pragma omp for schedule(static)
    for (std::size_t h = 0; h < H; ++h) {
      const std::size_t g = h / G, lane = h - g * G;
      float M = -INFINITY;
      for (int t = 0; t < nt; ++t) M = parts[t][g].m[lane] > M ? parts[t][g].m[lane] : M;
      float weights[kMaxThreads], sum = 0.0f;
      const float* rows[kMaxThreads];
      for (int t = 0; t < nt; ++t) {
        const Rows& p = parts[t][g];
        weights[t] = p.l[lane] > 0.0f ? std::exp2(p.m[lane] - M) : 0.0f;
        sum += weights[t] * p.l[lane];
        rows[t] = p.o + lane * r;
      }
      for (int t = 0; t < nt; ++t) weights[t] *= unit / sum;
      merge_row<V>(rows, weights, nt, r, out + h * r);
    }
  }
}

// Prefill: work items are (a block of query tokens) × (a group of heads), about 64 rows each so the
// score tiles use 4 lane vectors; each attends causally to keys 0 .. its last token. Items of the
// last tokens (the most keys) are handed out first, dynamically, to balance the triangle.
template <class V>
void prefill(const float* q_latent, const float* q_rope, const MlaCacheView& cache, std::size_t T,
             const MlaShape& shape, float* out) {
  constexpr std::size_t kRowsPerItem = 64;
  const std::size_t H = shape.n_heads, r = shape.kv_lora_rank, dr = shape.rope_dim, D = r + dr;
  const std::size_t G = H < kRowsPerItem ? H : kRowsPerItem;       // heads per item
  const std::size_t Tq = G < kRowsPerItem ? kRowsPerItem / G : 1;  // query tokens per item
  const std::size_t Rp = round_up(Tq * G, V::W);
  const std::size_t token_blocks = (T + Tq - 1) / Tq, head_groups = (H + G - 1) / G;
  const std::size_t per_thread = round_up(D * Rp + Rp + rows_floats(Tq * G, Rp, r, D), 16);
  const int max_threads = omp_get_max_threads();
  Scratch scratch(static_cast<std::size_t>(max_threads) * per_thread);
  const float unit = unit_of(cache.dtype);
  const float factor = shape.scale * kLog2e * unit;
#pragma omp parallel
  {
    float* mem = scratch.data() + static_cast<std::size_t>(omp_get_thread_num()) * per_thread;
    float* qt = mem;
    float* lim = qt + D * Rp;
#pragma omp for schedule(dynamic, 1)
    for (std::size_t item = 0; item < token_blocks * head_groups; ++item) {
      const std::size_t tb = token_blocks - 1 - item / head_groups, hg = item % head_groups;
      const std::size_t t0 = tb * Tq, h0 = hg * G;
      const std::size_t nt = T - t0 < Tq ? T - t0 : Tq, nh = H - h0 < G ? H - h0 : G;
      const std::size_t rows = nt * nh;
      // lane = (token i, head k) as i * nh + k; its q row is (t0 + i) * H + h0 + k.
      const auto row_of = [&](std::size_t lane) { return (t0 + lane / nh) * H + h0 + lane % nh; };
      transpose_queries(q_latent, q_rope, r, dr, rows, Rp, factor, row_of, qt);
      for (std::size_t lane = 0; lane < Rp; ++lane)
        lim[lane] = static_cast<float>(t0 + (lane < rows ? lane / nh : nt - 1));
      Rows w{qt, lim, static_cast<float>(t0), rows, Rp, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, {}};
      carve(w, lim + Rp, r);
      start(w, r);
      attend_range<V>(w, cache, shape, 0, t0 + nt);
      for (std::size_t lane = 0; lane < rows; ++lane)
        normalise_row<V>(w.o + lane * r, w.l[lane], unit, r, out + row_of(lane) * r);
    }
  }
}

}  // namespace mla_blocked
}  // namespace
}  // namespace infercost
