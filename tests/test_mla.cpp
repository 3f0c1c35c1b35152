// Multi-head latent attention (DeepSeek-V2 §2.1): the absorbed kernel against independent checks;
// the layer's naive and absorbed forms against each other and against docs/design.md's formulas written
// out, in prefill and decode, with fp32 and bf16 weights and caches.
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "infercost/layers.hpp"
#include "infercost/ops/attention.hpp"
#include "infercost/ops/mla.hpp"
#include "layers/layer_factories.hpp"
#include "support/compare.hpp"

namespace infercost {
namespace {

using testing::poisoned;
using testing::random_vector;
using testing::relative_error;

constexpr std::uint64_t kSeed = 2024;
constexpr double kFp32Tolerance = 1e-5;
constexpr double kBf16Tolerance = 1e-2;

// ---------------------------------------------------------------------------------------------
// The kernel: reference::mla_decode / _prefill.

struct KernelCase {
  std::size_t n_heads, kv_lora_rank, rope_dim, L;
  DType cache_dtype;
};

std::string kernel_case_name(const ::testing::TestParamInfo<KernelCase>& info) {
  const KernelCase& c = info.param;
  return "h" + std::to_string(c.n_heads) + "_r" + std::to_string(c.kv_lora_rank) + "_rope" +
         std::to_string(c.rope_dim) + "_L" + std::to_string(c.L) + "_" +
         std::string(to_string(c.cache_dtype));
}

// The scale an MLA layer with qk_nope_head_dim 6 would use.
MlaShape shape_of(const KernelCase& c) {
  const auto scale = static_cast<float>(1.0 / std::sqrt(6.0 + static_cast<double>(c.rope_dim)));
  return {c.n_heads, c.kv_lora_rank, c.rope_dim, scale};
}

// A cache stream holding L random rows (as its dtype rounds them), then a few NaN rows the
// kernel must not read.
Matrix cache_rows(std::size_t L, std::size_t width, DType dtype, const char* name) {
  constexpr std::size_t kUnusedRows = 3;
  Matrix m(L + kUnusedRows, width, dtype);
  const std::vector<float> values = random_vector(L * width, kSeed, name);
  for (std::size_t j = 0; j < m.rows(); ++j)
    for (std::size_t i = 0; i < width; ++i)
      m.set(j, i, j < L ? values[j * width + i] : std::numeric_limits<float>::quiet_NaN());
  return m;
}

class MlaKernel : public ::testing::TestWithParam<KernelCase> {};

// Absorbed MLA is multi-query attention with one key/value head: key j = [c_KV,j | k_R,j] and
// value j = c_KV,j, scored by the query [q~ | q_R]. The standard attention kernel computes that.
TEST_P(MlaKernel, DecodeMatchesSingleKvHeadAttention) {
  const KernelCase c = GetParam();
  const MlaShape shape = shape_of(c);
  const std::size_t R = c.kv_lora_rank, dr = c.rope_dim, H = c.n_heads;
  const Matrix latent = cache_rows(c.L, R, c.cache_dtype, "latent");
  const Matrix k_rope = cache_rows(c.L, dr, c.cache_dtype, "k_rope");
  const std::vector<float> q_latent = random_vector(H * R, kSeed, "q_latent");
  const std::vector<float> q_rope = random_vector(H * dr, kSeed, "q_rope");

  Matrix key(latent.rows(), R + dr, c.cache_dtype);
  for (std::size_t j = 0; j < key.rows(); ++j) {
    for (std::size_t i = 0; i < R; ++i) key.set(j, i, latent.at(j, i));
    for (std::size_t i = 0; i < dr; ++i) key.set(j, R + i, k_rope.at(j, i));
  }
  std::vector<float> query(H * (R + dr));
  for (std::size_t h = 0; h < H; ++h) {
    for (std::size_t i = 0; i < R; ++i) query[h * (R + dr) + i] = q_latent[h * R + i];
    for (std::size_t i = 0; i < dr; ++i) query[h * (R + dr) + R + i] = q_rope[h * dr + i];
  }
  std::vector<float> want = poisoned(H * R);
  reference::attention_decode(query.data(), key, latent, c.L, {H, 1, R + dr, R, shape.scale}, want.data());

  std::vector<float> got = poisoned(H * R);
  reference::mla_decode(q_latent.data(), q_rope.data(), latent, k_rope, c.L, shape, got.data());
  EXPECT_LE(relative_error(got, want), kFp32Tolerance);
}

// Prefill row t is the decode of query t against rows 0..t: nothing later leaks in.
TEST_P(MlaKernel, PrefillRowsMatchDecode) {
  const KernelCase c = GetParam();
  const MlaShape shape = shape_of(c);
  const std::size_t T = c.L, row = c.n_heads * c.kv_lora_rank, rope_row = c.n_heads * c.rope_dim;
  const Matrix latent = cache_rows(T, c.kv_lora_rank, c.cache_dtype, "latent");
  const Matrix k_rope = cache_rows(T, c.rope_dim, c.cache_dtype, "k_rope");
  const std::vector<float> q_latent = random_vector(T * row, kSeed, "q_latent");
  const std::vector<float> q_rope = random_vector(T * rope_row, kSeed, "q_rope");

  std::vector<float> prefill = poisoned(T * row);
  reference::mla_prefill(q_latent.data(), q_rope.data(), latent, k_rope, T, shape, prefill.data());
  for (std::size_t t = 0; t < T; ++t) {
    std::vector<float> decode = poisoned(row);
    reference::mla_decode(&q_latent[t * row], &q_rope[t * rope_row], latent, k_rope, t + 1, shape,
                                   decode.data());
    EXPECT_LE(relative_error(&prefill[t * row], decode.data(), row), kFp32Tolerance) << "token " << t;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, MlaKernel,
                         ::testing::Values(KernelCase{3, 13, 4, 1, DType::f32},
                                           KernelCase{5, 24, 6, 16, DType::f32},
                                           KernelCase{3, 13, 6, 17, DType::f32},
                                           KernelCase{5, 24, 4, 63, DType::f32},
                                           KernelCase{5, 13, 6, 17, DType::bf16}),
                         kernel_case_name);

// With one cached token the softmax is 1 whatever the query: every head returns that c_KV row.
TEST(MlaKernelCheck, OneCachedTokenReturnsItsLatentRow) {
  const KernelCase c{5, 13, 4, 1, DType::f32};
  const Matrix latent = cache_rows(1, c.kv_lora_rank, c.cache_dtype, "latent");
  const Matrix k_rope = cache_rows(1, c.rope_dim, c.cache_dtype, "k_rope");
  const std::vector<float> q_latent = random_vector(c.n_heads * c.kv_lora_rank, kSeed, "q_latent", 4.0f);
  const std::vector<float> q_rope = random_vector(c.n_heads * c.rope_dim, kSeed, "q_rope", 4.0f);
  std::vector<float> out = poisoned(c.n_heads * c.kv_lora_rank);
  reference::mla_decode(q_latent.data(), q_rope.data(), latent, k_rope, 1, shape_of(c), out.data());
  for (std::size_t h = 0; h < c.n_heads; ++h)
    for (std::size_t i = 0; i < c.kv_lora_rank; ++i)
      EXPECT_EQ(out[h * c.kv_lora_rank + i], latent.at(0, i)) << "head " << h << ", element " << i;
}

// A zero query scores every token alike: every head returns the mean of the c_KV rows.
TEST(MlaKernelCheck, ZeroQueryAveragesLatentRows) {
  const KernelCase c{3, 24, 6, 17, DType::f32};
  const Matrix latent = cache_rows(c.L, c.kv_lora_rank, c.cache_dtype, "latent");
  const Matrix k_rope = cache_rows(c.L, c.rope_dim, c.cache_dtype, "k_rope");
  const std::vector<float> q_latent(c.n_heads * c.kv_lora_rank, 0.0f), q_rope(c.n_heads * c.rope_dim, 0.0f);
  std::vector<float> want(c.n_heads * c.kv_lora_rank);
  for (std::size_t h = 0; h < c.n_heads; ++h) {
    for (std::size_t i = 0; i < c.kv_lora_rank; ++i) {
      double sum = 0.0;
      for (std::size_t j = 0; j < c.L; ++j) sum += latent.at(j, i);
      want[h * c.kv_lora_rank + i] = static_cast<float>(sum / static_cast<double>(c.L));
    }
  }
  std::vector<float> got = poisoned(want.size());
  reference::mla_decode(q_latent.data(), q_rope.data(), latent, k_rope, c.L, shape_of(c),
                                 got.data());
  EXPECT_LE(relative_error(got, want), kFp32Tolerance);
}

// ---------------------------------------------------------------------------------------------
// The layer: make_mla_attention in both forms.

constexpr int kHidden = 36;

struct LayerCase {
  int n_heads, kv_lora_rank, qk_nope_head_dim, qk_rope_head_dim, v_head_dim, q_lora_rank;
};

std::string layer_case_name(const ::testing::TestParamInfo<LayerCase>& info) {
  const LayerCase& c = info.param;
  return "h" + std::to_string(c.n_heads) + "_kv" + std::to_string(c.kv_lora_rank) + "_nope" +
         std::to_string(c.qk_nope_head_dim) + "_rope" + std::to_string(c.qk_rope_head_dim) + "_v" +
         std::to_string(c.v_head_dim) + "_q" + std::to_string(c.q_lora_rank);
}

AttentionConfig config_of(const LayerCase& c) {
  AttentionConfig a;
  a.kind = AttentionKind::mla;
  a.n_heads = c.n_heads;
  a.n_kv_heads = c.n_heads;
  a.q_lora_rank = c.q_lora_rank;
  a.kv_lora_rank = c.kv_lora_rank;
  a.qk_nope_head_dim = c.qk_nope_head_dim;
  a.qk_rope_head_dim = c.qk_rope_head_dim;
  a.v_head_dim = c.v_head_dim;
  return a;
}

LayerContext context(DType weight_dtype, std::uint64_t seed = kSeed) {
  LayerContext ctx;
  ctx.hidden_size = kHidden;
  ctx.weight_dtype = weight_dtype;
  ctx.seed = seed;
  return ctx;
}

// T tokens of input, x: [T, hidden].
std::vector<float> tokens(std::size_t T) { return random_vector(T * kHidden, kSeed, "x"); }

// Outputs [T, hidden] of the T tokens of x: the first `prompt` as one prefill, then the others
// decoded one at a time, on a fresh cache of `cache_dtype`.
std::vector<float> prefill_then_decode(const Attention& layer, DType cache_dtype, const std::vector<float>& x,
                                       std::size_t prompt) {
  const std::size_t T = x.size() / kHidden;
  KvCache cache = layer.make_cache(T, cache_dtype);
  std::vector<float> y = poisoned(T * kHidden);
  layer.forward(x.data(), prompt, cache, y.data());
  for (std::size_t t = prompt; t < T; ++t) layer.forward(&x[t * kHidden], 1, cache, &y[t * kHidden]);
  EXPECT_EQ(cache.size(), T);
  return y;
}

// W x restricted to rows [row0, row0 + rows) of W: one head's slice of a projection.
std::vector<double> project_rows(const Matrix& W, const std::vector<double>& x, std::size_t row0,
                                 std::size_t rows) {
  std::vector<double> y(rows, 0.0);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t i = 0; i < W.cols(); ++i) y[r] += W.at(row0 + r, i) * x[i];
  return y;
}

std::vector<double> project_all(const Matrix& W, const std::vector<double>& x) {
  return project_rows(W, x, 0, W.rows());
}

// RMSNorm with the gain [1, n] of the layer.
void rms_normalise(std::vector<double>& x, const Matrix& gain, double eps) {
  double sum_sq = 0.0;
  for (double e : x) sum_sq += e * e;
  const double inv_rms = 1.0 / std::sqrt(sum_sq / static_cast<double>(x.size()) + eps);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] *= inv_rms * gain.at(0, i);
}

// RoPE pairing (2i, 2i+1), as DeepSeek's reference model.py: pair i turns by pos · theta^(-2i/d).
void rotate_interleaved(std::vector<double>& x, std::size_t pos, double theta) {
  const double d = static_cast<double>(x.size());
  for (std::size_t i = 0; 2 * i + 1 < x.size(); ++i) {
    const double angle = static_cast<double>(pos) * std::pow(theta, -2.0 * static_cast<double>(i) / d);
    const double a = x[2 * i], b = x[2 * i + 1];
    x[2 * i] = a * std::cos(angle) - b * std::sin(angle);
    x[2 * i + 1] = a * std::sin(angle) + b * std::cos(angle);
  }
}

// docs/design.md's MLA written out token by token with per-head k_C, v, from the layer's weights
// regenerated by name: an independent check of the projections, norms and RoPE both forms share.
// x: [T, hidden]; returns y: [T, hidden], token t attending to tokens 0..t.
std::vector<float> mla_from_formulas(const LayerCase& c, const LayerContext& ctx,
                                     const std::vector<float>& x) {
  const std::size_t d = kHidden, H = c.n_heads, nope = c.qk_nope_head_dim, rope = c.qk_rope_head_dim,
                    v_dim = c.v_head_dim, R = c.kv_lora_rank, q_lora = c.q_lora_rank, T = x.size() / d;
  auto weight = [&](std::size_t rows, std::size_t cols, const char* name) {
    return random_matrix(rows, cols, ctx.weight_dtype, ctx.seed, name);
  };
  const std::size_t q_in = q_lora > 0 ? q_lora : d;
  const Matrix w_dq = q_lora > 0 ? weight(q_lora, d, "w_dq") : Matrix();
  const Matrix w_uq = weight(H * nope, q_in, q_lora > 0 ? "w_uq" : "w_q");
  const Matrix w_qr = weight(H * rope, q_in, "w_qr");
  const Matrix w_dkv = weight(R, d, "w_dkv"), w_kr = weight(rope, d, "w_kr");
  const Matrix w_uk = weight(H * nope, R, "w_uk"), w_uv = weight(H * v_dim, R, "w_uv");
  const Matrix w_o = weight(d, H * v_dim, "w_o");
  const Matrix q_norm = q_lora > 0 ? random_gain(q_lora, ctx.weight_dtype, ctx.seed, "q_norm") : Matrix();
  const Matrix kv_norm = random_gain(R, ctx.weight_dtype, ctx.seed, "kv_norm");
  const double scale = 1.0 / std::sqrt(static_cast<double>(nope + rope));

  std::vector<std::vector<double>> c_kv(T), k_r(T);
  std::vector<float> y(T * d);
  for (std::size_t t = 0; t < T; ++t) {
    const std::vector<double> h(x.begin() + static_cast<std::ptrdiff_t>(t * d),
                                x.begin() + static_cast<std::ptrdiff_t>((t + 1) * d));
    c_kv[t] = project_all(w_dkv, h);
    rms_normalise(c_kv[t], kv_norm, ctx.rms_norm_eps);
    k_r[t] = project_all(w_kr, h);
    rotate_interleaved(k_r[t], t, ctx.rope_theta);
    std::vector<double> c_q = h;
    if (q_lora > 0) {
      c_q = project_all(w_dq, h);
      rms_normalise(c_q, q_norm, ctx.rms_norm_eps);
    }
    std::vector<double> o;  // [H, v_dim]
    for (std::size_t i = 0; i < H; ++i) {
      const std::vector<double> q_c = project_rows(w_uq, c_q, i * nope, nope);
      std::vector<double> q_r = project_rows(w_qr, c_q, i * rope, rope);
      rotate_interleaved(q_r, t, ctx.rope_theta);
      std::vector<double> p(t + 1);
      for (std::size_t j = 0; j <= t; ++j) {
        const std::vector<double> k_c = project_rows(w_uk, c_kv[j], i * nope, nope);
        double score = 0.0;
        for (std::size_t e = 0; e < nope; ++e) score += q_c[e] * k_c[e];
        for (std::size_t e = 0; e < rope; ++e) score += q_r[e] * k_r[j][e];
        p[j] = std::exp(score * scale);  // scores are O(1) here: no max subtraction needed
      }
      double sum = 0.0;
      for (double e : p) sum += e;
      std::vector<double> o_i(v_dim, 0.0);
      for (std::size_t j = 0; j <= t; ++j) {
        const std::vector<double> v = project_rows(w_uv, c_kv[j], i * v_dim, v_dim);
        for (std::size_t e = 0; e < v_dim; ++e) o_i[e] += p[j] / sum * v[e];
      }
      o.insert(o.end(), o_i.begin(), o_i.end());
    }
    const std::vector<double> y_t = project_all(w_o, o);
    for (std::size_t e = 0; e < d; ++e) y[t * d + e] = static_cast<float>(y_t[e]);
  }
  return y;
}

class MlaLayer : public ::testing::TestWithParam<LayerCase> {};

TEST_P(MlaLayer, AbsorbedMatchesNaivePrefill) {
  const AttentionConfig a = config_of(GetParam());
  const auto naive = make_mla_attention(a, context(DType::f32), MlaForm::naive);
  const auto absorbed = make_mla_attention(a, context(DType::f32), MlaForm::absorbed);
  const std::vector<float> x = tokens(17);
  const std::vector<float> want = prefill_then_decode(*naive, DType::f32, x, 17);
  EXPECT_LE(relative_error(prefill_then_decode(*absorbed, DType::f32, x, 17), want), kFp32Tolerance);

  // The comparison can fail: other weights give another function.
  const auto other = make_mla_attention(a, context(DType::f32, kSeed + 1), MlaForm::absorbed);
  EXPECT_GT(relative_error(prefill_then_decode(*other, DType::f32, x, 17), want), 0.1);
}

TEST_P(MlaLayer, AbsorbedMatchesNaiveDecode) {
  const AttentionConfig a = config_of(GetParam());
  const auto naive = make_mla_attention(a, context(DType::f32), MlaForm::naive);
  const auto absorbed = make_mla_attention(a, context(DType::f32), MlaForm::absorbed);
  const std::vector<float> x = tokens(11);
  EXPECT_LE(relative_error(prefill_then_decode(*absorbed, DType::f32, x, 6),
                           prefill_then_decode(*naive, DType::f32, x, 6)),
            kFp32Tolerance);
}

TEST_P(MlaLayer, BothFormsMatchFormulasWrittenOut) {
  const LayerCase c = GetParam();
  const LayerContext ctx = context(DType::f32);
  const std::vector<float> x = tokens(7);
  const std::vector<float> want = mla_from_formulas(c, ctx, x);
  for (MlaForm form : {MlaForm::naive, MlaForm::absorbed}) {
    const auto layer = make_mla_attention(config_of(c), ctx, form);
    EXPECT_LE(relative_error(prefill_then_decode(*layer, DType::f32, x, 4), want), kFp32Tolerance)
        << (form == MlaForm::naive ? "naive" : "absorbed");
  }
}

// Decoding token t after a prefill of the t - 1 before it gives row t of a prefill of all t. Both
// read the cache; the fast gemm may round a token's cache row differently in a 1-row and a t-row
// call, which a bf16 cache can turn into one bf16 step, so a bf16 cache is held to bf16 precision.
TEST_P(MlaLayer, DecodeAfterPrefillMatchesPrefillRow) {
  const AttentionConfig a = config_of(GetParam());
  for (MlaForm form : {MlaForm::naive, MlaForm::absorbed}) {
    const auto layer = make_mla_attention(a, context(DType::f32), form);
    for (DType cache_dtype : {DType::f32, DType::bf16}) {
      for (std::size_t t : {1, 2, 17}) {
        const std::vector<float> x = tokens(t);
        const std::vector<float> prefill = prefill_then_decode(*layer, cache_dtype, x, t);
        const std::vector<float> decode = prefill_then_decode(*layer, cache_dtype, x, t - 1);
        const std::size_t last = (t - 1) * kHidden;
        const double tolerance = cache_dtype == DType::f32 ? kFp32Tolerance : kBf16Tolerance;
        EXPECT_LE(relative_error(&decode[last], &prefill[last], kHidden), tolerance)
            << (form == MlaForm::naive ? "naive" : "absorbed") << ", " << to_string(cache_dtype)
            << " cache, t = " << t;
      }
    }
  }
}

// A chunk of tokens on a non-empty cache is decoded token by token, each seeing the ones before it.
TEST_P(MlaLayer, ChunkAfterPrefillMatchesTokenByToken) {
  const AttentionConfig a = config_of(GetParam());
  const std::vector<float> x = tokens(9);
  constexpr std::size_t kPrompt = 4;
  for (MlaForm form : {MlaForm::naive, MlaForm::absorbed}) {
    const auto layer = make_mla_attention(a, context(DType::f32), form);
    KvCache cache = layer->make_cache(9, DType::f32);
    std::vector<float> y = poisoned(9 * kHidden);
    layer->forward(x.data(), kPrompt, cache, y.data());
    layer->forward(&x[kPrompt * kHidden], 9 - kPrompt, cache, &y[kPrompt * kHidden]);
    EXPECT_LE(relative_error(y, prefill_then_decode(*layer, DType::f32, x, kPrompt)), kFp32Tolerance);
  }
}

// bf16 caches (and bf16 weights, the same in every run here) stay within bf16 rounding of the
// fp32-cache result, in both forms, in prefill and decode.
TEST_P(MlaLayer, Bf16CachesMatchFp32Cache) {
  const AttentionConfig a = config_of(GetParam());
  const auto naive = make_mla_attention(a, context(DType::bf16), MlaForm::naive);
  const auto absorbed = make_mla_attention(a, context(DType::bf16), MlaForm::absorbed);
  const std::vector<float> x = tokens(12);
  constexpr std::size_t kPrompt = 9;
  const std::vector<float> want = prefill_then_decode(*naive, DType::f32, x, kPrompt);
  EXPECT_LE(relative_error(prefill_then_decode(*absorbed, DType::f32, x, kPrompt), want), kFp32Tolerance);
  EXPECT_LE(relative_error(prefill_then_decode(*naive, DType::bf16, x, kPrompt), want), kBf16Tolerance);
  EXPECT_LE(relative_error(prefill_then_decode(*absorbed, DType::bf16, x, kPrompt), want), kBf16Tolerance);
}

TEST_P(MlaLayer, CacheBytesPerToken) {
  const LayerCase c = GetParam();
  constexpr std::size_t kCapacity = 7;
  for (DType dtype : {DType::f32, DType::bf16}) {
    const auto naive = make_mla_attention(config_of(c), context(DType::f32), MlaForm::naive);
    const auto absorbed = make_mla_attention(config_of(c), context(DType::f32), MlaForm::absorbed);
    const KvCache naive_cache = naive->make_cache(kCapacity, dtype);
    const KvCache absorbed_cache = absorbed->make_cache(kCapacity, dtype);
    const auto per_head = static_cast<std::size_t>(c.qk_nope_head_dim + c.qk_rope_head_dim + c.v_head_dim);
    EXPECT_EQ(naive_cache.bytes_per_token(), static_cast<std::size_t>(c.n_heads) * per_head * size_of(dtype));
    EXPECT_EQ(absorbed_cache.bytes_per_token(),
              static_cast<std::size_t>(c.kv_lora_rank + c.qk_rope_head_dim) * size_of(dtype));
    EXPECT_EQ(naive_cache.allocated_bytes(), naive_cache.bytes_per_token() * kCapacity);
    EXPECT_EQ(absorbed_cache.allocated_bytes(), absorbed_cache.bytes_per_token() * kCapacity);
    EXPECT_EQ(absorbed_cache.size(), 0u);
  }
}

// Every matrix and norm gamma, at the weights' dtype; the same in both forms.
TEST_P(MlaLayer, WeightBytes) {
  const LayerCase c = GetParam();
  const std::size_t d = kHidden, H = c.n_heads, nope = c.qk_nope_head_dim, rope = c.qk_rope_head_dim,
                    v = c.v_head_dim, R = c.kv_lora_rank, q_lora = c.q_lora_rank;
  const std::size_t query =
      q_lora > 0 ? q_lora * d + q_lora + H * (nope + rope) * q_lora : H * (nope + rope) * d;
  const std::size_t key_value = R * d + R + rope * d + H * nope * R + H * v * R;
  const std::size_t params = query + key_value + d * H * v;
  for (DType dtype : {DType::f32, DType::bf16}) {
    for (MlaForm form : {MlaForm::naive, MlaForm::absorbed})
      EXPECT_EQ(make_mla_attention(config_of(c), context(dtype), form)->weight_bytes(),
                params * size_of(dtype));
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, MlaLayer,
                         ::testing::Values(LayerCase{3, 13, 6, 4, 5, 0}, LayerCase{5, 24, 6, 6, 7, 11},
                                           LayerCase{3, 24, 6, 6, 7, 0}, LayerCase{5, 13, 6, 4, 5, 11}),
                         layer_case_name);

TEST(MlaLayerCache, RefusesAnotherLayoutAndOverflowBeforeWriting) {
  const AttentionConfig a = config_of({3, 13, 6, 4, 5, 11});
  const auto naive = make_mla_attention(a, context(DType::f32), MlaForm::naive);
  const auto absorbed = make_mla_attention(a, context(DType::f32), MlaForm::absorbed);
  const std::vector<float> x = tokens(4);
  std::vector<float> y = poisoned(4 * kHidden);

  KvCache naive_cache = naive->make_cache(4, DType::f32);
  EXPECT_THROW(absorbed->forward(x.data(), 1, naive_cache, y.data()), std::invalid_argument);
  EXPECT_EQ(naive_cache.size(), 0u);

  KvCache small = absorbed->make_cache(3, DType::f32);
  EXPECT_THROW(absorbed->forward(x.data(), 4, small, y.data()), std::length_error);
  EXPECT_EQ(small.size(), 0u);
  absorbed->forward(x.data(), 3, small, y.data());
  EXPECT_THROW(absorbed->forward(&x[3 * kHidden], 1, small, y.data()), std::length_error);
  EXPECT_EQ(small.size(), 3u);
}

}  // namespace
}  // namespace infercost
