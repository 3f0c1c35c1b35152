// The layers a transformer block is composed of, built from a config with seeded random weights.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "infercost/config.hpp"
#include "infercost/kv_cache.hpp"

namespace infercost {

// Everything a layer needs besides its own config: the model width, the weights' storage type
// and the seed of its random weights.
struct LayerContext {
  int hidden_size = 0;
  DType weight_dtype = DType::f32;
  std::uint64_t seed = 0;
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-6;
};

class Attention {
 public:
  virtual ~Attention() = default;
  // Processes T new tokens at positions cache.size() .. cache.size()+T-1: appends their cache
  // rows, and writes for each the causal attention over every cached token up to itself,
  // through the output projection. x, y: [T, hidden_size], x already normalised.
  // Prefill is forward() on an empty cache; decode is forward() with T = 1. A cache of another
  // layout (std::invalid_argument) or without room for T more tokens (std::length_error) is
  // refused before anything changes (KvCache::check).
  virtual void forward(const float* x, std::size_t T, KvCache& cache, float* y) const = 0;
  // One decode step for a batch of B = caches.size() sequences: token b, x[b], goes to the end of
  // *caches[b]. x, y: [B, hidden_size]. Same result as forward() with T = 1 on each sequence; a
  // layer overrides it to read its weights once for the whole batch.
  virtual void decode(const float* x, std::span<KvCache* const> caches, float* y) const;
  // An empty cache of this layer's layout with room for `capacity` tokens.
  virtual KvCache make_cache(std::size_t capacity, DType cache_dtype) const = 0;
  virtual std::size_t weight_bytes() const = 0;
  virtual std::size_t hidden_size() const = 0;
};

// MHA/GQA/MQA or MLA (in the given form), from attention.kind. Throws ConfigError, before
// allocating, on an invalid `attention` or a hidden_size < 1.
std::unique_ptr<Attention> make_attention(const AttentionConfig& attention, const LayerContext& ctx,
                                          MlaForm form = MlaForm::absorbed);

class FeedForward {
 public:
  virtual ~FeedForward() = default;
  // x, y: [T, hidden_size], x already normalised. y is the FFN output (the block adds the residual).
  virtual void forward(const float* x, std::size_t T, float* y) const = 0;
  virtual std::size_t weight_bytes() const = 0;
};

std::unique_ptr<FeedForward> make_dense_ffn(int intermediate_size, const LayerContext& ctx);
std::unique_ptr<FeedForward> make_moe_ffn(const MoeConfig& moe, const LayerContext& ctx);

}  // namespace infercost

namespace infercost {

// One pre-norm transformer block: h = x + Attn(RMSNorm(x)), y = h + FFN(RMSNorm(h)).
// Any attention pairs with any feed-forward.
class Block {
 public:
  Block(std::unique_ptr<Attention> attention, std::unique_ptr<FeedForward> ffn, const LayerContext& ctx);

  // x, y: [T, hidden_size], the residual stream before and after the block; the T tokens are
  // at positions cache.size() .. cache.size()+T-1 (prefill on an empty cache, decode with T = 1).
  void forward(const float* x, std::size_t T, KvCache& cache, float* y) const;
  // One decode step for B = caches.size() sequences (Attention::decode): x, y: [B, hidden_size].
  void decode(const float* x, std::span<KvCache* const> caches, float* y) const;
  KvCache make_cache(std::size_t capacity, DType cache_dtype) const {
    return attention_->make_cache(capacity, cache_dtype);
  }
  std::size_t weight_bytes() const;
  const Attention& attention() const { return *attention_; }
  const FeedForward& ffn() const { return *ffn_; }
  // The RMSNorm gains before attention and before the FFN, [hidden_size]: drawn uniform in 1 ± 0.25
  // (sub-streams "attn_norm", "ffn_norm" of the context's seed) so that a norm ignoring them shows.
  std::span<const float> attn_norm() const { return {attn_norm_.f32(), attn_norm_.cols()}; }
  std::span<const float> ffn_norm() const { return {ffn_norm_.f32(), ffn_norm_.cols()}; }

 private:
  std::unique_ptr<Attention> attention_;
  std::unique_ptr<FeedForward> ffn_;
  int hidden_size_;
  double eps_;
  Matrix attn_norm_, ffn_norm_;  // RMSNorm gains, [1, hidden_size], fp32
};

// Layer `layer` of `model`: its attention, and the dense or MoE FFN the model has there, with
// weights from the sub-streams of `seed` named after the layer.
Block make_block(const ModelConfig& model, int layer, DType weight_dtype, std::uint64_t seed,
                 MlaForm form = MlaForm::absorbed);

}  // namespace infercost
