// Multi-head latent attention (DeepSeek-V2 §2.1; docs/design.md, "Multi-head latent attention") in
// both forms. As in DeepSeek's reference inference/model.py (attn_impl "naive" | "absorb"), one
// class behind a switch: the form picks the cache layout and the attention path; the weights, named
// alike, are the same.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <initializer_list>
#include <span>
#include <string_view>
#include <vector>

#include "infercost/kernels.hpp"
#include "infercost/ops/attention.hpp"
#include "infercost/ops/gemm.hpp"
#include "infercost/ops/mla.hpp"
#include "infercost/ops/norm_rope.hpp"
#include "layers/layer_factories.hpp"

namespace infercost {

namespace {

// Both layouts have two streams, in this order: naive "k", "v"; absorbed "latent", "k_rope".
constexpr std::size_t kFirstStream = 0;
constexpr std::size_t kSecondStream = 1;

// A random weight [rows, cols] from the named sub-stream of the layer's seed.
Matrix weight(std::size_t rows, std::size_t cols, const LayerContext& ctx, std::string_view name) {
  return random_matrix(rows, cols, ctx.weight_dtype, ctx.seed, name);
}

// A norm's gain, stored like the other weights (the public checkpoints keep norms in bf16 too),
// so weight_bytes() counts it at the weights' dtype.
Matrix gain(std::size_t n, const LayerContext& ctx, std::string_view name) {
  return random_gain(n, ctx.weight_dtype, ctx.seed, name);
}

std::vector<float> row_as_f32(const Matrix& m) {
  std::vector<float> row(m.cols());
  for (std::size_t i = 0; i < m.cols(); ++i) row[i] = m.at(0, i);
  return row;
}

// What both forms compute from the T new tokens before touching the cache.
struct Projections {
  std::vector<float> q_nope;  // [T, n_h, qk_nope]: q_C
  std::vector<float> q_rope;  // [T, n_h, qk_rope]: q_R, RoPE applied
  std::vector<float> latent;  // [T, kv_lora_rank]: c_KV, normalised
  std::vector<float> k_rope;  // [T, qk_rope]: k_R shared by all heads, RoPE applied
};

class MlaAttention final : public Attention {
 public:
  MlaAttention(const AttentionConfig& a, const LayerContext& ctx, MlaForm form)
      : n_heads_(static_cast<std::size_t>(a.n_heads)),
        q_lora_(static_cast<std::size_t>(a.q_lora_rank)),
        kv_lora_(static_cast<std::size_t>(a.kv_lora_rank)),
        nope_(static_cast<std::size_t>(a.qk_nope_head_dim)),
        rope_(static_cast<std::size_t>(a.qk_rope_head_dim)),
        v_dim_(static_cast<std::size_t>(a.v_head_dim)),
        hidden_(static_cast<std::size_t>(ctx.hidden_size)),
        form_(form),
        rope_theta_(ctx.rope_theta),
        eps_(ctx.rms_norm_eps),
        w_dq_(q_lora_ > 0 ? weight(q_lora_, hidden_, ctx, "w_dq") : Matrix()),
        q_norm_(q_lora_ > 0 ? gain(q_lora_, ctx, "q_norm") : Matrix()),
        w_uq_(weight(n_heads_ * nope_, q_in(), ctx, q_lora_ > 0 ? "w_uq" : "w_q")),
        w_qr_(weight(n_heads_ * rope_, q_in(), ctx, "w_qr")),
        w_dkv_(weight(kv_lora_, hidden_, ctx, "w_dkv")),
        kv_norm_(gain(kv_lora_, ctx, "kv_norm")),
        w_kr_(weight(rope_, hidden_, ctx, "w_kr")),
        w_uk_(weight(n_heads_ * nope_, kv_lora_, ctx, "w_uk")),
        w_uv_(weight(o_width(), kv_lora_, ctx, "w_uv")),
        w_o_(weight(hidden_, o_width(), ctx, "w_o")) {
    if (form_ == MlaForm::absorbed) split_per_head();
  }

