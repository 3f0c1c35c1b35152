// Whole blocks through the fast kernels (dispatch picks them): prefill and decode of the classic
// block (GQA + dense SwiGLU, "small-gqa" layer 0) and the DeepSeek block (MLA naive or absorbed +
// DeepSeekMoE, "small-mla" = DeepSeek-V2-Lite layer 1), bf16 weights and KV cache, at the real
// width. Counters: tokens/s, FLOP/s and bytes/s (cost model counts), KV bytes per token, roofline%.
//
// Decode is timed cold, as a layer of a deep model sees it: before every iteration, untimed, the
// caches are flushed by streaming through bench::kColdBytes (a whole block cannot be copied enough
// times to rotate through a gigabyte of copies the way the kernel benches do). With
// INFERCOST_BENCH_QUICK=1 (ctest's smoke run) the "tiny" presets stand in for the small ones.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "infercost/buffer.hpp"
#include "infercost/cost_model.hpp"
#include "infercost/kernels.hpp"
#include "infercost/layers.hpp"
#include "support/bench_support.hpp"

namespace infercost {
namespace {

constexpr std::uint64_t kSeed = 1;
constexpr DType kWeights = DType::bf16;
constexpr DType kCache = DType::bf16;

struct Design {
  const char* name;
  const char* preset;        // at the small shape
  const char* quick_preset;  // its tiny stand-in for smoke runs
  int layer;                 // small-gqa: any (all dense); small-mla / tiny: layer 1 is MoE
  MlaForm form;
};

const Design kDesigns[] = {
    {"gqa_dense", "small-gqa", "tiny-gqa", 0, MlaForm::absorbed},
    {"mla_naive_moe", "small-mla", "tiny", 1, MlaForm::naive},
    {"mla_absorbed_moe", "small-mla", "tiny", 1, MlaForm::absorbed},
};

ModelConfig model_of(const Design& d) { return *find_preset(bench::quick_mode() ? d.quick_preset : d.preset); }

// Building a small-mla block draws 1.1 GB of random weights: each design's block is built once.
const Block& block_of(const Design& d) {
  static std::map<std::string, std::unique_ptr<Block>> blocks;
  auto& block = blocks[d.name];
  if (!block) block = std::make_unique<Block>(make_block(model_of(d), d.layer, kWeights, kSeed, d.form));
  return *block;
}

// Streams through a buffer far larger than the last-level cache, one load per cache line.
void flush_caches() {
  static Buffer<float> buffer(bench::quick_mode() ? (std::size_t{64} << 20) / sizeof(float)
                                                  : bench::kColdBytes / sizeof(float));
  static volatile float sink = 0;
  const float* p = buffer.data();
  const auto n = static_cast<std::int64_t>(buffer.size());
  float sum = 0;
#pragma omp parallel for reduction(+ : sum) schedule(static)
  for (std::int64_t i = 0; i < n; i += 16) sum += p[i];
  sink = sink + sum;
}

// The cost model's view of one block: FLOPs and bytes moved per call.
struct CallCost {
  double flops = 0, bytes = 0;
};

CallCost cost_of(const Design& d, std::int64_t context, std::int64_t batch, bool decode) {
  const ModelConfig m = model_of(d);
  CostOptions o;
  o.context = context;
  o.batch = batch;  // prefill: the T tokens share one read of the weights (and of MoE's experts)
  o.weight = parse_precision(to_string(kWeights));
  o.kv = parse_precision(to_string(kCache));
  o.mla_form = d.form;
  const ComponentCost c = layer_cost(m, m.is_moe_layer(d.layer), o).total();
  const double kv_per_token = o.kv.bytes(static_cast<double>(kv_elements_per_token_per_layer(m.attention, d.form)));
  const auto tokens = static_cast<double>(decode ? batch : context);
  // Decode: each token reads its sequence's L cached rows and writes one; prefill writes T rows.
  const double kv = decode ? kv_per_token * static_cast<double>(context + 1) * tokens : kv_per_token * tokens;
  return {(decode ? c.flops_decode : c.flops_prefill) * tokens, c.weight_bytes_read_per_step + kv};
}

void set_block_counters(benchmark::State& state, const CallCost& cost, double tokens_per_call,
                        std::size_t kv_bytes_per_token, const char* regime) {
  const auto calls = static_cast<double>(state.iterations());
  bench::set_counters(state, cost.flops, cost.bytes, selected_implementations(kWeights, kCache), regime);
  state.counters["tokens/s"] = benchmark::Counter(tokens_per_call * calls, benchmark::Counter::kIsRate);
  state.counters["FLOP/s"] = benchmark::Counter(cost.flops * calls, benchmark::Counter::kIsRate);
  state.counters["bytes/s"] = benchmark::Counter(cost.bytes * calls, benchmark::Counter::kIsRate);
  state.counters["kv_bytes_per_token"] = static_cast<double>(kv_bytes_per_token);
}

// Prefill of T tokens into an empty cache. Compute-bound: the caches are flushed too, so the
// weights come from memory once per call as they would in a deep model.
void BM_block_prefill(benchmark::State& state, Design design) {
  const Block& block = block_of(design);
  const auto T = static_cast<std::size_t>(state.range(0));
  const int d = model_of(design).hidden_size;
  std::vector<float> x(T * static_cast<std::size_t>(d)), y(x.size());
  fill_uniform(x.data(), x.size(), kSeed, 1.0f);
  KvCache cache = block.make_cache(T, kCache);
  for (auto _ : state) {
    state.PauseTiming();
    cache.truncate(0);
    flush_caches();
    state.ResumeTiming();
    block.forward(x.data(), T, cache, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  set_block_counters(state, cost_of(design, static_cast<std::int64_t>(T), static_cast<std::int64_t>(T), false),
                     static_cast<double>(T), cache.bytes_per_token(), "cold");
}

// One decode step of B sequences, each with L tokens cached (filled with random data, not by a
// prefill), then truncated back to L for the next iteration.
void BM_block_decode(benchmark::State& state, Design design) {
  const Block& block = block_of(design);
  const auto L = static_cast<std::size_t>(state.range(0)), B = static_cast<std::size_t>(state.range(1));
  const int d = model_of(design).hidden_size;
  std::vector<float> x(B * static_cast<std::size_t>(d)), y(x.size());
  fill_uniform(x.data(), x.size(), kSeed, 1.0f);
  std::vector<KvCache> caches;
  std::vector<KvCache*> pointers;
  for (std::size_t b = 0; b < B; ++b) {
    caches.push_back(block.make_cache(L + 1, kCache));
    caches.back().fill_random(L, kSeed + b);
  }
  for (KvCache& c : caches) pointers.push_back(&c);
  for (auto _ : state) {
    state.PauseTiming();
    for (KvCache& c : caches) c.truncate(L);
    flush_caches();
    state.ResumeTiming();
    block.decode(x.data(), pointers, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  set_block_counters(state, cost_of(design, static_cast<std::int64_t>(L), static_cast<std::int64_t>(B), true),
                     static_cast<double>(B), caches.front().bytes_per_token(), "cold");
}

void register_cases() {
  const bool quick = bench::quick_mode();
  const std::vector<std::int64_t> prefill =
      quick ? std::vector<std::int64_t>{17, 129} : std::vector<std::int64_t>{128, 512};
  const std::vector<std::pair<std::int64_t, std::int64_t>> decode =
      quick ? std::vector<std::pair<std::int64_t, std::int64_t>>{{17, 1}, {129, 4}}
            : std::vector<std::pair<std::int64_t, std::int64_t>>{{128, 1}, {4096, 1}, {32768, 1}, {4096, 16}};
  for (const Design& design : kDesigns) {
    const std::string shape = bench::quick_mode() ? design.quick_preset : design.preset;
    auto* p = benchmark::RegisterBenchmark(fmt::format("block_prefill/{}/{}", design.name, shape).c_str(),
                                           BM_block_prefill, design);
    p->ArgName("T")->UseRealTime()->Unit(benchmark::kMillisecond);
    for (std::int64_t t : prefill) p->Arg(t);
    auto* q = benchmark::RegisterBenchmark(fmt::format("block_decode/{}/{}", design.name, shape).c_str(),
                                           BM_block_decode, design);
    q->ArgNames({"L", "B"})->UseRealTime()->Unit(benchmark::kMillisecond);
    for (const auto& [l, b] : decode) q->Args({l, b});
  }
}

}  // namespace
}  // namespace infercost

int main(int argc, char** argv) { return infercost::bench::run_main(argc, argv, infercost::register_cases); }
