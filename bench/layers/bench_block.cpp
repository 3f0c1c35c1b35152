// Whole blocks with the reference kernels: prefill and decode time of the classic block (GQA +
// dense SwiGLU) and the DeepSeek block (MLA naive or absorbed + DeepSeekMoE) on the "tiny" shape.
// The reference kernels are plain loops, so these figures say what the ground truth costs, not
// what this machine can do; the FLOP counts come from the cost model.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "infercost/cost_model.hpp"
#include "infercost/layers.hpp"

namespace infercost {
namespace {

constexpr std::uint64_t kSeed = 1;

struct Design {
  const char* name;
  bool gqa;       // the tiny preset's MLA swapped for GQA of the same width
  int layer;      // tiny: layer 0 has a dense FFN, layer 1 the MoE
  MlaForm form;
};

const Design kDesigns[] = {
    {"gqa_dense", true, 0, MlaForm::absorbed},
    {"mla_naive_moe", false, 1, MlaForm::naive},
    {"mla_absorbed_moe", false, 1, MlaForm::absorbed},
};

ModelConfig model_of(const Design& design) {
  ModelConfig model = *find_preset("tiny");
  if (design.gqa) model.attention = {.kind = AttentionKind::gqa, .n_heads = 4, .n_kv_heads = 2, .head_dim = 10};
  return model;
}

// The cost model's forward FLOPs of this block for one token, at context L.
double block_flops(const ModelConfig& model, const Design& design, std::int64_t context, bool decode) {
  CostOptions options;
  options.context = context;
  options.mla_form = design.form;
  const ComponentCost cost = layer_cost(model, model.is_moe_layer(design.layer), options).total();
  return decode ? cost.flops_decode : cost.flops_prefill;
}

void set_counters(benchmark::State& state, double flops_per_token, std::size_t tokens_per_iteration,
                  const KvCache& cache) {
  const auto tokens = static_cast<double>(state.iterations() * tokens_per_iteration);
  state.counters["tokens/s"] = benchmark::Counter(tokens, benchmark::Counter::kIsRate);
  state.counters["FLOP/s"] = benchmark::Counter(tokens * flops_per_token, benchmark::Counter::kIsRate);
  state.counters["kv_bytes_per_token"] = static_cast<double>(cache.bytes_per_token());
  state.SetLabel("impl=reference");
}

// Prefill of L tokens into an empty cache.
void BM_block_prefill(benchmark::State& state, Design design) {
  const ModelConfig model = model_of(design);
  const Block block = make_block(model, design.layer, DType::f32, kSeed, design.form);
  const auto L = static_cast<std::size_t>(state.range(0));
  const std::size_t d = static_cast<std::size_t>(model.hidden_size);
  std::vector<float> x(L * d, 0.5f), y(L * d);
  KvCache cache = block.make_cache(L, DType::f32);
  for (auto _ : state) {
    cache.truncate(0);
    block.forward(x.data(), L, cache, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  set_counters(state, block_flops(model, design, static_cast<std::int64_t>(L), false), L, cache);
}

// Decode of one token with L - 1 tokens already cached (the new one makes L).
void BM_block_decode(benchmark::State& state, Design design) {
  const ModelConfig model = model_of(design);
  const Block block = make_block(model, design.layer, DType::f32, kSeed, design.form);
  const auto L = static_cast<std::size_t>(state.range(0));
  const std::size_t d = static_cast<std::size_t>(model.hidden_size);
  std::vector<float> x(L * d, 0.5f), y(L * d);
  KvCache cache = block.make_cache(L, DType::f32);
  block.forward(x.data(), L - 1, cache, y.data());
  for (auto _ : state) {
    cache.truncate(L - 1);
    block.forward(x.data(), 1, cache, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  set_counters(state, block_flops(model, design, static_cast<std::int64_t>(L), true), 1, cache);
}

const bool kRegistered = [] {
  for (const Design& design : kDesigns) {
    benchmark::RegisterBenchmark((std::string("BM_block_prefill/") + design.name).c_str(), BM_block_prefill, design)
        ->ArgName("L")
        ->Arg(17)
        ->Arg(129)
        ->UseRealTime();
    benchmark::RegisterBenchmark((std::string("BM_block_decode/") + design.name).c_str(), BM_block_decode, design)
        ->ArgName("L")
        ->Arg(17)
        ->Arg(1025)
        ->UseRealTime();
  }
  return true;
}();

}  // namespace
}  // namespace infercost

BENCHMARK_MAIN();