  // x, y: [T, hidden]; the T new tokens take positions cache.size() .. cache.size() + T - 1.
  // An empty cache means prefill; otherwise each token decodes against the cache up to itself.
  void forward(const float* x, std::size_t T, KvCache& cache, float* y) const override {
    cache.check(cache_layout(), T);
    std::vector<int> positions(T);
    for (std::size_t t = 0; t < T; ++t) positions[t] = static_cast<int>(cache.size() + t);
    const Projections p = project(x, T, positions.data());
    std::vector<float> o(T * o_width());
    if (form_ == MlaForm::naive)
      attend_naive(p, T, cache, o.data());
    else
      attend_absorbed(p, T, cache, o.data());
    kernels::gemm(o.data(), T, w_o_, y);
  }

  // B sequences, one new token each: every projection (and in the naive form the decompression, in
  // the absorbed one the query absorption and output expansion) runs once over the B rows, so each
  // weight is read once per step; RoPE at each sequence's own position; the attention core per
  // sequence against its own cache. x, y: [B, hidden].
  void decode(const float* x, std::span<KvCache* const> caches, float* y) const override {
    const std::size_t B = caches.size();
    for (const KvCache* cache : caches) cache->check(cache_layout(), 1);  // all refused before any changes
    std::vector<int> positions(B);
    for (std::size_t b = 0; b < B; ++b) positions[b] = static_cast<int>(caches[b]->size());
    const Projections p = project(x, B, positions.data());
    std::vector<float> o(B * o_width());
    if (form_ == MlaForm::naive)
      decode_naive(p, caches, o.data());
    else
      decode_absorbed(p, caches, o.data());
    kernels::gemm(o.data(), B, w_o_, y);
  }

  KvCache make_cache(std::size_t capacity, DType cache_dtype) const override {
    return KvCache(cache_layout(), cache_dtype, capacity);
  }

  std::size_t hidden_size() const override { return hidden_; }

  std::size_t weight_bytes() const override {
    std::size_t bytes = 0;
    for (const Matrix* w :
         {&w_dq_, &q_norm_, &w_uq_, &w_qr_, &w_dkv_, &kv_norm_, &w_kr_, &w_uk_, &w_uv_, &w_o_})
      bytes += w->bytes();
    for (const std::vector<Matrix>* heads : {&w_uk_t_, &w_uv_h_})
      for (const Matrix& w : *heads) bytes += w.bytes();
    return bytes;
  }

 private:
  std::size_t q_in() const { return q_lora_ > 0 ? q_lora_ : hidden_; }  // input width of W_UQ / W_Q, W_QR
  std::size_t qk_dim() const { return nope_ + rope_; }
  std::size_t o_width() const { return n_heads_ * v_dim_; }
  float scale() const { return static_cast<float>(1.0 / std::sqrt(static_cast<double>(qk_dim()))); }

  // Per token: naive k [n_h, nope + rope] and v [n_h, v], as large as MHA's cache;
  // absorbed c_KV [kv_lora_rank] and k_R [qk_rope] only.
  std::vector<KvStream> cache_layout() const {
    if (form_ == MlaForm::naive) return {{"k", n_heads_ * qk_dim()}, {"v", o_width()}};
    return {{"latent", kv_lora_}, {"k_rope", rope_}};
  }

