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
  const char* preset;  // "tiny" (MLA) or its GQA twin "tiny-gqa"
  int layer;           // layer 0 has a dense FFN, layer 1 the MoE
  MlaForm form;
};

const Design kDesigns[] = {
    {"gqa_dense", "tiny-gqa", 0, MlaForm::absorbed},
    {"mla_naive_moe", "tiny", 1, MlaForm::naive},
    {"mla_absorbed_moe", "tiny", 1, MlaForm::absorbed},
};

// A block of `design` with an fp32 cache of L tokens, inputs and outputs; nothing is timed here.
struct BlockRun {
  BlockRun(const Design& design, std::size_t context)
      : model(*find_preset(design.preset)),
        block(make_block(model, design.layer, DType::f32, kSeed, design.form)),
        L(context),
        x(L * static_cast<std::size_t>(model.hidden_size), 0.5f),
        y(x.size()),
        cache(block.make_cache(L, DType::f32)) {}

  // The cost model's forward FLOPs of this block for one token, at context L.
  double flops_per_token(const Design& design, bool decode) const {
    CostOptions options;
    options.context = static_cast<std::int64_t>(L);
    options.mla_form = design.form;
    const ComponentCost cost = layer_cost(model, model.is_moe_layer(design.layer), options).total();
    return decode ? cost.flops_decode : cost.flops_prefill;
  }

  void set_counters(benchmark::State& state, double flops_per_token, std::size_t tokens_per_iteration) const {
    const auto tokens = static_cast<double>(state.iterations() * tokens_per_iteration);
    state.counters["tokens/s"] = benchmark::Counter(tokens, benchmark::Counter::kIsRate);
    state.counters["FLOP/s"] = benchmark::Counter(tokens * flops_per_token, benchmark::Counter::kIsRate);
    state.counters["kv_bytes_per_token"] = static_cast<double>(cache.bytes_per_token());
    state.SetLabel("impl=reference");
  }

  ModelConfig model;
  Block block;
  std::size_t L;
  std::vector<float> x, y;
  KvCache cache;
};

// Prefill of L tokens into an empty cache.
void BM_block_prefill(benchmark::State& state, Design design) {
  BlockRun run(design, static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    run.cache.truncate(0);
    run.block.forward(run.x.data(), run.L, run.cache, run.y.data());
    benchmark::DoNotOptimize(run.y.data());
  }
  run.set_counters(state, run.flops_per_token(design, false), run.L);
}

// Decode of one token with L - 1 tokens already cached (the new one makes L).
void BM_block_decode(benchmark::State& state, Design design) {
  BlockRun run(design, static_cast<std::size_t>(state.range(0)));
  run.block.forward(run.x.data(), run.L - 1, run.cache, run.y.data());
  for (auto _ : state) {
    run.cache.truncate(run.L - 1);
    run.block.forward(run.x.data(), 1, run.cache, run.y.data());
    benchmark::DoNotOptimize(run.y.data());
  }
  run.set_counters(state, run.flops_per_token(design, true), 1);
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
