// The reference MHA/GQA/MQA attention kernels and the standard attention layer.
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "infercost/layers.hpp"
#include "infercost/ops/attention.hpp"
#include "infercost/ops/gemm.hpp"
#include "infercost/ops/norm_rope.hpp"
#include "layers/layer_factories.hpp"
#include "support/compare.hpp"

namespace infercost {
namespace {

using testing::poisoned;
using testing::random_vector;
using testing::relative_error;

constexpr std::uint64_t kSeed = 20240611;

// ---------------------------------------------------------------------------------------------
// reference::attention_prefill against values worked out by hand.

// One token attends only to itself: the output of head h is v of its KV head h / group.
TEST(AttentionPrefill, SingleTokenReturnsValueOfItsKvHead) {
  const AttentionShape s{6, 2, 7, 5, 0.3f};  // group of 3; qk_dim != v_dim
  const auto q = random_vector(6 * 7, kSeed, "q"), k = random_vector(2 * 7, kSeed, "k");
  const auto v = random_vector(2 * 5, kSeed, "v");
  auto out = poisoned(6 * 5);
  reference::attention_prefill(q.data(), k.data(), v.data(), 1, s, out.data());
  for (std::size_t h = 0; h < 6; ++h)
    for (std::size_t c = 0; c < 5; ++c)
      EXPECT_NEAR(out[h * 5 + c], v[(h / 3) * 5 + c], 1e-6) << "head " << h << ", column " << c;
}

// q = 0 makes every score equal: token t gets the mean of v over tokens 0..t (causal) of its KV head.
TEST(AttentionPrefill, UniformScoresGiveCausalMeanOfValues) {
  const std::size_t T = 17, H = 6, KV = 3, dq = 10, dv = 9;
  const AttentionShape s{H, KV, dq, dv, 1.0f / std::sqrt(10.0f)};
  const std::vector<float> q(T * H * dq, 0.0f);
  const auto k = random_vector(T * KV * dq, kSeed, "k"), v = random_vector(T * KV * dv, kSeed, "v");
  auto out = poisoned(T * H * dv);
  reference::attention_prefill(q.data(), k.data(), v.data(), T, s, out.data());
  std::vector<float> want(T * H * dv);
  for (std::size_t t = 0; t < T; ++t)
    for (std::size_t h = 0; h < H; ++h)
      for (std::size_t c = 0; c < dv; ++c) {
        double sum = 0.0;
        for (std::size_t j = 0; j <= t; ++j) sum += v[(j * KV + h / 2) * dv + c];
        want[(t * H + h) * dv + c] = static_cast<float>(sum / static_cast<double>(t + 1));
      }
  EXPECT_LE(relative_error(out, want), 1e-6);
}

// Two tokens, one head, qk_dim 1, scale 0.5: token 1's scores are 0.5·[1·0, 1·2 ln 3] = [0, ln 3],
// so its weights are [1/4, 3/4] and its output 4/4 + 3·8/4 = 7.
TEST(AttentionPrefill, HandWorkedSoftmax) {
  const AttentionShape s{1, 1, 1, 1, 0.5f};
  const std::vector<float> q{5.0f, 1.0f}, k{0.0f, static_cast<float>(2.0 * std::log(3.0))}, v{4.0f, 8.0f};
  auto out = poisoned(2);
  reference::attention_prefill(q.data(), k.data(), v.data(), 2, s, out.data());
  EXPECT_NEAR(out[0], 4.0f, 1e-6);
  EXPECT_NEAR(out[1], 7.0f, 1e-5);
}

// Scores of 1000 and 2000 overflow exp() unless the max is subtracted first; the larger wins outright.
TEST(AttentionPrefill, LargeScoresStayFinite) {
  const AttentionShape s{1, 1, 1, 2, 1.0f};
  const std::vector<float> q{1.0f, 1.0f}, k{1000.0f, 2000.0f}, v{1.0f, 2.0f, -3.0f, 5.0f};
  auto out = poisoned(4);
  reference::attention_prefill(q.data(), k.data(), v.data(), 2, s, out.data());
  const std::vector<float> want{1.0f, 2.0f, -3.0f, 5.0f};
  EXPECT_LE(relative_error(out, want), 1e-6);
}

// ---------------------------------------------------------------------------------------------
// reference::attention_decode against the last row of attention_prefill.

// Writes rows [T, width] into a [T, width] matrix of the given dtype (rounding to it).
Matrix to_cache(const std::vector<float>& rows, std::size_t T, std::size_t width, DType dtype) {
  Matrix m(T, width, dtype);
  for (std::size_t t = 0; t < T; ++t)
    for (std::size_t i = 0; i < width; ++i) m.set(t, i, rows[t * width + i]);
  return m;
}

std::vector<float> rounded_to_bf16(std::vector<float> x) {
  for (float& e : x) e = round_to_bf16(e);
  return x;
}

struct DecodeCase {
  std::size_t T, H, KV, dq, dv;
};

std::string decode_case_name(const ::testing::TestParamInfo<DecodeCase>& param_info) {
  const DecodeCase& c = param_info.param;
  return "T" + std::to_string(c.T) + "_h" + std::to_string(c.H) + "_kv" + std::to_string(c.KV) + "_dq" +
         std::to_string(c.dq) + "_dv" + std::to_string(c.dv);
}

void PrintTo(const DecodeCase& c, std::ostream* os) { *os << decode_case_name({c, 0}); }

class AttentionDecode : public ::testing::TestWithParam<DecodeCase> {};

TEST_P(AttentionDecode, LastTokenMatchesPrefill) {
  const auto [T, H, KV, dq, dv] = GetParam();
  const AttentionShape s{H, KV, dq, dv, 1.0f / std::sqrt(static_cast<float>(dq))};
  const auto q = random_vector(T * H * dq, kSeed, "q", 2.0f);
  const auto k = random_vector(T * KV * dq, kSeed, "k", 2.0f), v = random_vector(T * KV * dv, kSeed, "v");
  auto want = poisoned(T * H * dv);
  reference::attention_prefill(q.data(), k.data(), v.data(), T, s, want.data());
  const float* q_last = q.data() + (T - 1) * H * dq;
  const float* want_last = want.data() + (T - 1) * H * dv;

  auto got = poisoned(H * dv);
  const Matrix k32 = to_cache(k, T, KV * dq, DType::f32), v32 = to_cache(v, T, KV * dv, DType::f32);
  reference::attention_decode(q_last, k32, v32, T, s, got.data());
  EXPECT_LE(relative_error(got.data(), want_last, H * dv), 1e-5) << "fp32 cache";

  // A bf16 cache holds exactly k and v rounded to bf16: the reference on those inputs agrees to
  // fp32 rounding, and the one on the unrounded inputs to bf16 precision.
  got = poisoned(H * dv);
  const Matrix k16 = to_cache(k, T, KV * dq, DType::bf16), v16 = to_cache(v, T, KV * dv, DType::bf16);
  reference::attention_decode(q_last, k16, v16, T, s, got.data());
  EXPECT_LE(relative_error(got.data(), want_last, H * dv), 1e-2) << "bf16 cache vs fp32 inputs";
  const auto k_rounded = rounded_to_bf16(k), v_rounded = rounded_to_bf16(v);
  auto want16 = poisoned(T * H * dv);
  reference::attention_prefill(q.data(), k_rounded.data(), v_rounded.data(), T, s, want16.data());
  EXPECT_LE(relative_error(got.data(), want16.data() + (T - 1) * H * dv, H * dv), 1e-5)
      << "bf16 cache vs bf16-rounded inputs";
}

INSTANTIATE_TEST_SUITE_P(Shapes, AttentionDecode,
                         ::testing::Values(DecodeCase{1, 6, 2, 10, 10}, DecodeCase{2, 6, 3, 14, 14},
                                           DecodeCase{17, 6, 2, 10, 7}, DecodeCase{17, 5, 1, 13, 13},
                                           DecodeCase{17, 6, 6, 14, 14}),
                         decode_case_name);

// ---------------------------------------------------------------------------------------------
// The standard attention layer.

constexpr int kHidden = 37;  // awkward on purpose: not a multiple of 8, nor of any head count

AttentionConfig attention_config(AttentionKind kind, int n_heads, int n_kv_heads, int head_dim) {
  AttentionConfig a;
  a.kind = kind;
  a.n_heads = n_heads;
  a.n_kv_heads = n_kv_heads;
  a.head_dim = head_dim;
  return a;
}

LayerContext layer_context(DType weight_dtype) {
  return LayerContext{kHidden, weight_dtype, kSeed, 10000.0, 1e-6};
}

std::unique_ptr<Attention> make_layer(AttentionKind kind, int n_heads, int n_kv_heads, int head_dim,
                                      DType weight_dtype = DType::f32) {
  const AttentionConfig cfg = attention_config(kind, n_heads, n_kv_heads, head_dim);
  return make_standard_attention(cfg, layer_context(weight_dtype));
}

// Runs the layer on T tokens of x, on a fresh cache: y [T, hidden].
std::vector<float> prefill(const Attention& layer, const std::vector<float>& x, std::size_t T,
                           DType cache_dtype = DType::f32) {
  KvCache cache = layer.make_cache(T, cache_dtype);
  auto y = poisoned(T * kHidden);
  layer.forward(x.data(), T, cache, y.data());
  return y;
}

TEST(StandardAttention, GqaWithAllKvHeadsIsMha) {
  const auto mha = make_layer(AttentionKind::mha, 6, 6, 10);
  const auto gqa = make_layer(AttentionKind::gqa, 6, 6, 10);
  const auto x = random_vector(17 * kHidden, kSeed, "x");
  EXPECT_EQ(prefill(*mha, x, 17), prefill(*gqa, x, 17));
  EXPECT_EQ(mha->weight_bytes(), gqa->weight_bytes());
}

TEST(StandardAttention, MqaIsGqaWithOneKvHead) {
  const auto mqa = make_layer(AttentionKind::mqa, 6, 1, 14, DType::bf16);
  const auto gqa = make_layer(AttentionKind::gqa, 6, 1, 14, DType::bf16);
  const auto x = random_vector(17 * kHidden, kSeed, "x");
  EXPECT_EQ(prefill(*mqa, x, 17), prefill(*gqa, x, 17));
}

// The seed, not the kind, decides the weights: a different seed must give a different function,
// or the two tests above would pass on a layer that ignores its input.
TEST(StandardAttention, DifferentSeedDiffers) {
  const auto cfg = attention_config(AttentionKind::gqa, 6, 2, 10);
  LayerContext other = layer_context(DType::f32);
  other.seed = kSeed + 1;
  const auto x = random_vector(5 * kHidden, kSeed, "x");
  EXPECT_GT(relative_error(prefill(*make_standard_attention(cfg, layer_context(DType::f32)), x, 5),
                           prefill(*make_standard_attention(cfg, other), x, 5)),
            1e-2);
}

// One token attends only to itself, so the layer is W_o · (W_v x repeated over each KV head's
// group), whatever W_q, W_k and RoPE do. Rebuilds the weights from the documented names.
TEST(StandardAttention, SingleTokenIsOutputOfValueProjection) {
  const int H = 6, KV = 3, dh = 10;
  const LayerContext ctx = layer_context(DType::f32);
  const auto layer = make_standard_attention(attention_config(AttentionKind::gqa, H, KV, dh), ctx);
  const Matrix wv = random_matrix(KV * dh, kHidden, ctx.weight_dtype, ctx.seed, "wv");
  const Matrix wo = random_matrix(kHidden, H * dh, ctx.weight_dtype, ctx.seed, "wo");
  const auto x = random_vector(kHidden, kSeed, "x");
  std::vector<float> v(KV * dh), o(H * dh), want(kHidden);
  reference::gemm(x.data(), 1, wv, v.data());
  for (int h = 0; h < H; ++h)
    for (int c = 0; c < dh; ++c) o[h * dh + c] = v[(h / (H / KV)) * dh + c];
  reference::gemm(o.data(), 1, wo, want.data());
  EXPECT_LE(relative_error(prefill(*layer, x, 1), want), 1e-5);
}

// docs/design.md's baseline attention written with the reference ops, from the weights regenerated by name:
// q, k, v projections, RoPE (halves pairing) at positions 0..T-1, causal softmax(q·k / sqrt(d_h)) v,
// output projection. Checks the wiring the layer's own tests cannot see (pairing, positions, scale).
std::vector<float> composed(const LayerContext& ctx, const AttentionShape& s, const std::vector<float>& x,
                            RopePairing pairing) {
  const std::size_t T = x.size() / kHidden, q_w = s.n_heads * s.qk_dim, kv_w = s.n_kv_heads * s.qk_dim;
  auto project = [&](std::size_t rows, const char* name, std::size_t in, const float* input) {
    std::vector<float> out(T * rows);
    reference::gemm(input, T, random_matrix(rows, in, ctx.weight_dtype, ctx.seed, name), out.data());
    return out;
  };
  std::vector<float> q = project(q_w, "wq", kHidden, x.data()), k = project(kv_w, "wk", kHidden, x.data());
  const std::vector<float> v = project(kv_w, "wv", kHidden, x.data());
  std::vector<int> positions(T);
  for (std::size_t t = 0; t < T; ++t) positions[t] = static_cast<int>(t);
  reference::rope(q.data(), T, q_w, s.n_heads, s.qk_dim, s.qk_dim, positions.data(), ctx.rope_theta, pairing);
  reference::rope(k.data(), T, kv_w, s.n_kv_heads, s.qk_dim, s.qk_dim, positions.data(), ctx.rope_theta,
                  pairing);
  std::vector<float> o(T * q_w);
  reference::attention_prefill(q.data(), k.data(), v.data(), T, s, o.data());
  return project(kHidden, "wo", q_w, o.data());
}

TEST(StandardAttention, MatchesProjectionsRopeAndAttentionComposed) {
  const std::size_t H = 6, KV = 2, dh = 10, T = 9;
  const LayerContext ctx = layer_context(DType::f32);
  const auto layer = make_standard_attention(attention_config(AttentionKind::gqa, H, KV, dh), ctx);
  const AttentionShape s{H, KV, dh, dh, 1.0f / std::sqrt(static_cast<float>(dh))};
  const auto x = random_vector(T * kHidden, kSeed, "x", 2.0f);
  const auto got = prefill(*layer, x, T);
  EXPECT_LE(relative_error(got, composed(ctx, s, x, RopePairing::halves)), 1e-5);
  // The check can fail: the other pairing gives another function.
  EXPECT_GT(relative_error(got, composed(ctx, s, x, RopePairing::interleaved)), 1e-3);
}

TEST(StandardAttention, WeightBytes) {
  for (DType dt : {DType::f32, DType::bf16}) {
    const auto layer = make_layer(AttentionKind::gqa, 6, 2, 14, dt);
    // W_q and W_o: 6·14 × d each; W_k and W_v: 2·14 × d each.
    EXPECT_EQ(layer->weight_bytes(), (2 * 6 * 14 + 2 * 2 * 14) * kHidden * size_of(dt)) << to_string(dt);
  }
}

struct LayerCase {
  int n_heads, n_kv_heads, head_dim;
  DType weight_dtype, cache_dtype;
};

std::string layer_case_name(const ::testing::TestParamInfo<LayerCase>& param_info) {
  const LayerCase& c = param_info.param;
  return "h" + std::to_string(c.n_heads) + "_kv" + std::to_string(c.n_kv_heads) + "_d" +
         std::to_string(c.head_dim) + "_w" + std::string(to_string(c.weight_dtype)) + "_cache" +
         std::string(to_string(c.cache_dtype));
}

void PrintTo(const LayerCase& c, std::ostream* os) { *os << layer_case_name({c, 0}); }

class StandardAttentionDecode : public ::testing::TestWithParam<LayerCase> {
 protected:
  std::unique_ptr<Attention> layer() const {
    const LayerCase& c = GetParam();
    return make_layer(AttentionKind::gqa, c.n_heads, c.n_kv_heads, c.head_dim, c.weight_dtype);
  }
};

// How closely decode and prefill agree through a cache of `dtype`. Both paths see the same cached
// values, but the fast gemm may round a token's k or v differently in a 1-row and a t-row call
// (fp32 rounding); a bf16 cache can turn that last-bit difference into one bf16 step of one
// element, so a bf16 cache is held to bf16 precision.
double cache_tolerance(DType dtype) { return dtype == DType::f32 ? 1e-5 : 1e-2; }

// Prefill of t-1 tokens, then decode of token t, equals the prefill of all t tokens row by row.
TEST_P(StandardAttentionDecode, DecodeAfterPrefillMatchesLongerPrefill) {
  const auto attn = layer();
  const DType cache_dtype = GetParam().cache_dtype;
  for (std::size_t t : {1u, 2u, 17u}) {
    SCOPED_TRACE("t = " + std::to_string(t));
    const auto x = random_vector(t * kHidden, kSeed, "x");
    const auto want = prefill(*attn, x, t, cache_dtype);

    KvCache cache = attn->make_cache(t, cache_dtype);
    auto got = poisoned(t * kHidden);
    attn->forward(x.data(), t - 1, cache, got.data());
    attn->forward(x.data() + (t - 1) * kHidden, 1, cache, got.data() + (t - 1) * kHidden);
    EXPECT_EQ(cache.size(), t);
    EXPECT_LE(relative_error(got, want), cache_tolerance(cache_dtype));
  }
}

// A chunk of several new tokens on a non-empty cache (chunked prefill) is causal too.
TEST_P(StandardAttentionDecode, ChunkAfterPrefillMatchesLongerPrefill) {
  const auto attn = layer();
  const DType cache_dtype = GetParam().cache_dtype;
  const std::size_t T = 17, first = 6;
  const auto x = random_vector(T * kHidden, kSeed, "x");
  const auto want = prefill(*attn, x, T, cache_dtype);
  KvCache cache = attn->make_cache(T, cache_dtype);
  auto got = poisoned(T * kHidden);
  attn->forward(x.data(), first, cache, got.data());
  attn->forward(x.data() + first * kHidden, T - first, cache, got.data() + first * kHidden);
  EXPECT_LE(relative_error(got, want), cache_tolerance(cache_dtype));
}

INSTANTIATE_TEST_SUITE_P(Shapes, StandardAttentionDecode,
                         ::testing::Values(LayerCase{6, 2, 10, DType::f32, DType::f32},
                                           LayerCase{6, 3, 14, DType::f32, DType::bf16},
                                           LayerCase{6, 2, 14, DType::bf16, DType::f32},
                                           LayerCase{6, 3, 10, DType::bf16, DType::bf16},
                                           LayerCase{5, 1, 14, DType::f32, DType::bf16},
                                           LayerCase{6, 6, 10, DType::bf16, DType::f32}),
                         layer_case_name);

// A bf16 cache changes the result only by bf16 rounding of k and v.
TEST(StandardAttention, Bf16CacheCloseToFp32Cache) {
  const auto attn = make_layer(AttentionKind::gqa, 6, 3, 14);
  const auto x = random_vector(17 * kHidden, kSeed, "x");
  EXPECT_LE(relative_error(prefill(*attn, x, 17, DType::bf16), prefill(*attn, x, 17, DType::f32)), 1e-2);
}

TEST(StandardAttention, CacheBytes) {
  for (DType dt : {DType::f32, DType::bf16}) {
    const auto attn = make_layer(AttentionKind::gqa, 6, 3, 14, dt);
    const KvCache cache = attn->make_cache(17, dt);
    EXPECT_EQ(cache.size(), 0u);
    EXPECT_EQ(cache.capacity(), 17u);
    EXPECT_EQ(cache.bytes_per_token(), 2u * 3 * 14 * size_of(dt)) << to_string(dt);
    EXPECT_EQ(cache.allocated_bytes(), cache.bytes_per_token() * 17) << to_string(dt);
  }
}

// A forward() that would overflow the cache is refused before it changes anything.
TEST(StandardAttention, FullCacheThrowsAndKeepsCache) {
  const auto attn = make_layer(AttentionKind::gqa, 6, 2, 10);
  KvCache cache = attn->make_cache(2, DType::f32);
  const auto x = random_vector(3 * kHidden, kSeed, "x");
  auto y = poisoned(3 * kHidden);
  attn->forward(x.data(), 1, cache, y.data());
  EXPECT_THROW(attn->forward(x.data(), 2, cache, y.data()), std::length_error);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(StandardAttention, ForeignCacheLayoutThrows) {
  const auto attn = make_layer(AttentionKind::gqa, 6, 2, 10);
  const auto x = random_vector(kHidden, kSeed, "x");
  auto y = poisoned(kHidden);
  KvCache latent({{"latent", 16}, {"k_rope", 4}}, DType::f32, 4);
  EXPECT_THROW(attn->forward(x.data(), 1, latent, y.data()), std::invalid_argument);
  KvCache other_width = make_layer(AttentionKind::gqa, 6, 3, 10)->make_cache(4, DType::f32);
  EXPECT_THROW(attn->forward(x.data(), 1, other_width, y.data()), std::invalid_argument);
  EXPECT_EQ(other_width.size(), 0u);
}

// The cache stores each stream rounded to its dtype, reads it back as fp32, and refuses what does
// not fit without storing any of it.
TEST(KvCache, AppendStoresRoundedRowsAndRefusesOverflow) {
  KvCache cache({{"a", 3}, {"b", 5}}, DType::bf16, 3);
  const auto a = random_vector(2 * 3, kSeed, "a"), b = random_vector(2 * 5, kSeed, "b");
  cache.append({a.data(), b.data()}, 2);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.rows(0, 2), rounded_to_bf16(a));
  EXPECT_EQ(cache.rows(1, 2), rounded_to_bf16(b));
  EXPECT_THROW(cache.append({a.data(), b.data()}, 2), std::length_error);
  EXPECT_THROW(cache.append({a.data()}, 1), std::invalid_argument);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_NO_THROW(cache.check({{"a", 3}, {"b", 5}}, 1));
  EXPECT_THROW(cache.check({{"a", 3}, {"c", 5}}, 1), std::invalid_argument);
  EXPECT_THROW(cache.check({{"a", 3}}, 1), std::invalid_argument);
}

TEST(StandardAttention, MakeAttentionRefusesNoWidth) {
  LayerContext ctx = layer_context(DType::f32);
  ctx.hidden_size = 0;
  EXPECT_THROW(make_attention(attention_config(AttentionKind::gqa, 6, 2, 10), ctx), ConfigError);
}

}  // namespace
}  // namespace infercost