  // The query (q_C, q_R) and the compressed key/value (c_KV, k_R) of T tokens at positions[t].
  // x: [T, hidden].
  Projections project(const float* x, std::size_t T, const int* positions) const {
    Projections p{std::vector<float>(T * n_heads_ * nope_), std::vector<float>(T * n_heads_ * rope_),
                  std::vector<float>(T * kv_lora_), std::vector<float>(T * rope_)};
    if (q_lora_ > 0) {
      std::vector<float> c_q(T * q_lora_);
      kernels::gemm(x, T, w_dq_, c_q.data());
      kernels::rmsnorm(c_q.data(), T, q_lora_, row_as_f32(q_norm_).data(), eps_, c_q.data());
      kernels::gemm(c_q.data(), T, w_uq_, p.q_nope.data());
      kernels::gemm(c_q.data(), T, w_qr_, p.q_rope.data());
    } else {
      kernels::gemm(x, T, w_uq_, p.q_nope.data());
      kernels::gemm(x, T, w_qr_, p.q_rope.data());
    }
    kernels::gemm(x, T, w_dkv_, p.latent.data());
    kernels::rmsnorm(p.latent.data(), T, kv_lora_, row_as_f32(kv_norm_).data(), eps_, p.latent.data());
    kernels::gemm(x, T, w_kr_, p.k_rope.data());
    apply_rope(p, T, positions);
    return p;
  }

  // RoPE on q_R (per head) and on the shared k_R over all qk_rope dims, pairing (2i, 2i+1) as
  // DeepSeek's reference inference/model.py does (view_as_complex).
  void apply_rope(Projections& p, std::size_t T, const int* positions) const {
    kernels::rope(p.q_rope.data(), T, n_heads_ * rope_, n_heads_, rope_, rope_, positions, rope_theta_,
                  RopePairing::interleaved);
    kernels::rope(p.k_rope.data(), T, rope_, 1, rope_, rope_, positions, rope_theta_, RopePairing::interleaved);
  }

  // Naive form: decompress k_C = W_UK c_KV and v = W_UV c_KV per head, cache k = [k_C,i | k_R] and v,
  // then ordinary attention with qk_dim = nope + rope, v_dim = v_head_dim. o: [T, n_h, v].
  void attend_naive(const Projections& p, std::size_t T, KvCache& cache, float* o) const {
    const std::size_t pos0 = cache.size(), k_width = n_heads_ * qk_dim();
    std::vector<float> q(T * k_width), k(T * k_width), v(T * o_width());
    decompress(p, T, q.data(), k.data(), v.data());
    cache.append({k.data(), v.data()}, T);
    if (pos0 == 0) {
      // Prefill attends to k and v as the cache holds them (rounded in a bf16/fp8 cache, as decode
      // will later read them), without reading them back from it.
      round_as_cached(k, cache.dtype());
      round_as_cached(v, cache.dtype());
      kernels::attention_prefill(q.data(), k.data(), v.data(), T, naive_shape(), o);
      return;
    }
    for (std::size_t t = 0; t < T; ++t)
      kernels::attention_decode(&q[t * k_width], cache.storage(kFirstStream), cache.storage(kSecondStream),
                                pos0 + t + 1, naive_shape(), o + t * o_width());
  }

  // The naive form's decode step: decompression over the B rows at once, attention per sequence.
  void decode_naive(const Projections& p, std::span<KvCache* const> caches, float* o) const {
    const std::size_t B = caches.size(), k_width = n_heads_ * qk_dim();
    std::vector<float> q(B * k_width), k(B * k_width), v(B * o_width());
    decompress(p, B, q.data(), k.data(), v.data());
    for (std::size_t b = 0; b < B; ++b) {
      KvCache& cache = *caches[b];
      cache.append({&k[b * k_width], &v[b * o_width()]}, 1);
      kernels::attention_decode(&q[b * k_width], cache.storage(kFirstStream), cache.storage(kSecondStream),
                                cache.size(), naive_shape(), o + b * o_width());
    }
  }

  // The naive form's per-head query q = [q_C,i | q_R,i], key k = [k_C,i | k_R] and value v of T rows.
  // q, k: [T, n_h, nope + rope]; v: [T, n_h, v].
  void decompress(const Projections& p, std::size_t T, float* q, float* k, float* v) const {
    std::vector<float> k_nope(T * n_heads_ * nope_);
    kernels::gemm(p.latent.data(), T, w_uk_, k_nope.data());
    kernels::gemm(p.latent.data(), T, w_uv_, v);
    for (std::size_t t = 0; t < T; ++t) {
      for (std::size_t h = 0; h < n_heads_; ++h) {
        const std::size_t th = t * n_heads_ + h;
        concat(&p.q_nope[th * nope_], &p.q_rope[th * rope_], &q[th * qk_dim()]);
        concat(&k_nope[th * nope_], &p.k_rope[t * rope_], &k[th * qk_dim()]);
      }
    }
  }

