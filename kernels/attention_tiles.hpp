// The tiled attention algorithms of the portable, AVX2 and AVX-512 kernels, written once over a
// small vector interface V that each kernels/<isa>/attention.cpp supplies:
//
//   V::reg, V::W                 a register of W floats
//   V::kMr, V::kNr               prefill register tile: kMr rows x kNr registers of accumulators
//   V::kKeyBlock                 keys per prefill block (a multiple of kNr * W)
//   V::kDecodeCols               registers of value columns per head in the decode accumulation
//   V::kF8Unit                   load(const f8_t*) returns the value divided by kF8Unit
//   zero, set1, load, load_partial (first n elements, the rest 0), store, fmadd, mul, add, sub,
//   max, hsum, hmax, sums (of W registers: lane k = hsum of register k), exp2 (2^x; exactly 0
//   for x < -126, so -inf gives 0; NaN stays NaN)
//
// Everything here has internal linkage (an unnamed namespace): each ISA translation unit compiles
// its own copy with its own flags, so no AVX-512 code can be shared with portable code
// (kernels/scratch.hpp). Scores are kept in the log2 domain (the query is pre-multiplied by
// scale · log2 e), so the softmax needs 2^x rather than e^x.
#pragma once

#include <omp.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "infercost/dtype.hpp"
#include "infercost/ops/attention.hpp"
#include "infercost/weights.hpp"
#include "prefetch.hpp"
#include "scratch.hpp"

