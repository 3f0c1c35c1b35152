// Whole blocks: decode after prefill equals prefill, for every attention × FFN pairing; MLA's two
// forms give the same block; the cache a block allocates is what its layout says.
#include <string>
#include <vector>

#include "infercost/kernels.hpp"
#include "infercost/layers.hpp"
#include "infercost/ops/norm_rope.hpp"
#include "support/compare.hpp"

namespace infercost {
namespace {

using testing::poisoned;
using testing::random_vector;
using testing::relative_error;

constexpr std::uint64_t kSeed = 7;

// The tiny preset, or its GQA twin (same width and FFNs) when `gqa` is set.
ModelConfig tiny(bool gqa) {
  return *find_preset(gqa ? "tiny-gqa" : "tiny");
}

struct BlockCase {
  std::string name;
  bool gqa;
  int layer;  // tiny: layer 0 is dense, layer 1 is MoE
  MlaForm form;
  DType weights;
  DType cache;
};

class BlockDecode : public ::testing::TestWithParam<BlockCase> {};

// Prefill of t tokens in one call, then again as a prefill of t-1 tokens and a decode of the
// last: the last rows must agree.
TEST_P(BlockDecode, DecodeAfterPrefillEqualsPrefillRow) {
  const BlockCase& p = GetParam();
  const ModelConfig model = tiny(p.gqa);
  const Block block = make_block(model, p.layer, p.weights, kSeed, p.form);
  const std::size_t d = static_cast<std::size_t>(model.hidden_size);
  for (std::size_t t : {1u, 2u, 17u}) {
    const auto x = random_vector(t * d, kSeed + t, "x");
    KvCache full_cache = block.make_cache(t, p.cache);
    auto full = poisoned(t * d);
    block.forward(x.data(), t, full_cache, full.data());

    KvCache cache = block.make_cache(t, p.cache);
    auto head = poisoned((t - 1) * d), last = poisoned(d);
    if (t > 1) block.forward(x.data(), t - 1, cache, head.data());
    block.forward(x.data() + (t - 1) * d, 1, cache, last.data());
    EXPECT_EQ(cache.size(), t);
    // The two runs reach each cache entry through different kernels (a gemm of 16 rows takes the
    // skinny path, of 17 the blocked one), so their fp32 keys and values differ in the last bits,
    // and a bf16 cache can round such a pair to neighbouring values, 2^-8 apart: seen at 1.4e-4
    // when the ASan build ran at -O1.
    const double tolerance = p.cache == DType::bf16 ? 1e-3 : 1e-5;
    EXPECT_LE(relative_error(last.data(), full.data() + (t - 1) * d, d), tolerance) << "t = " << t;
    if (t > 1) {
      EXPECT_LE(relative_error(head.data(), full.data(), (t - 1) * d), tolerance) << "t = " << t;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Pairings, BlockDecode,
    ::testing::Values(BlockCase{"gqa_dense", true, 0, MlaForm::absorbed, DType::f32, DType::f32},
                      BlockCase{"gqa_moe", true, 1, MlaForm::absorbed, DType::f32, DType::f32},
                      BlockCase{"mla_naive_dense", false, 0, MlaForm::naive, DType::f32, DType::f32},
                      BlockCase{"mla_absorbed_moe", false, 1, MlaForm::absorbed, DType::f32, DType::f32},
                      BlockCase{"mla_naive_moe_bf16", false, 1, MlaForm::naive, DType::bf16, DType::bf16},
                      BlockCase{"gqa_moe_bf16", true, 1, MlaForm::absorbed, DType::bf16, DType::bf16}),
    [](const auto& param_info) { return param_info.param.name; });

class BlockBatchDecode : public ::testing::TestWithParam<BlockCase> {};

// Block::decode over B = 3 sequences at different depths (one of them empty) equals forward(T = 1)
// on each sequence alone, for two steps in a row (so the rows the batch appended are the ones a
// sequence's next step attends to).
TEST_P(BlockBatchDecode, EqualsForwardOnEachSequence) {
  const BlockCase& p = GetParam();
  const ModelConfig model = tiny(p.gqa);
  const Block block = make_block(model, p.layer, p.weights, kSeed, p.form);
  const std::size_t d = static_cast<std::size_t>(model.hidden_size);
  const std::size_t depths[] = {5, 0, 17};
  constexpr std::size_t B = 3, kSteps = 2;
  std::vector<KvCache> batch, alone;
  for (std::size_t b = 0; b < B; ++b) {
    batch.push_back(block.make_cache(depths[b] + kSteps, p.cache));
    if (depths[b] > 0) {
      const auto prompt = random_vector(depths[b] * d, kSeed + b, "prompt");
      auto ignored = poisoned(depths[b] * d);
      block.forward(prompt.data(), depths[b], batch[b], ignored.data());
    }
    alone.push_back(batch[b]);
  }
  std::vector<KvCache*> caches;
  for (KvCache& c : batch) caches.push_back(&c);
  // A fast GEMM may round a row differently over 3 rows than over 1 (another blocking); a bf16 cache
  // can turn that last-bit difference into one bf16 step (2^-8) of a cached element, ~1e-4 at the
  // output. Wrong positions, caches or rows give O(1) errors.
  const double tolerance = p.cache == DType::f32 ? 1e-5 : 2e-3;
  for (std::size_t step = 0; step < kSteps; ++step) {
    const auto x = random_vector(B * d, kSeed + 100 + step, "x");
    auto got = poisoned(B * d);
    block.decode(x.data(), caches, got.data());
    for (std::size_t b = 0; b < B; ++b) {
      auto want = poisoned(d);
      block.forward(x.data() + b * d, 1, alone[b], want.data());
      EXPECT_EQ(batch[b].size(), depths[b] + step + 1);
      EXPECT_LE(relative_error(got.data() + b * d, want.data(), d), tolerance)
          << "sequence " << b << " at depth " << depths[b] << ", step " << step;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Pairings, BlockBatchDecode,
    ::testing::Values(BlockCase{"gqa_dense", true, 0, MlaForm::absorbed, DType::f32, DType::f32},
                      BlockCase{"gqa_dense_bf16_cache", true, 0, MlaForm::absorbed, DType::f32, DType::bf16},
                      BlockCase{"mla_naive_moe", false, 1, MlaForm::naive, DType::f32, DType::f32},
                      BlockCase{"mla_naive_moe_bf16_cache", false, 1, MlaForm::naive, DType::f32, DType::bf16},
                      BlockCase{"mla_absorbed_moe", false, 1, MlaForm::absorbed, DType::f32, DType::f32},
                      BlockCase{"mla_absorbed_moe_bf16", false, 1, MlaForm::absorbed, DType::bf16, DType::bf16}),
    [](const auto& param_info) { return param_info.param.name; });

TEST(Block, MlaFormsGiveTheSameBlock) {
  const ModelConfig model = tiny(false);
  const std::size_t d = static_cast<std::size_t>(model.hidden_size), T = 13;
  const auto x = random_vector(T * d, kSeed, "x");
  std::vector<float> outputs[2];
  int i = 0;
  for (MlaForm form : {MlaForm::naive, MlaForm::absorbed}) {
    const Block block = make_block(model, 1, DType::f32, kSeed, form);
    KvCache cache = block.make_cache(T + 1, DType::f32);
    outputs[i] = poisoned((T + 1) * d);
    block.forward(x.data(), T, cache, outputs[i].data());
    const auto next = random_vector(d, kSeed, "next");
    block.forward(next.data(), 1, cache, outputs[i].data() + T * d);
    ++i;
  }
  EXPECT_LE(relative_error(outputs[0], outputs[1]), 1e-5);
}

// h = x + Attn(RMSNorm(x) ⊙ g_attn), y = h + FFN(RMSNorm(h) ⊙ g_ffn), from the block's own layers and
// gains: the order, the pre-norms, which gain goes where and both residuals. The norms are the
// dispatched kernel the block runs (bit-for-bit comparison; the kernel itself is checked against
// the reference in test_ffn_kernels.cpp).
TEST(Block, IsPreNormResidualOfItsLayers) {
  for (bool gqa : {true, false}) {
    const ModelConfig model = tiny(gqa);
    const Block block = make_block(model, 1, DType::f32, kSeed);
    const std::size_t d = static_cast<std::size_t>(model.hidden_size), T = 7;
    const auto x = random_vector(T * d, kSeed, "x");
    KvCache cache = block.make_cache(T, DType::f32);
    auto got = poisoned(T * d);
    block.forward(x.data(), T, cache, got.data());

    std::vector<float> normed(T * d), delta(T * d), want(T * d);
    kernels::rmsnorm(x.data(), T, d, block.attn_norm().data(), model.rms_norm_eps, normed.data());
    KvCache attn_cache = block.attention().make_cache(T, DType::f32);
    block.attention().forward(normed.data(), T, attn_cache, delta.data());
    for (std::size_t i = 0; i < T * d; ++i) want[i] = x[i] + delta[i];
    kernels::rmsnorm(want.data(), T, d, block.ffn_norm().data(), model.rms_norm_eps, normed.data());
    block.ffn().forward(normed.data(), T, delta.data());
    for (std::size_t i = 0; i < T * d; ++i) want[i] += delta[i];
    EXPECT_EQ(got, want) << (gqa ? "gqa" : "mla");
  }
}

TEST(Block, ResidualPathIsKept) {
  // The block adds to its input rather than replacing it: RMSNorm keeps the sub-layers' inputs
  // O(1) whatever |x|, so with x of order 1000 the change y - x must stay O(1).
  const ModelConfig model = tiny(true);
  const Block block = make_block(model, 0, DType::f32, kSeed);
  const std::size_t d = static_cast<std::size_t>(model.hidden_size);
  auto x = random_vector(d, kSeed, "x", 1000.0f);
  KvCache cache = block.make_cache(1, DType::f32);
  auto y = poisoned(d);
  block.forward(x.data(), 1, cache, y.data());
  double max_delta = 0;
  for (std::size_t i = 0; i < d; ++i) max_delta = std::max(max_delta, std::abs(double(y[i]) - x[i]));
  EXPECT_GT(max_delta, 0.0);
  EXPECT_LT(max_delta, 100.0);
}

TEST(Block, CacheBytesFollowTheLayout) {
  for (bool gqa : {true, false}) {
    for (DType dtype : {DType::f32, DType::bf16}) {
      const ModelConfig model = tiny(gqa);
      const Block block = make_block(model, 1, DType::f32, kSeed);
      const std::size_t capacity = 29;
      const KvCache cache = block.make_cache(capacity, dtype);
      const AttentionConfig& a = model.attention;
      const std::size_t elements = gqa ? 2u * a.n_kv_heads * a.head_dim
                                       : static_cast<std::size_t>(a.kv_lora_rank + a.qk_rope_head_dim);
      EXPECT_EQ(cache.bytes_per_token(), elements * size_of(dtype));
      EXPECT_EQ(cache.allocated_bytes(), cache.bytes_per_token() * capacity);
    }
  }
}

TEST(Block, WeightBytesCountEveryMatrix) {
  const ModelConfig model = tiny(true);
  const Block f32 = make_block(model, 0, DType::f32, kSeed);
  const Block bf16 = make_block(model, 0, DType::bf16, kSeed);
  const std::size_t d = static_cast<std::size_t>(model.hidden_size);
  const AttentionConfig& a = model.attention;
  // GQA: q and o are [n_h·d_h, d], k and v [n_kv·d_h, d]; dense FFN: three [inter, d]; two norm gains.
  const std::size_t params = 2 * d * a.n_heads * a.head_dim + 2 * d * a.n_kv_heads * a.head_dim +
                             3 * d * model.intermediate_size;
  EXPECT_EQ(f32.weight_bytes(), 4 * params + 2 * 4 * d);
  EXPECT_EQ(bf16.weight_bytes(), 2 * params + 2 * 4 * d);
}

TEST(Block, FullCacheIsRefused) {
  const ModelConfig model = tiny(true);
  const Block block = make_block(model, 0, DType::f32, kSeed);
  const std::size_t d = static_cast<std::size_t>(model.hidden_size);
  KvCache cache = block.make_cache(2, DType::f32);
  const auto x = random_vector(3 * d, kSeed, "x");
  auto y = poisoned(3 * d);
  EXPECT_THROW(block.forward(x.data(), 3, cache, y.data()), std::length_error);
}

TEST(Block, ShapeBeyondMemoryIsRefusedBeforeAllocating) {
  // A DeepSeek-V3 MoE layer with 64 times its experts: 16384 × 3 × 7168 × 2048 fp32 weights are
  // 2.6 TiB, beyond any machine this runs on.
  ModelConfig model = *find_preset("deepseek-v3");
  model.moe->n_routed_experts = 256 * 64;
  const std::size_t before = allocation_stats().current_bytes;
  try {
    make_block(model, 5, DType::f32, kSeed);
    ADD_FAILURE() << "a 2.6 TiB layer was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("GiB"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("available"), std::string::npos) << e.what();
  }
  EXPECT_EQ(allocation_stats().current_bytes, before);
}

TEST(Block, CacheBeyondMemoryIsRefused) {
  const Block block = make_block(tiny(true), 0, DType::f32, kSeed);
  EXPECT_THROW(block.make_cache(std::size_t{1} << 40, DType::f32), ConfigError);
}

TEST(Block, LayerOutOfRangeIsRefused) {
  EXPECT_THROW(make_block(tiny(true), 2, DType::f32, kSeed), ConfigError);
  EXPECT_THROW(make_block(tiny(true), -1, DType::f32, kSeed), ConfigError);
}

}  // namespace
}  // namespace infercost
