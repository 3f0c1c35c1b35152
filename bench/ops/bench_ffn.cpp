// Feed-forward and small operators (kernels/kernels.inc: swiglu_ffn, moe, rmsnorm, rope, swiglu),
// every implementation, fp32 and bf16 weights:
//   decode of one token through the small-mla (DeepSeek-V2-Lite) MoE layer: d 2048, 64 routed experts
//     of width 1408, top-6, 2 shared; next to the dense SwiGLU FFN of the same activated width
//     (inter = 8 × 1408 = 11264), so that the two times are compared in one run;
//   prefill of T = 512 tokens through both (grouped GEMMs for the MoE);
//   rmsnorm, rope (both pairings, 16 heads of 128) and the SwiGLU activation over [2048, 2048].
// Bytes: decode, the weights the token reads (router + 2 shared + 6 selected experts = 8 × 3
// matrices for the MoE; the three matrices for the dense FFN); prefill, the weights of every expert
// some token selected (and x, y); element-wise operators, every element read and written once.
// FLOP: 2 per multiply-add (router and experts), 4 per element for rmsnorm, 3 for rope, 5 for swiglu.
// Regimes: the dense FFN rotates through copies of its weights (>= 1 GiB in all). The MoE layer is
// cold by construction: its 64 experts are 2.2 GB in fp32 (1.1 GB in bf16) and each iteration's
// token comes from a pool of random tokens that select different experts; the 2 shared experts
// (69 MB fp32) are re-read every token after ~200 MB of other weights, beyond this machine's
// effective last-level cache (docs/benchmarking.md, "Cold caches": DRAM speed from ~128 MB up).
// rmsnorm/rope/swiglu rotate through copies of their [2048, 2048] data. The reference kernels
// (double sums, per-element reads) are benched on the decode and element-wise cases only: a
// reference prefill takes minutes.
#include <cstddef>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "infercost/ops/moe.hpp"
#include "infercost/ops/norm_rope.hpp"
#include "support/bench_support.hpp"