namespace infercost {
namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kMinusInf = -HUGE_VALF;

constexpr std::size_t lesser(std::size_t a, std::size_t b) { return a < b ? a : b; }
constexpr std::size_t round_up(std::size_t n, std::size_t m) { return (n + m - 1) / m * m; }
constexpr std::size_t ceil_div(std::size_t n, std::size_t m) { return (n + m - 1) / m; }

// The largest divisor of `group` that is at most `limit`: how many query heads of one KV group a
// tile processes together (they share every key and value load).
constexpr std::size_t heads_per_tile(std::size_t group, std::size_t limit) {
  for (std::size_t d = lesser(group, limit); d > 1; --d)
    if (group % d == 0) return d;
  return 1;
}

// Online softmax over one block of scores p[0, n) (log2 domain; entries past the valid keys are
// -inf, n a multiple of W): updates the running max m and sum l, turns p into the weights
// 2^(p - m_new), and returns the factor 2^(m_old - m_new) that rescales what was accumulated.
// The block holds at least one valid score, so m_new is finite.
template <class V>
float block_softmax(float* p, std::size_t n, float& m, float& l) {
  typename V::reg mx = V::set1(kMinusInf);
  for (std::size_t j = 0; j < n; j += V::W) mx = V::max(mx, V::load(p + j));
  const float block_max = V::hmax(mx);
  const float m_new = m > block_max ? m : block_max;
  const float corr = exp2f(m - m_new);  // 0 on the first block (m = -inf)
  const typename V::reg mv = V::set1(m_new);
  typename V::reg sum = V::zero();
  for (std::size_t j = 0; j < n; j += V::W) {
    const typename V::reg e = V::exp2(V::sub(V::load(p + j), mv));
    V::store(p + j, e);
    sum = V::add(sum, e);
  }
  l = l * corr + V::hsum(sum);
  m = m_new;
  return corr;
}

template <class V, bool Partial, typename T>
typename V::reg load_maybe_partial(const T* p, std::size_t n) {
  if constexpr (Partial) return V::load_partial(p, n);
  else return V::load(p);
}

// ---------------------------------------------------------------------------------------------
// Decode: one query per head against L cached rows.

// Rows of the cache per decode block. The scores of a block stay in L1 between the key and value
// passes; the block's keys and values (fp32 GQA 4 x 128: 32 rows x 4 KiB = 128 KiB) stay in L2
// next to the following block's, which is being prefetched.
constexpr std::size_t kDecodeRows = 32;
// A context chunk (one work unit) holds at least this many rows, so merging stays negligible.
constexpr std::size_t kMinChunkRows = 256;

// What one decode work unit reads: KV heads [g0, g1) of every cache row (keys row_k elements
// apart, values row_v), G query heads per KV head; dqp, dvp: dq, dv rounded up to W.
struct DecodeGeometry {
  std::size_t G, dq, dv, dqp, dvp, row_k, row_v, g0, g1;
};

// Requests the cache lines of [first, first + bytes) into L2 (not L1: a block does not fit there).
inline void prefetch_range_to_l2(const void* first, std::size_t bytes) {
  const char* p = static_cast<const char*>(first);
  for (std::size_t b = 0; b < bytes; b += 64) prefetch_l2(p + b);
  prefetch_l2(p + bytes - 1);  // the last line, when `first` is not line-aligned
}

// sum[i * R + r] = qs_i · row_r for NH query heads (qs: [NH, dqp], scaled, zero-padded) and R rows
// of dq elements. NH * R independent accumulation chains hide the FMA latency; when NH * R == W one
// transposing reduction (V::sums) finishes all of them at once instead of W horizontal sums.
template <class V, typename T, int NH, int R>
void score_tile(const float* qs, std::size_t dqp, const T* const* rows, std::size_t dq, float* sum) {
  using reg = typename V::reg;
  reg acc[NH * R];
  for (int a = 0; a < NH * R; ++a) acc[a] = V::zero();
  std::size_t d = 0;
  for (; d + V::W <= dq; d += V::W)
    for (int r = 0; r < R; ++r) {
      const reg x = V::load(rows[r] + d);
      for (int i = 0; i < NH; ++i) acc[i * R + r] = V::fmadd(V::load(qs + i * dqp + d), x, acc[i * R + r]);
    }
  if (d < dq)
    for (int r = 0; r < R; ++r) {
      const reg x = V::load_partial(rows[r] + d, dq - d);
      for (int i = 0; i < NH; ++i) acc[i * R + r] = V::fmadd(V::load(qs + i * dqp + d), x, acc[i * R + r]);
    }
  if constexpr (NH * R == V::W) {
    V::store(sum, V::sums(acc));
  } else {
    for (int a = 0; a < NH * R; ++a) sum[a] = V::hsum(acc[a]);
  }
}

// Scores of the unit's query heads (qs: [n_heads, dqp]) against the nb rows of one block (kb: the
// block's first key row): p[(h - g0 G) * kDecodeRows + j] = qs_h · k_j, NH heads of a group at a
// time. Rows are walked in address order, each one whole (every KV head of the unit in turn): the
// cache is read as a few sequential streams, where a KV-head-major walk would touch one 512-byte
// piece of every 2 KiB row, a pattern the hardware prefetchers follow poorly. Meanwhile the keys
// and values of the next block (next_k, next_v: its first row at KV head g0; nb_next rows) are
// requested into L2, a row for each row scored, so their DRAM latency overlaps this block's work.
template <class V, typename T, int NH>
void decode_block_scores(const float* qs, const T* kb, std::size_t nb, const DecodeGeometry& u, const T* next_k,
                         const T* next_v, std::size_t nb_next, float* p) {
  constexpr int R = V::W % NH == 0 ? static_cast<int>(V::W) / NH : 2;
  const std::size_t h0 = u.g0 * u.G, kv_heads = u.g1 - u.g0;
  for (std::size_t j = 0; j < nb; j += R) {
    for (std::size_t r = j; r < j + R && r < nb_next; ++r) {
      prefetch_range_to_l2(next_k + r * u.row_k, kv_heads * u.dq * sizeof(T));
      prefetch_range_to_l2(next_v + r * u.row_v, kv_heads * u.dv * sizeof(T));
    }
    for (std::size_t g = u.g0; g < u.g1; ++g) {
      const T* rows[R];
      for (int r = 0; r < R; ++r) rows[r] = kb + lesser(j + r, nb - 1) * u.row_k + g * u.dq;  // past the end: repeat
      for (std::size_t h = g * u.G; h < (g + 1) * u.G; h += NH) {
        float sum[NH * R];
        score_tile<V, T, NH, R>(qs + h * u.dqp, u.dqp, rows, u.dq, sum);
        for (int i = 0; i < NH; ++i)
          for (int r = 0; r < R; ++r)
            if (j + r < nb) p[(h - h0 + i) * kDecodeRows + j + r] = sum[i * R + r];
      }
    }
  }
}

// acc_i[c0, c0 + C * W) = acc_i · corr_i + Σ_j p_i[j] · v_j[c0, ...) for NH heads; vb: value j at
// vb + j * row_v; acc: [NH, dvp]. Partial: the columns end at c0 + rem (rem < W, C == 1).
template <class V, typename T, int NH, int C, bool Partial>
void decode_values_tile(const float* p, const float* corr, std::size_t nb, const T* vb, std::size_t row_v,
                        std::size_t c0, std::size_t rem, float* acc, std::size_t dvp) {
  using reg = typename V::reg;
  reg a[NH][C];
  for (int i = 0; i < NH; ++i)
    for (int c = 0; c < C; ++c) a[i][c] = V::mul(V::load(acc + i * dvp + c0 + c * V::W), V::set1(corr[i]));
  for (std::size_t j = 0; j < nb; ++j) {
    reg x[C];
    for (int c = 0; c < C; ++c) x[c] = load_maybe_partial<V, Partial>(vb + j * row_v + c0 + c * V::W, rem);
    for (int i = 0; i < NH; ++i) {
      const reg w = V::set1(p[i * kDecodeRows + j]);
      for (int c = 0; c < C; ++c) a[i][c] = V::fmadd(w, x[c], a[i][c]);
    }
  }
  for (int i = 0; i < NH; ++i)
    for (int c = 0; c < C; ++c) V::store(acc + i * dvp + c0 + c * V::W, a[i][c]);
}

template <class V, typename T, int NH>
void decode_values(const float* p, const float* corr, std::size_t nb, const T* vb, std::size_t row_v,
                   std::size_t dv, float* acc, std::size_t dvp) {
  constexpr std::size_t C = V::kDecodeCols;
  std::size_t c0 = 0;
  for (; c0 + C * V::W <= dv; c0 += C * V::W)
    decode_values_tile<V, T, NH, C, false>(p, corr, nb, vb, row_v, c0, 0, acc, dvp);
  for (; c0 + V::W <= dv; c0 += V::W) decode_values_tile<V, T, NH, 1, false>(p, corr, nb, vb, row_v, c0, 0, acc, dvp);
  if (c0 < dv) decode_values_tile<V, T, NH, 1, true>(p, corr, nb, vb, row_v, c0, dv - c0, acc, dvp);
}

// One work unit over cache rows [r0, r1), NH heads of a group per tile: per block, the scores of
// all the unit's heads, then per tile the online softmax and the values (read from L2 by then).
// m, l: [n_heads], acc: [n_heads, dvp], the unit's running state (only its heads are touched);
// p: [(g1 - g0) G, kDecodeRows] of working memory.
template <class V, typename T, int NH>
void decode_unit_tiles(const float* qs, const T* K, const T* Vc, std::size_t r0, std::size_t r1,
                       const DecodeGeometry& u, float* m, float* l, float* acc, float* p) {
  for (std::size_t j0 = r0; j0 < r1; j0 += kDecodeRows) {
    const std::size_t nb = lesser(kDecodeRows, r1 - j0), next = j0 + nb;
    const std::size_t nb_next = next < r1 ? lesser(kDecodeRows, r1 - next) : 0;
    const T* next_k = nb_next > 0 ? K + next * u.row_k + u.g0 * u.dq : nullptr;
    const T* next_v = nb_next > 0 ? Vc + next * u.row_v + u.g0 * u.dv : nullptr;
    decode_block_scores<V, T, NH>(qs, K + j0 * u.row_k, nb, u, next_k, next_v, nb_next, p);
    for (std::size_t g = u.g0; g < u.g1; ++g)
      for (std::size_t h = g * u.G; h < (g + 1) * u.G; h += NH) {
        float* ph = p + (h - u.g0 * u.G) * kDecodeRows;
        float corr[NH];
        for (int i = 0; i < NH; ++i) {
          for (std::size_t j = nb; j < kDecodeRows; ++j) ph[i * kDecodeRows + j] = kMinusInf;
          corr[i] = block_softmax<V>(ph + i * kDecodeRows, kDecodeRows, m[h + i], l[h + i]);
        }
        decode_values<V, T, NH>(ph, corr, nb, Vc + j0 * u.row_v + g * u.dv, u.row_v, u.dv, acc + h * u.dvp, u.dvp);
      }
  }
}

// The query heads of one KV group go up to 4 at a time (they share every key and value load).
template <class V, typename T>
void decode_unit(const float* qs, const T* K, const T* Vc, std::size_t r0, std::size_t r1, const DecodeGeometry& u,
                 float* m, float* l, float* acc, float* p) {
  switch (heads_per_tile(u.G, 4)) {
    case 4: decode_unit_tiles<V, T, 4>(qs, K, Vc, r0, r1, u, m, l, acc, p); break;
    case 3: decode_unit_tiles<V, T, 3>(qs, K, Vc, r0, r1, u, m, l, acc, p); break;
    case 2: decode_unit_tiles<V, T, 2>(qs, K, Vc, r0, r1, u, m, l, acc, p); break;
    default: decode_unit_tiles<V, T, 1>(qs, K, Vc, r0, r1, u, m, l, acc, p); break;
  }
}

// out_h = v_scale · Σ_c 2^(m_c - M) acc_c / Σ_c 2^(m_c - M) l_c over the chunks' states
// (m [H], l [H], acc [H, dvp] each, `state` floats apart), M the largest m_c: the partial softmaxes
// of the chunks merged into the softmax over the whole context. out: [H, dv].
inline void merge_chunks(const float* states, std::size_t state, std::size_t chunks, std::size_t H, std::size_t dv,
                         std::size_t dvp, float v_scale, float* out) {
  for (std::size_t h = 0; h < H; ++h) {
    float m_all = kMinusInf;
    for (std::size_t c = 0; c < chunks; ++c) m_all = m_all > states[c * state + h] ? m_all : states[c * state + h];
    double den = 0.0;
    float* o = out + h * dv;
    for (std::size_t i = 0; i < dv; ++i) o[i] = 0.0f;
    for (std::size_t c = 0; c < chunks; ++c) {
      const float* m = states + c * state;
      const float w = exp2f(m[h] - m_all);
      den += static_cast<double>(w) * m[H + h];
      const float* acc = m + 2 * H + h * dvp;
      for (std::size_t i = 0; i < dv; ++i) o[i] += w * acc[i];
    }
    const auto norm = static_cast<float>(v_scale / den);
    for (std::size_t i = 0; i < dv; ++i) o[i] *= norm;
  }
}

// q: [n_heads, qk_dim]; K rows [n_kv * qk_dim], Vc rows [n_kv * v_dim] of element type T, the
// first L used; out: [n_heads, v_dim]. Work units are (context chunk, range of KV heads): the
// context is split so one sequence keeps every thread busy; KV heads are split too only when the
// context is too short to give each thread a chunk. Every unit reads whole cache rows of its KV
// heads, so query heads of one group share each row read. The chunks' partial softmaxes
// (max, sum, weighted sum) are merged at the end.
template <class V, typename T>
void decode(const float* q, const T* K, const T* Vc, std::size_t L, const AttentionShape& s, float* out) {
  const std::size_t H = s.n_heads, KV = s.n_kv_heads, dq = s.qk_dim, dv = s.v_dim;
  const std::size_t dqp = round_up(dq, V::W), dvp = round_up(dv, V::W);
  const auto threads = static_cast<std::size_t>(omp_get_max_threads());
  const std::size_t chunks = lesser(ceil_div(L, kMinChunkRows), 4 * threads);
  const std::size_t head_parts = chunks >= threads ? 1 : lesser(KV, ceil_div(threads, chunks));
  const std::size_t chunk_rows = ceil_div(L, chunks);
  const std::size_t state = H * (2 + dvp);  // m, l, acc of every head, per chunk
  Scratch scratch(H * dqp + chunks * state + threads * H * kDecodeRows);
  float* qs = scratch.data();
  float* states = qs + H * dqp;
  float* work = states + chunks * state;
  // Pre-scaled query: scores come out in the log2 domain, and an fp8 cache's values are read
  // kF8Unit times too small.
  const float q_scale = s.scale * kLog2e * (sizeof(T) == 1 ? V::kF8Unit : 1.0f);
  const float v_scale = sizeof(T) == 1 ? V::kF8Unit : 1.0f;
  for (std::size_t h = 0; h < H; ++h)
    for (std::size_t d = 0; d < dqp; ++d) qs[h * dqp + d] = d < dq ? q[h * dq + d] * q_scale : 0.0f;
  // One parallel loop and no other barrier: on a busy machine every extra barrier can cost a
  // scheduler time slice. The query scaling above and the merge below are a few thousand flops.
#pragma omp parallel for schedule(dynamic, 1)
  for (std::size_t unit = 0; unit < chunks * head_parts; ++unit) {
    const std::size_t c = unit / head_parts, part = unit % head_parts;
    const std::size_t r0 = c * chunk_rows, r1 = lesser(L, r0 + chunk_rows);
    const std::size_t g0 = part * KV / head_parts, g1 = (part + 1) * KV / head_parts;
    float *m = states + c * state, *l = m + H, *acc = l + H;
    for (std::size_t h = g0 * (H / KV); h < g1 * (H / KV); ++h) {
      m[h] = kMinusInf;
      l[h] = 0.0f;
      for (std::size_t i = 0; i < dvp; ++i) acc[h * dvp + i] = 0.0f;
    }
    float* p = work + static_cast<std::size_t>(omp_get_thread_num()) * H * kDecodeRows;
    const DecodeGeometry u{H / KV, dq, dv, dqp, dvp, KV * dq, KV * dv, g0, g1};
    if (r0 < r1) decode_unit<V, T>(qs, K, Vc, r0, r1, u, m, l, acc, p);
  }
  merge_chunks(states, state, ceil_div(L, chunk_rows), H, dv, dvp, v_scale, out);
}

// Dispatches on the cache's element type.
template <class V>
void decode(const float* q, const Matrix& k_cache, const Matrix& v_cache, std::size_t L, const AttentionShape& s,
            float* out) {
  switch (k_cache.dtype()) {
    case DType::f32: decode<V>(q, k_cache.f32(), v_cache.f32(), L, s, out); break;
    case DType::bf16: decode<V>(q, k_cache.bf16(), v_cache.bf16(), L, s, out); break;
    case DType::f8: decode<V>(q, k_cache.f8(), v_cache.f8(), L, s, out); break;
  }
}

// ---------------------------------------------------------------------------------------------
// Prefill: causal flash attention. A work unit is (KV head, tile of its query heads, block of
// queries): its M = heads x queries rows share every key and value block. Keys come in blocks of
// kKeyBlock; for each, S = Q Kᵀ (a register-tiled GEMM on a key block transposed once for all
// units), the online softmax per row, then O = O · corr + P V.

struct PrefillLayout {
  std::size_t H, KV, G, dq, dv, dvp, T;
  std::size_t key_block, key_blocks;  // keys per block, blocks
  std::size_t tile_heads, query_block, query_blocks;
};

// The keys of one block that some row of a row tile can see (causal), so that the register tiles
// past the diagonal are skipped: rows are head-major (row i is query t0 + i % nq), keys start at s0.
struct VisibleKeys {
  std::size_t t0, nq, s0, bk;
  std::size_t operator()(std::size_t i, std::size_t rows) const {
    const bool one_head = i / nq == (i + rows - 1) / nq;
    const std::size_t last = t0 + (one_head ? (i + rows - 1) % nq : nq - 1);
    return last < s0 ? 0 : lesser(bk, last - s0 + 1);
  }
};

// S[i, 0..keys) = Qp_i · Kt[:, 0..keys) for MR rows from row i, in whole register tiles (the
// columns past `keys` are left as they are); Qp: [M, dq]; Kt: [dq, BK].
template <class V, int MR>
void scores_rows(const float* qp, std::size_t dq, const float* kt, std::size_t bk, std::size_t keys, float* S) {
  using reg = typename V::reg;
  constexpr std::size_t NR = V::kNr;
  for (std::size_t c0 = 0; c0 < keys; c0 += NR * V::W) {
    reg acc[MR][NR];
    for (int r = 0; r < MR; ++r)
      for (std::size_t c = 0; c < NR; ++c) acc[r][c] = V::zero();
    for (std::size_t d = 0; d < dq; ++d) {
      reg b[NR];
      for (std::size_t c = 0; c < NR; ++c) b[c] = V::load(kt + d * bk + c0 + c * V::W);
      for (int r = 0; r < MR; ++r) {
        const reg a = V::set1(qp[r * dq + d]);
        for (std::size_t c = 0; c < NR; ++c) acc[r][c] = V::fmadd(a, b[c], acc[r][c]);
      }
    }
    for (int r = 0; r < MR; ++r)
      for (std::size_t c = 0; c < NR; ++c) V::store(S + r * bk + c0 + c * V::W, acc[r][c]);
  }
}

// O[i.., c0 + NR·W) = O · corr + P[i..] V for MR rows; P: [M, BK] (nk keys used); Vp: [BK, dvp].
template <class V, int MR, int NR>
void values_rows(const float* P, std::size_t bk, std::size_t nk, const float* vp, std::size_t dvp,
                 const float* corr, std::size_t c0, float* O) {
  using reg = typename V::reg;
  reg acc[MR][NR];
  for (int r = 0; r < MR; ++r)
    for (int c = 0; c < NR; ++c) acc[r][c] = V::mul(V::load(O + r * dvp + c0 + c * V::W), V::set1(corr[r]));
  for (std::size_t j = 0; j < nk; ++j) {
    reg b[NR];
    for (int c = 0; c < NR; ++c) b[c] = V::load(vp + j * dvp + c0 + c * V::W);
    for (int r = 0; r < MR; ++r) {
      const reg a = V::set1(P[r * bk + j]);
      for (int c = 0; c < NR; ++c) acc[r][c] = V::fmadd(a, b[c], acc[r][c]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int c = 0; c < NR; ++c) V::store(O + r * dvp + c0 + c * V::W, acc[r][c]);
}

// Calls f.template operator()<n>() for a runtime n in [1, 6].
template <typename F>
void with_count(std::size_t n, F&& f) {
  switch (n) {
    case 6: f.template operator()<6>(); break;
    case 5: f.template operator()<5>(); break;
    case 4: f.template operator()<4>(); break;
    case 3: f.template operator()<3>(); break;
    case 2: f.template operator()<2>(); break;
    default: f.template operator()<1>(); break;
  }
}

// Rows whose tile sees no key of the block keep O as it is (their corr is 1, their P is 0).
template <class V>
void values_block(const float* P, std::size_t M, const VisibleKeys& visible, const float* vp, std::size_t dvp,
                  const float* corr, float* O) {
  const std::size_t bk = visible.bk;
  for (std::size_t i = 0; i < M; i += V::kMr) {
    const std::size_t mr = lesser(V::kMr, M - i), nk = visible(i, mr);
    if (nk == 0) continue;
    for (std::size_t c0 = 0; c0 < dvp; c0 += V::kNr * V::W) {
      const std::size_t nr = lesser(V::kNr, (dvp - c0) / V::W);
      with_count(mr, [&]<int MR>() {
        if constexpr (MR <= V::kMr)
          with_count(nr, [&]<int NR>() {
            if constexpr (NR <= V::kNr)
              values_rows<V, MR, NR>(P + i * bk, bk, nk, vp, dvp, corr + i, c0, O + i * dvp);
          });
      });
    }
  }
}

template <class V>
void scores_block(const float* qp, std::size_t M, std::size_t dq, const float* kt, const VisibleKeys& visible,
                  float* S) {
  for (std::size_t i = 0; i < M; i += V::kMr) {
    const std::size_t mr = lesser(V::kMr, M - i), keys = visible(i, mr);
    with_count(mr, [&]<int MR>() {
      if constexpr (MR <= V::kMr) scores_rows<V, MR>(qp + i * dq, dq, kt, visible.bk, keys, S + i * visible.bk);
    });
  }
}

// One unit: KV head g, query heads h0 .. h0 + tile_heads, queries [t0, t0 + nq). Rows are
// head-major: row i is head h0 + i / nq, query t0 + i % nq. Kt: [key_blocks, dq, BK] of head g;
// Vp: [key_blocks * BK, dvp] of head g. work: qp [M, dq], S [M, BK], O [M, dvp], m, l, corr [M].
template <class V>
void prefill_unit(const float* q, const float* kt, const float* vp, std::size_t h0, std::size_t t0,
                  std::size_t nq, const PrefillLayout& a, float scale, float* work, float* out) {
  const std::size_t M = a.tile_heads * nq, BK = a.key_block;
  float* qp = work;
  float* S = qp + M * a.dq;
  float* O = S + M * BK;
  float* m = O + M * a.dvp;
  float* l = m + M;
  float* corr = l + M;
  for (std::size_t i = 0; i < M; ++i) {
    const float* src = q + ((t0 + i % nq) * a.H + h0 + i / nq) * a.dq;
    for (std::size_t d = 0; d < a.dq; ++d) qp[i * a.dq + d] = src[d] * scale;
    for (std::size_t c = 0; c < a.dvp; ++c) O[i * a.dvp + c] = 0.0f;
    m[i] = kMinusInf;
    l[i] = 0.0f;
  }
  const std::size_t last = t0 + nq - 1;  // the last query; key blocks past it are fully masked
  for (std::size_t b = 0; b * BK <= last; ++b) {
    const std::size_t s0 = b * BK;
    const VisibleKeys visible{t0, nq, s0, BK};
    scores_block<V>(qp, M, a.dq, kt + b * a.dq * BK, visible, S);
    for (std::size_t i = 0; i < M; ++i) {
      const std::size_t t = t0 + i % nq;  // keys s0 + j <= t are visible
      float* row = S + i * BK;
      if (s0 > t) {
        corr[i] = 1.0f;  // no visible key in this block: the row keeps its state
        for (std::size_t j = 0; j < BK; ++j) row[j] = 0.0f;
        continue;
      }
      for (std::size_t j = t - s0 + 1; j < BK; ++j) row[j] = kMinusInf;
      corr[i] = block_softmax<V>(row, BK, m[i], l[i]);
    }
    values_block<V>(S, M, visible, vp + s0 * a.dvp, a.dvp, corr, O);
  }
  for (std::size_t i = 0; i < M; ++i) {
    float* dst = out + ((t0 + i % nq) * a.H + h0 + i / nq) * a.dv;
    const float inv = 1.0f / l[i];
    for (std::size_t c = 0; c < a.dv; ++c) dst[c] = O[i * a.dvp + c] * inv;
  }
}

// q: [T, n_heads, qk_dim], k: [T, n_kv, qk_dim], v: [T, n_kv, v_dim], out: [T, n_heads, v_dim].
template <class V>
void prefill(const float* q, const float* k, const float* v, std::size_t T, const AttentionShape& s, float* out) {
  PrefillLayout a{};
  a.H = s.n_heads, a.KV = s.n_kv_heads, a.G = a.H / a.KV, a.dq = s.qk_dim, a.dv = s.v_dim, a.T = T;
  a.dvp = round_up(a.dv, V::W);
  a.key_block = V::kKeyBlock;
  a.key_blocks = ceil_div(T, a.key_block);
  // About 128 rows per unit: enough reuse of each key/value block, still many units to share.
  a.tile_heads = heads_per_tile(a.G, 4);
  a.query_block = 128 / a.tile_heads;
  a.query_blocks = ceil_div(T, a.query_block);
  const std::size_t BK = a.key_block, rows = a.key_blocks * BK;
  const std::size_t kt_size = a.dq * rows, vp_size = rows * a.dvp;  // per KV head
  const std::size_t M = a.tile_heads * a.query_block;
  const std::size_t work_size = M * (a.dq + BK + a.dvp + 3);
  const auto threads = static_cast<std::size_t>(omp_get_max_threads());
  Scratch scratch(a.KV * (kt_size + vp_size) + threads * work_size);
  float* kt = scratch.data();
  float* vp = kt + a.KV * kt_size;
  float* work = vp + a.KV * vp_size;
  const std::size_t units_per_block = a.KV * (a.G / a.tile_heads);
#pragma omp parallel
  {
    // Keys transposed per block ([dq, BK], zero past T) and values padded to dvp columns, once
    // for all the units that read them.
#pragma omp for
    for (std::size_t gb = 0; gb < a.KV * a.key_blocks; ++gb) {
      const std::size_t g = gb / a.key_blocks, b = gb % a.key_blocks;
      float* kdst = kt + g * kt_size + b * a.dq * BK;
      float* vdst = vp + g * vp_size + b * BK * a.dvp;
      for (std::size_t j = 0; j < BK; ++j) {
        const std::size_t t = b * BK + j;
        for (std::size_t d = 0; d < a.dq; ++d) kdst[d * BK + j] = t < T ? k[(t * a.KV + g) * a.dq + d] : 0.0f;
        for (std::size_t c = 0; c < a.dvp; ++c)
          vdst[j * a.dvp + c] = t < T && c < a.dv ? v[(t * a.KV + g) * a.dv + c] : 0.0f;
      }
    }
    float* mine = work + static_cast<std::size_t>(omp_get_thread_num()) * work_size;
    // The last query blocks cost the most (causal): hand them out first.
#pragma omp for schedule(dynamic, 1) nowait
    for (std::size_t u = 0; u < a.query_blocks * units_per_block; ++u) {
      const std::size_t qb = a.query_blocks - 1 - u / units_per_block, rest = u % units_per_block;
      const std::size_t g = rest / (a.G / a.tile_heads), h0 = g * a.G + (rest % (a.G / a.tile_heads)) * a.tile_heads;
      const std::size_t t0 = qb * a.query_block, nq = lesser(a.query_block, T - t0);
      prefill_unit<V>(q, kt + g * kt_size, vp + g * vp_size, h0, t0, nq, a, s.scale * kLog2e, mine, out);
    }
  }
}

}  // namespace
}  // namespace infercost
