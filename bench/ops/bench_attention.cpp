// MHA/GQA/MQA attention kernels (kernels/kernels.inc: attention_decode, attention_prefill), every
// implementation:
//   decode, GQA 16 heads / 4 KV heads / head dim 128 at L = 4k..32k with fp32, bf16 and fp8 caches;
//   decode, MHA (16/16) and MQA (16/1) at L = 8192, every cache type; all these decode cases cold
//     (the cache rotates through copies totalling >= 1 GiB);
//   decode warm ("attention_decode_warm/..."): GQA at L = 4096, one cache that stays in L3 (16 MiB
//     for fp32), so the gap between warm and cold tells compute-bound from memory-bound;
//   prefill, GQA, MHA and MLA's naive shape (16 heads, qk 192, v 128) at T = 512 and 2048, on 1 and
//     2 threads (the pair gives the thread scaling of a compute-bound kernel).
// Decode: FLOP = 2·L·n_heads·(qk_dim + v_dim), bytes = the L cached rows of keys and values
// (L·n_kv·(qk_dim + v_dim)·element size; q and out are negligible). Prefill: FLOP =
// 2·n_heads·(qk_dim + v_dim)·T(T+1)/2 (causal), bytes = q, k, v and out once.
// The reference kernel (double sums, per-element reads) is benched on the smallest decode case only.

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "support/bench_support.hpp"

namespace infercost {
namespace {

constexpr std::uint64_t kSeed = 17;

struct NamedShape {
  const char* name;
  AttentionShape shape;
};

AttentionShape shape_of(std::size_t heads, std::size_t kv, std::size_t dq, std::size_t dv) {
  return {heads, kv, dq, dv, static_cast<float>(1.0 / std::sqrt(static_cast<double>(dq)))};
}

const NamedShape kGqa{"gqa", shape_of(16, 4, 128, 128)};
const NamedShape kMha{"mha", shape_of(16, 16, 128, 128)};
const NamedShape kMqa{"mqa", shape_of(16, 1, 128, 128)};
const NamedShape kMlaNaive{"qk192_v128", shape_of(16, 16, 192, 128)};

double attention_flops(double query_key_pairs, const AttentionShape& s) {
  return 2.0 * query_key_pairs * static_cast<double>(s.n_heads * (s.qk_dim + s.v_dim));
}

struct Cache {
  Matrix k, v;
};

// `copies` identical caches of L random tokens (one filled, the others copied from it).
std::vector<Cache> caches(std::size_t L, const AttentionShape& s, DType dtype, std::size_t copies) {
  std::vector<Cache> all;
  all.reserve(copies);
  all.push_back({random_matrix(L, s.n_kv_heads * s.qk_dim, dtype, kSeed, "k"),
                 random_matrix(L, s.n_kv_heads * s.v_dim, dtype, kSeed, "v")});
  for (std::size_t i = 1; i < copies; ++i) all.push_back(all.front());
  return all;
}

void decode_case(benchmark::State& state, const Impl<op::attention_decode>& impl, const AttentionShape& s,
                 std::size_t L, DType dtype, bool cold) {
  if (!bench::runnable_or_skip(state, impl, dtype)) return;
  const double bytes = static_cast<double>(L * s.n_kv_heads * (s.qk_dim + s.v_dim) * size_of(dtype));
  const auto all = caches(L, s, dtype, cold ? bench::cold_copies(static_cast<std::size_t>(bytes)) : 1);
  std::vector<float> q(s.n_heads * s.qk_dim), out(s.n_heads * s.v_dim);
  fill_uniform(q.data(), q.size(), mix_seed(kSeed, "q"), std::sqrt(3.0f));
  std::size_t next = 0;
  for (auto _ : state) {
    const Cache& c = all[next];
    next = next + 1 == all.size() ? 0 : next + 1;
    impl.fn(q.data(), c.k, c.v, L, s, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  bench::set_counters(state, attention_flops(static_cast<double>(L), s), bytes, impl.name, cold ? "cold" : "warm");
}

void prefill_case(benchmark::State& state, const Impl<op::attention_prefill>& impl, const AttentionShape& s,
                  std::size_t T, int threads) {
  if (!bench::runnable_or_skip(state, impl, DType::f32)) return;
  const bench::Threads use(threads);
  std::vector<float> q(T * s.n_heads * s.qk_dim), k(T * s.n_kv_heads * s.qk_dim), v(T * s.n_kv_heads * s.v_dim);
  std::vector<float> out(T * s.n_heads * s.v_dim);
  fill_uniform(q.data(), q.size(), mix_seed(kSeed, "q"), std::sqrt(3.0f));
  fill_uniform(k.data(), k.size(), mix_seed(kSeed, "k"), std::sqrt(3.0f));
  fill_uniform(v.data(), v.size(), mix_seed(kSeed, "v"), std::sqrt(3.0f));
  for (auto _ : state) {
    impl.fn(q.data(), k.data(), v.data(), T, s, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  const double pairs = static_cast<double>(T) * static_cast<double>(T + 1) / 2.0;
  const double bytes = static_cast<double>((q.size() + k.size() + v.size() + out.size()) * sizeof(float));
  bench::set_counters(state, attention_flops(pairs, s), bytes, impl.name, "warm");
}

void register_decode(const Impl<op::attention_decode>& impl, const NamedShape& shape, std::size_t L, DType dtype,
                     bool cold = true) {
  const std::string name =
      fmt::format("attention_decode{}/{}/{}/{}/heads:{}/kv:{}/L:{}", cold ? "" : "_warm", impl.name,
                  to_string(dtype), shape.name, shape.shape.n_heads, shape.shape.n_kv_heads, L);
  benchmark::RegisterBenchmark(name.c_str(), [&impl, &shape, L, dtype, cold](benchmark::State& s) {
    decode_case(s, impl, shape.shape, L, dtype, cold);
  })->UseRealTime();
}

void register_cases() {
  for (const auto& impl : implementations<op::attention_decode>()) {
    if (impl.name == "reference") {
      register_decode(impl, kGqa, 4096, DType::f32);
      continue;
    }
    for (const DType dtype : {DType::f32, DType::bf16, DType::f8}) {
      for (const std::size_t L : {4096, 8192, 16384, 32768}) register_decode(impl, kGqa, L, dtype);
      register_decode(impl, kMha, 8192, dtype);
      register_decode(impl, kMqa, 8192, dtype);
      register_decode(impl, kGqa, 4096, dtype, false);
    }
  }
  for (const auto& impl : implementations<op::attention_prefill>()) {
    if (impl.name == "reference") continue;
    for (const NamedShape* shape : {&kGqa, &kMha, &kMlaNaive}) {
      for (const std::size_t T : {512, 2048}) {
        for (const int threads : {1, 2}) {
          const std::string name = fmt::format("attention_prefill/{}/fp32/{}/heads:{}/kv:{}/T:{}/threads:{}",
                                               impl.name, shape->name, shape->shape.n_heads,
                                               shape->shape.n_kv_heads, T, threads);
          benchmark::RegisterBenchmark(name.c_str(), [&impl, shape, T, threads](benchmark::State& s) {
            prefill_case(s, impl, shape->shape, T, threads);
          })->UseRealTime();
        }
      }
    }
  }
}

}  // namespace
}  // namespace infercost

int main(int argc, char** argv) { return infercost::bench::run_main(argc, argv, infercost::register_cases); }