  AttentionShape naive_shape() const { return {n_heads_, n_heads_, qk_dim(), v_dim_, scale()}; }

  // The values as a cache of `dtype` stores them (what KvCache::append keeps).
  static void round_as_cached(std::vector<float>& values, DType dtype) {
    if (dtype == DType::f32) return;
    for (float& value : values) value = round_to(dtype, value);
  }

  // [nope] then [rope] -> [nope + rope]: one head's query or key.
  void concat(const float* nope, const float* rope, float* out) const {
    for (std::size_t i = 0; i < nope_; ++i) out[i] = nope[i];
    for (std::size_t i = 0; i < rope_; ++i) out[nope_ + i] = rope[i];
  }

  // Absorbed form: cache (c_KV, k_R) only; score q~_i = W_UK,iᵀ q_C,i against the latent rows, then
  // apply W_UV,i to the latent output. o: [T, n_h, v].
  void attend_absorbed(const Projections& p, std::size_t T, KvCache& cache, float* o) const {
    const std::size_t pos0 = cache.size(), latent_row = n_heads_ * kv_lora_;
    cache.append({p.latent.data(), p.k_rope.data()}, T);
    std::vector<float> q_latent(T * latent_row), o_latent(T * latent_row);
    absorb_query(p.q_nope.data(), T, q_latent.data());
    const MlaShape shape{n_heads_, kv_lora_, rope_, scale()};
    const Matrix& latent = cache.storage(kFirstStream);
    const Matrix& k_rope = cache.storage(kSecondStream);
    if (pos0 == 0) {
      kernels::mla_prefill(q_latent.data(), p.q_rope.data(), latent, k_rope, T, shape,
                                      o_latent.data());
    } else {
      for (std::size_t t = 0; t < T; ++t)
        kernels::mla_decode(&q_latent[t * latent_row], &p.q_rope[t * n_heads_ * rope_], latent,
                                       k_rope, pos0 + t + 1, shape, &o_latent[t * latent_row]);
    }
    expand_output(o_latent.data(), T, o);
  }

  // The absorbed form's decode step: absorption and expansion over the B rows at once, attention
  // per sequence against its latent cache.
  void decode_absorbed(const Projections& p, std::span<KvCache* const> caches, float* o) const {
    const std::size_t B = caches.size(), latent_row = n_heads_ * kv_lora_;
    std::vector<float> q_latent(B * latent_row), o_latent(B * latent_row);
    absorb_query(p.q_nope.data(), B, q_latent.data());
    const MlaShape shape{n_heads_, kv_lora_, rope_, scale()};
    for (std::size_t b = 0; b < B; ++b) {
      KvCache& cache = *caches[b];
      cache.append({&p.latent[b * kv_lora_], &p.k_rope[b * rope_]}, 1);
      kernels::mla_decode(&q_latent[b * latent_row], &p.q_rope[b * n_heads_ * rope_], cache.storage(kFirstStream),
                          cache.storage(kSecondStream), cache.size(), shape, &o_latent[b * latent_row]);
    }
    expand_output(o_latent.data(), B, o);
  }

