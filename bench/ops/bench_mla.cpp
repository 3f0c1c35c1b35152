// Absorbed MLA kernels (kernels/kernels.inc: mla_decode, mla_prefill), every implementation:
//   decode, DeepSeek-V2-Lite shape (16 heads, kv_lora_rank 512, rope 64) at L = 4k..32k with fp32,
//     bf16 and fp8 caches, cold (the cache rotates through copies totalling >= 1 GiB);
//   decode, DeepSeek-V3 shape (128 heads) at L = 4096, 1 and 2 threads, cold;
//   prefill, V2-Lite shape at T = 512 and 2048, fp32 cache, 1 and 2 threads.
// Decode: FLOP = 2·L·n_heads·((r + rope) + r), bytes = L·(r + rope)·element size (the cache read
// once for all heads). Prefill: FLOP = 2·T(T+1)/2·n_heads·((r + rope) + r) (causal), bytes = the
// cache, the queries and the output once.
// The reference kernel (double sums, per-element reads) is benched on the smallest decode case only:
// a second per call there, minutes for the others.

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "support/bench_support.hpp"

namespace infercost {
namespace {

constexpr std::uint64_t kSeed = 11;
constexpr std::size_t kRank = 512, kRope = 64;  // DeepSeek-V2-Lite and V3
constexpr std::size_t kHeadsV2Lite = 16, kHeadsV3 = 128;
const float kScale = static_cast<float>(1.0 / std::sqrt(192.0));  // qk_nope 128 + qk_rope 64

MlaShape shape_with(std::size_t heads) { return {heads, kRank, kRope, kScale}; }

double mla_flops(double query_key_pairs, std::size_t heads) {
  return 2.0 * query_key_pairs * static_cast<double>(heads) * static_cast<double>((kRank + kRope) + kRank);
}

// One cache: the latent and k_rope streams of L tokens.
struct Cache {
  Matrix latent, k_rope;
};

// `copies` identical caches of L random tokens (one filled, the others copied from it).
std::vector<Cache> caches(std::size_t L, DType dtype, std::size_t copies) {
  std::vector<Cache> all;
  all.reserve(copies);
  all.push_back({random_matrix(L, kRank, dtype, kSeed, "latent"), random_matrix(L, kRope, dtype, kSeed, "k_rope")});
  for (std::size_t i = 1; i < copies; ++i) all.push_back(all.front());
  return all;
}

void decode_case(benchmark::State& state, const Impl<op::mla_decode>& impl, std::size_t heads, std::size_t L,
                 DType dtype, int threads) {
  if (!bench::runnable_or_skip(state, impl, dtype)) return;
  const bench::Threads use(threads);
  const double bytes = static_cast<double>(L * (kRank + kRope) * size_of(dtype));
  const auto all = caches(L, dtype, bench::cold_copies(static_cast<std::size_t>(bytes)));
  std::vector<float> q_latent(heads * kRank), q_rope(heads * kRope), out(heads * kRank);
  fill_uniform(q_latent.data(), q_latent.size(), mix_seed(kSeed, "q_latent"), 1.0f);
  fill_uniform(q_rope.data(), q_rope.size(), mix_seed(kSeed, "q_rope"), 1.0f);
  const MlaShape shape = shape_with(heads);
  std::size_t next = 0;
  for (auto _ : state) {
    const Cache& c = all[next];
    next = next + 1 == all.size() ? 0 : next + 1;
    impl.fn(q_latent.data(), q_rope.data(), c.latent, c.k_rope, L, shape, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  bench::set_counters(state, mla_flops(static_cast<double>(L), heads), bytes, impl.name, "cold");
}

void prefill_case(benchmark::State& state, const Impl<op::mla_prefill>& impl, std::size_t T, int threads) {
  if (!bench::runnable_or_skip(state, impl, DType::f32)) return;
  const bench::Threads use(threads);
  const std::size_t heads = kHeadsV2Lite;
  const auto all = caches(T, DType::f32, 1);
  std::vector<float> q_latent(T * heads * kRank), q_rope(T * heads * kRope), out(T * heads * kRank);
  fill_uniform(q_latent.data(), q_latent.size(), mix_seed(kSeed, "q_latent"), 1.0f);
  fill_uniform(q_rope.data(), q_rope.size(), mix_seed(kSeed, "q_rope"), 1.0f);
  const MlaShape shape = shape_with(heads);
  for (auto _ : state) {
    impl.fn(q_latent.data(), q_rope.data(), all[0].latent, all[0].k_rope, T, shape, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  const double pairs = static_cast<double>(T) * static_cast<double>(T + 1) / 2.0;
  const double bytes =
      static_cast<double>(T * (kRank + kRope) * 4 + (q_latent.size() + q_rope.size() + out.size()) * 4);
  bench::set_counters(state, mla_flops(pairs, heads), bytes, impl.name, "warm");
}

void register_cases() {
  for (const auto& impl : implementations<op::mla_decode>()) {
    const bool reference = impl.name == "reference";
    for (const DType dtype : {DType::f32, DType::bf16, DType::f8}) {
      for (const std::size_t L : {4096, 8192, 16384, 32768}) {
        if (reference && (L > 4096 || dtype != DType::f32)) continue;
        const std::string name =
            fmt::format("mla_decode/{}/{}/heads:{}/L:{}", impl.name, to_string(dtype), kHeadsV2Lite, L);
        benchmark::RegisterBenchmark(name.c_str(), [&impl, L, dtype](benchmark::State& s) {
          decode_case(s, impl, kHeadsV2Lite, L, dtype, 0);
        })->UseRealTime();
      }
    }
    if (reference) continue;
    for (const DType dtype : {DType::f32, DType::bf16, DType::f8}) {
      for (const int threads : {1, 2}) {
        const std::string name =
            fmt::format("mla_decode/{}/{}/heads:{}/L:4096/threads:{}", impl.name, to_string(dtype), kHeadsV3, threads);
        benchmark::RegisterBenchmark(name.c_str(), [&impl, dtype, threads](benchmark::State& s) {
          decode_case(s, impl, kHeadsV3, 4096, dtype, threads);
        })->UseRealTime();
      }
    }
  }
  for (const auto& impl : implementations<op::mla_prefill>()) {
    if (impl.name == "reference") continue;
    for (const std::size_t T : {512, 2048}) {
      for (const int threads : {1, 2}) {
        const std::string name =
            fmt::format("mla_prefill/{}/fp32/heads:{}/T:{}/threads:{}", impl.name, kHeadsV2Lite, T, threads);
        benchmark::RegisterBenchmark(name.c_str(), [&impl, T, threads](benchmark::State& s) {
          prefill_case(s, impl, T, threads);
        })->UseRealTime();
      }
    }
  }
}

}  // namespace
}  // namespace infercost

int main(int argc, char** argv) { return infercost::bench::run_main(argc, argv, infercost::register_cases); }