namespace infercost {
namespace {

constexpr std::uint64_t kSeed = 23;
constexpr std::size_t kPrefillTokens = 512;
constexpr std::size_t kTokenPool = 64;  // decode tokens, rotated so that each selects other experts
constexpr std::size_t kRows = 2048, kWidth = 2048, kRopeHeads = 16, kRopeDim = 128;

const ModelConfig& small_mla() {
  static const ModelConfig model = *find_preset("small-mla");
  return model;
}

std::size_t hidden() { return static_cast<std::size_t>(small_mla().hidden_size); }
std::size_t expert_width() { return static_cast<std::size_t>(small_mla().moe->expert_intermediate_size); }
// The dense FFN with the MoE's activated width: (shared + top-k) experts side by side.
std::size_t dense_width() {
  const MoeConfig& m = *small_mla().moe;
  return static_cast<std::size_t>(m.n_shared_experts + m.top_k) * expert_width();
}

// 2 FLOP per weight element per token through an FFN of width `inter`.
double ffn_flops(std::size_t tokens, std::size_t inter) {
  return 2.0 * 3.0 * static_cast<double>(tokens * hidden() * inter);
}

std::vector<float> tokens(std::size_t count) {
  std::vector<float> x(count * hidden());
  fill_uniform(x.data(), x.size(), mix_seed(kSeed, "x"), 1.7f);  // unit variance, as after RMSNorm
  return x;
}

// ---- dense SwiGLU FFN ----------------------------------------------------------------------------

void dense_case(benchmark::State& state, const Impl<op::swiglu_ffn>& impl, DType dtype, std::size_t T) {
  if (!bench::runnable_or_skip(state, impl, dtype)) return;
  const std::size_t inter = dense_width();
  const bool decode = T == 1;
  const SwigluWeights first = random_swiglu(hidden(), inter, dtype, kSeed, "dense");
  // Decode is memory-bound: rotate copies of the weights. Prefill is compute-bound: one copy.
  const std::size_t copies = decode ? bench::cold_copies(first.bytes()) : 1;
  const std::vector<SwigluWeights> weights(copies, first);
  const std::vector<float> x = tokens(T);
  std::vector<float> y(T * hidden());
  std::size_t next = 0;
  for (auto _ : state) {
    impl.fn(x.data(), T, weights[next], y.data());
    next = next + 1 == copies ? 0 : next + 1;
    benchmark::DoNotOptimize(y.data());
  }
  const double bytes = static_cast<double>(first.bytes() + 2 * x.size() * sizeof(float));
  bench::set_counters(state, ffn_flops(T, inter), bytes, impl.name, decode ? "cold" : "warm");
}

// ---- MoE -----------------------------------------------------------------------------------------

// What a call over the T tokens of x reads, {bytes, FLOP}: the router, the shared experts and every
// routed expert some token selected; x and y once.
std::pair<double, double> moe_traffic(const MoeLayer& layer, const float* x, std::size_t T) {
  const MoeWeights& w = layer.weights();
  std::set<int> selected;
  std::size_t assignments = 0;
  for (std::size_t t = 0; t < T; ++t) {
    const Routing r = layer.route(x + t * hidden());
    selected.insert(r.experts.begin(), r.experts.end());
    assignments += r.experts.size();
  }
  double bytes = static_cast<double>(w.router.bytes() + 2 * T * hidden() * sizeof(float));
  for (const SwigluWeights& e : w.shared) bytes += static_cast<double>(e.bytes());
  for (int e : selected) bytes += static_cast<double>(w.routed[static_cast<std::size_t>(e)].bytes());
  const double flops = 2.0 * static_cast<double>(T * hidden() * w.router.rows()) +
                       ffn_flops(assignments + T * w.shared.size(), expert_width());
  return {bytes, flops};
}

// The small-mla MoE layer with `dtype` weights, built once per process (2.3 GB in fp32) and shared by
// the cases.
const MoeLayer& moe_layer(DType dtype) {
  static std::map<DType, std::unique_ptr<MoeLayer>> layers;
  auto& layer = layers[dtype];
  if (!layer) {
    const ModelConfig& model = small_mla();
    const LayerContext ctx{model.hidden_size, dtype, kSeed, model.rope_theta, model.rms_norm_eps};
    layer = std::make_unique<MoeLayer>(*model.moe, ctx);
  }
  return *layer;
}

void moe_case(benchmark::State& state, const Impl<op::moe>& impl, DType dtype, std::size_t T) {
  if (!bench::runnable_or_skip(state, impl, dtype)) return;
  const ModelConfig& model = small_mla();
  const MoeLayer& layer = moe_layer(dtype);
  const bool decode = T == 1;
  // Decode: one token per iteration from a pool, so that consecutive tokens read other experts.
  const std::size_t batches = decode ? kTokenPool : 1;
  const std::vector<float> x = tokens(T * batches);
  std::vector<float> y(T * hidden());
  double bytes = 0, flops = 0;
  for (std::size_t b = 0; b < batches; ++b) {
    const auto [batch_bytes, batch_flops] = moe_traffic(layer, x.data() + b * T * hidden(), T);
    bytes += batch_bytes / static_cast<double>(batches);
    flops += batch_flops / static_cast<double>(batches);
  }
  std::size_t next = 0;
  for (auto _ : state) {
    impl.fn(x.data() + next * T * hidden(), T, layer.weights(), *model.moe, y.data());
    next = next + 1 == batches ? 0 : next + 1;
    benchmark::DoNotOptimize(y.data());
  }
  bench::set_counters(state, flops, bytes, impl.name, decode ? "cold" : "warm");
}

// ---- element-wise and row-wise operators ---------------------------------------------------------

// `copies` arrays of n floats, uniform in ±scale (one filled, the others copied from it).
std::vector<std::vector<float>> arrays(std::size_t n, std::size_t copies, const char* name, float scale) {
  std::vector<float> first(n);
  fill_uniform(first.data(), n, mix_seed(kSeed, name), scale);
  return std::vector<std::vector<float>>(copies, first);
}

void rmsnorm_case(benchmark::State& state, const Impl<op::rmsnorm>& impl) {
  if (!bench::runnable_or_skip(state, impl, DType::f32)) return;
  const std::size_t n = kRows * kWidth, bytes = 2 * n * sizeof(float);
  const std::size_t copies = bench::cold_copies(bytes);
  const auto x = arrays(n, copies, "x", 2.0f);
  auto y = arrays(n, copies, "y", 0.0f);
  const auto gamma = arrays(kWidth, 1, "gamma", 1.0f);
  std::size_t next = 0;
  for (auto _ : state) {
    impl.fn(x[next].data(), kRows, kWidth, gamma[0].data(), 1e-6, y[next].data());
    benchmark::DoNotOptimize(y[next].data());
    next = next + 1 == copies ? 0 : next + 1;
  }
  bench::set_counters(state, 4.0 * static_cast<double>(n), static_cast<double>(bytes), impl.name, "cold");
}

void rope_case(benchmark::State& state, const Impl<op::rope>& impl, RopePairing pairing) {
  if (!bench::runnable_or_skip(state, impl, DType::f32)) return;
  const std::size_t n = kRows * kWidth, bytes = 2 * n * sizeof(float);  // read and written in place
  const std::size_t copies = bench::cold_copies(bytes / 2);
  auto x = arrays(n, copies, "x", 1.0f);
  std::vector<int> positions(kRows);
  for (std::size_t t = 0; t < kRows; ++t) positions[t] = static_cast<int>(t);
  std::size_t next = 0;
  for (auto _ : state) {
    impl.fn(x[next].data(), kRows, kWidth, kRopeHeads, kRopeDim, kRopeDim, positions.data(), 10000.0, pairing);
    benchmark::DoNotOptimize(x[next].data());
    next = next + 1 == copies ? 0 : next + 1;
  }
  bench::set_counters(state, 3.0 * static_cast<double>(n), static_cast<double>(bytes), impl.name, "cold");
}

void swiglu_case(benchmark::State& state, const Impl<op::swiglu>& impl) {
  if (!bench::runnable_or_skip(state, impl, DType::f32)) return;
  const std::size_t n = kRows * kWidth, bytes = 3 * n * sizeof(float);
  const std::size_t copies = bench::cold_copies(bytes);
  const auto gate = arrays(n, copies, "gate", 4.0f), up = arrays(n, copies, "up", 1.0f);
  auto out = arrays(n, copies, "out", 0.0f);
  std::size_t next = 0;
  for (auto _ : state) {
    impl.fn(gate[next].data(), up[next].data(), n, out[next].data());
    benchmark::DoNotOptimize(out[next].data());
    next = next + 1 == copies ? 0 : next + 1;
  }
  bench::set_counters(state, 5.0 * static_cast<double>(n), static_cast<double>(bytes), impl.name, "cold");
}

// ---- registration --------------------------------------------------------------------------------

template <class Fn>
void add(const std::string& name, Fn fn) {
  benchmark::RegisterBenchmark(name.c_str(), fn)->UseRealTime();
}

void register_cases() {
  const std::size_t d = hidden();
  for (const auto& impl : implementations<op::moe>()) {
    for (const DType dtype : {DType::f32, DType::bf16}) {
      for (const std::size_t T : {std::size_t{1}, kPrefillTokens}) {
        if (T > 1 && impl.name == "reference") continue;
        add(fmt::format("moe/{}/{}/small-mla/d:{}/experts:64/inter:{}/top:6/shared:2/T:{}", impl.name, to_string(dtype),
                        d, expert_width(), T),
            [&impl, dtype, T](benchmark::State& s) { moe_case(s, impl, dtype, T); });
      }
    }
  }
  for (const auto& impl : implementations<op::swiglu_ffn>()) {
    for (const DType dtype : {DType::f32, DType::bf16}) {
      for (const std::size_t T : {std::size_t{1}, kPrefillTokens}) {
        if (T > 1 && impl.name == "reference") continue;
        add(fmt::format("swiglu_ffn/{}/{}/d:{}/inter:{}/M:{}", impl.name, to_string(dtype), d, dense_width(), T),
            [&impl, dtype, T](benchmark::State& s) { dense_case(s, impl, dtype, T); });
      }
    }
  }
  for (const auto& impl : implementations<op::rmsnorm>())
    add(fmt::format("rmsnorm/{}/fp32/M:{}/n:{}", impl.name, kRows, kWidth),
        [&impl](benchmark::State& s) { rmsnorm_case(s, impl); });
  for (const auto& impl : implementations<op::rope>()) {
    for (const RopePairing pairing : {RopePairing::interleaved, RopePairing::halves}) {
      add(fmt::format("rope/{}/fp32/{}/M:{}/heads:{}/dim:{}", impl.name,
                      pairing == RopePairing::interleaved ? "interleaved" : "halves", kRows, kRopeHeads, kRopeDim),
          [&impl, pairing](benchmark::State& s) { rope_case(s, impl, pairing); });
    }
  }
  for (const auto& impl : implementations<op::swiglu>())
    add(fmt::format("swiglu/{}/fp32/n:{}", impl.name, kRows * kWidth),
        [&impl](benchmark::State& s) { swiglu_case(s, impl); });
}

}  // namespace
}  // namespace infercost

int main(int argc, char** argv) { return infercost::bench::run_main(argc, argv, infercost::register_cases); }