  // The absorbed form applies W_UK and W_UV head by head, so it stores them per head in the layout
  // gemm takes (y = x Wᵀ): W_UK,iᵀ [kv_lora, nope] and W_UV,i [v, kv_lora]. The values are those of
  // the "w_uk" / "w_uv" matrices (same seed, same rounding); the whole ones are then released, so the
  // layer holds each weight once.
  void split_per_head() {
    for (std::size_t h = 0; h < n_heads_; ++h) {
      Matrix uk_t(kv_lora_, nope_, w_uk_.dtype()), uv(v_dim_, kv_lora_, w_uv_.dtype());
      for (std::size_t i = 0; i < nope_; ++i)
        for (std::size_t c = 0; c < kv_lora_; ++c) uk_t.set(c, i, w_uk_.at(h * nope_ + i, c));
      for (std::size_t d = 0; d < v_dim_; ++d)
        for (std::size_t c = 0; c < kv_lora_; ++c) uv.set(d, c, w_uv_.at(h * v_dim_ + d, c));
      w_uk_t_.push_back(std::move(uk_t));
      w_uv_h_.push_back(std::move(uv));
    }
    w_uk_ = Matrix();
    w_uv_ = Matrix();
  }

  // Per head i, y[t, i, :] = x[t, i, :] W_iᵀ through the dispatched gemm: the head's columns are
  // gathered into a contiguous [T, in] block and the [T, out] result scattered back.
  // x: [T, n_h, in], y: [T, n_h, out], W_i: [out, in].
  void per_head_gemm(const float* x, std::size_t T, const std::vector<Matrix>& w, float* y) const {
    const std::size_t in = w.front().cols(), out = w.front().rows();
    std::vector<float> x_h(T * in), y_h(T * out);
    for (std::size_t h = 0; h < n_heads_; ++h) {
      for (std::size_t t = 0; t < T; ++t)
        std::copy_n(x + (t * n_heads_ + h) * in, in, x_h.begin() + static_cast<std::ptrdiff_t>(t * in));
      kernels::gemm(x_h.data(), T, w[h], y_h.data());
      for (std::size_t t = 0; t < T; ++t)
        std::copy_n(y_h.begin() + static_cast<std::ptrdiff_t>(t * out), out, y + (t * n_heads_ + h) * out);
    }
  }

  // q~_i = W_UK,iᵀ q_C,i, so q~_i · c_KV = q_C,i · (W_UK,i c_KV) = q_C,i · k_C,i.
  // q_nope: [T, n_h, nope]; q_latent: [T, n_h, kv_lora].
  void absorb_query(const float* q_nope, std::size_t T, float* q_latent) const {
    per_head_gemm(q_nope, T, w_uk_t_, q_latent);
  }

  // o_i = W_UV,i o~_i = Σ_j p_ij W_UV,i c_KV,j = Σ_j p_ij v_i,j.
  // o_latent: [T, n_h, kv_lora]; o: [T, n_h, v].
  void expand_output(const float* o_latent, std::size_t T, float* o) const {
    per_head_gemm(o_latent, T, w_uv_h_, o);
  }

  std::size_t n_heads_, q_lora_, kv_lora_, nope_, rope_, v_dim_, hidden_;
  MlaForm form_;
  double rope_theta_, eps_;
  Matrix w_dq_;    // [q_lora, d]; empty without query compression
  Matrix q_norm_;  // [1, q_lora] gamma; empty without query compression
  Matrix w_uq_;    // W_UQ [n_h·nope, q_lora], or W_Q [n_h·nope, d] without query compression
  Matrix w_qr_;    // [n_h·rope, q_lora or d]
  Matrix w_dkv_;   // [kv_lora, d]
  Matrix kv_norm_; // [1, kv_lora] gamma
  Matrix w_kr_;    // [rope, d]
  Matrix w_uk_;    // [n_h·nope, kv_lora]; naive form only, like w_uv_
  Matrix w_uv_;    // [n_h·v, kv_lora]
  // Absorbed form only, instead of w_uk_ / w_uv_ (split_per_head): per head W_UK,iᵀ, W_UV,i.
  std::vector<Matrix> w_uk_t_, w_uv_h_;
  Matrix w_o_;     // [d, n_h·v]
};

}  // namespace

std::unique_ptr<Attention> make_mla_attention(const AttentionConfig& attention, const LayerContext& ctx,
                                              MlaForm form) {
  return std::make_unique<MlaAttention>(attention, ctx, form);
}

}  // namespace infercost
