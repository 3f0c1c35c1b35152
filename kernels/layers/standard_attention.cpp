// MHA / GQA / MQA attention (docs/design.md, "Baseline attention"): one class for all three, which
// differ only in n_kv_heads.
#include <cmath>
#include <span>
#include <vector>

#include "infercost/kernels.hpp"
#include "infercost/ops/attention.hpp"
#include "infercost/ops/gemm.hpp"
#include "infercost/ops/norm_rope.hpp"
#include "layers/layer_factories.hpp"

namespace infercost {

namespace {

// Cache stream indices, in the order make_cache lays them out.
constexpr std::size_t kKeyStream = 0;
constexpr std::size_t kValueStream = 1;

// qkv_bias (Qwen2) is ignored: it only matters to the cost model, which counts its parameters and
// adds; the layer computes the bias-free function, which is all the tests and timings need.
class StandardAttention final : public Attention {
 public:
  StandardAttention(const AttentionConfig& attention, const LayerContext& ctx)
      : n_heads_(static_cast<std::size_t>(attention.n_heads)),
        n_kv_heads_(static_cast<std::size_t>(attention.n_kv_heads)),
        head_dim_(static_cast<std::size_t>(attention.head_dim)),
        hidden_(static_cast<std::size_t>(ctx.hidden_size)),
        rope_theta_(ctx.rope_theta),
        wq_(random_matrix(q_width(), hidden_, ctx.weight_dtype, ctx.seed, "wq")),
        wk_(random_matrix(kv_width(), hidden_, ctx.weight_dtype, ctx.seed, "wk")),
        wv_(random_matrix(kv_width(), hidden_, ctx.weight_dtype, ctx.seed, "wv")),
        wo_(random_matrix(hidden_, q_width(), ctx.weight_dtype, ctx.seed, "wo")) {}

  // x, y: [T, hidden]; the T new tokens take positions cache.size() .. cache.size() + T - 1.
  void forward(const float* x, std::size_t T, KvCache& cache, float* y) const override {
    cache.check(layout(), T);
    const std::size_t pos0 = cache.size();
    std::vector<float> q(T * q_width()), k(T * kv_width()), v(T * kv_width());
    std::vector<int> positions(T);
    for (std::size_t t = 0; t < T; ++t) positions[t] = static_cast<int>(pos0 + t);
    project(x, T, positions.data(), q.data(), k.data(), v.data());
    cache.append({k.data(), v.data()}, T);
    std::vector<float> o(T * q_width());
    if (pos0 == 0) {
      // Prefill attends to k and v as the cache holds them (rounded in a bf16/fp8 cache, as decode
      // will later read them), without reading them back from it.
      round_as_cached(k, cache.dtype());
      round_as_cached(v, cache.dtype());
      kernels::attention_prefill(q.data(), k.data(), v.data(), T, shape(), o.data());
    } else {
      // Token pos0 + t attends to cache rows 0 .. pos0 + t (itself included, later tokens not).
      for (std::size_t t = 0; t < T; ++t)
        kernels::attention_decode(q.data() + t * q_width(), cache.storage(kKeyStream),
                                    cache.storage(kValueStream), pos0 + t + 1, shape(),
                                    o.data() + t * q_width());
    }
    kernels::gemm(o.data(), T, wo_, y);
  }

  // B sequences, one new token each: the projections and the output projection run as one GEMM over
  // the B rows (each weight read once per step), RoPE at each sequence's own position, the attention
  // core per sequence against its own cache. x, y: [B, hidden].
  void decode(const float* x, std::span<KvCache* const> caches, float* y) const override {
    const std::size_t B = caches.size();
    for (const KvCache* cache : caches) cache->check(layout(), 1);  // all refused before any changes
    std::vector<float> q(B * q_width()), k(B * kv_width()), v(B * kv_width()), o(B * q_width());
    std::vector<int> positions(B);
    for (std::size_t b = 0; b < B; ++b) positions[b] = static_cast<int>(caches[b]->size());
    project(x, B, positions.data(), q.data(), k.data(), v.data());
    for (std::size_t b = 0; b < B; ++b) {
      KvCache& cache = *caches[b];
      cache.append({k.data() + b * kv_width(), v.data() + b * kv_width()}, 1);
      kernels::attention_decode(q.data() + b * q_width(), cache.storage(kKeyStream), cache.storage(kValueStream),
                                cache.size(), shape(), o.data() + b * q_width());
    }
    kernels::gemm(o.data(), B, wo_, y);
  }

  KvCache make_cache(std::size_t capacity, DType cache_dtype) const override {
    return KvCache(layout(), cache_dtype, capacity);
  }

  std::size_t hidden_size() const override { return hidden_; }

  std::size_t weight_bytes() const override {
    return wq_.bytes() + wk_.bytes() + wv_.bytes() + wo_.bytes();
  }

 private:
  std::size_t q_width() const { return n_heads_ * head_dim_; }
  std::size_t kv_width() const { return n_kv_heads_ * head_dim_; }

  AttentionShape shape() const {
    const auto scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim_)));
    return {n_heads_, n_kv_heads_, head_dim_, head_dim_, scale};
  }

  // Per token: k and v of every key/value head.
  std::vector<KvStream> layout() const { return {{"k", kv_width()}, {"v", kv_width()}}; }

  // q, k, v of M rows, RoPE applied at positions[m]. x: [M, hidden]; q: [M, n_heads * d_h];
  // k, v: [M, n_kv_heads * d_h].
  void project(const float* x, std::size_t M, const int* positions, float* q, float* k, float* v) const {
    kernels::gemm(x, M, wq_, q);
    kernels::gemm(x, M, wk_, k);
    kernels::gemm(x, M, wv_, v);
    apply_rope(q, k, M, positions);
  }

  // RoPE over the full head_dim of q and k, pairing (i, i + d_h/2) as Llama does in HuggingFace
  // transformers (rotate_half). q: [M, n_heads * d_h], k: [M, n_kv_heads * d_h].
  void apply_rope(float* q, float* k, std::size_t M, const int* positions) const {
    kernels::rope(q, M, q_width(), n_heads_, head_dim_, head_dim_, positions, rope_theta_, RopePairing::halves);
    kernels::rope(k, M, kv_width(), n_kv_heads_, head_dim_, head_dim_, positions, rope_theta_,
                  RopePairing::halves);
  }

  // The values as a cache of `dtype` stores them (what KvCache::append keeps).
  static void round_as_cached(std::vector<float>& values, DType dtype) {
    if (dtype == DType::f32) return;
    for (float& value : values) value = round_to(dtype, value);
  }

  std::size_t n_heads_, n_kv_heads_, head_dim_, hidden_;
  double rope_theta_;
  Matrix wq_, wk_, wv_, wo_;  // [n_h·d_h, d], [n_kv·d_h, d], [n_kv·d_h, d], [d, n_h·d_h]
};

}  // namespace

std::unique_ptr<Attention> make_standard_attention(const AttentionConfig& attention,
                                                   const LayerContext& ctx) {
  return std::make_unique<StandardAttention>(attention, ctx);
}

}  // namespace infercost
