// The ceilings as Google Benchmark cases: the peak fp32 FMA rate (register-only chains, each probe
// set this CPU runs), read bandwidth (vectorised sum) and triad bandwidth (a = b + s·c, 12 bytes
// per element), at 1 and 2 threads. The same probes as machine.hpp's measure_ceilings
// (kernels/ceilings.hpp), here with Google Benchmark's repetitions and reporting.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "ceilings.hpp"
#include "infercost/isa.hpp"
#include "infercost/machine.hpp"
#include "scratch.hpp"
#include "support/bench_support.hpp"

namespace infercost {
namespace {

using ceilings::ProbeSet;

const ProbeSet& best_probes() { return ceilings::best_probes(max_isa()); }

// FMA rounds per thread and iteration: ≈ 2 ms of work at 100 GFLOP/s per core with AVX-512.
constexpr std::int64_t kFmaRounds = 1 << 19;
constexpr int kThreadCounts[] = {1, 2};

// The bandwidth array: one, shared by every case, far beyond the last-level cache (the cold
// rotation size of bench_support.hpp), placed by a parallel first touch in the static split the
// loops use. Read sums all of it; triad takes it as three thirds a, b, c.
struct BandwidthArray {
  BandwidthArray()
      : n((bench::quick_mode() ? (std::size_t{64} << 20) : bench::kColdBytes) / sizeof(float) / 48 * 48), data(n) {
#pragma omp parallel for schedule(static)
    for (std::size_t i = 0; i < n; ++i) data.data()[i] = 1.0f + static_cast<float>(i % 7) * 0.125f;
  }
  std::size_t n;
  Scratch data;
};

BandwidthArray& bandwidth_array() {
  static BandwidthArray array;
  return array;
}

// [begin, end) of thread t of `threads` over n elements, on 16-float boundaries.
std::pair<std::size_t, std::size_t> chunk_of(std::size_t n, int t, int threads) {
  const auto bound = [&](int i) { return n * static_cast<std::size_t>(i) / static_cast<std::size_t>(threads) / 16 * 16; };
  return {bound(t), t + 1 == threads ? n : bound(t + 1)};
}

bool enough_threads(benchmark::State& state, int threads) {
  if (threads <= omp_get_max_threads()) return true;
  state.SkipWithError(fmt::format("needs {} threads, OpenMP gives {}", threads, omp_get_max_threads()).c_str());
  return false;
}

void BM_fma(benchmark::State& state, const ProbeSet& p, int threads) {
  if (!isa_available(p.isa)) {
    state.SkipWithError(fmt::format("needs {}; this CPU runs at most {}", to_string(p.isa), to_string(max_isa())).c_str());
    return;
  }
  if (!enough_threads(state, threads)) return;
  for (auto _ : state) {
    float checksum = 0;
#pragma omp parallel num_threads(threads) reduction(+ : checksum)
    checksum += p.fma(kFmaRounds);
    benchmark::DoNotOptimize(checksum);
  }
  const double flops = p.fma_flops_per_iteration * static_cast<double>(kFmaRounds) * threads;
  bench::set_counters(state, flops, 0, fmt::format("{}/threads:{}", p.name, threads), "registers");
}

void BM_read(benchmark::State& state, int threads) {
  if (!enough_threads(state, threads)) return;
  const ProbeSet& p = best_probes();
  BandwidthArray& a = bandwidth_array();
  const float* x = a.data.data();
  for (auto _ : state) {
    float total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
      const auto [begin, end] = chunk_of(a.n, omp_get_thread_num(), omp_get_num_threads());
      total += p.sum(x + begin, end - begin);
    }
    benchmark::DoNotOptimize(total);
  }
  bench::set_counters(state, 0, static_cast<double>(a.n * sizeof(float)),
                      fmt::format("{}/threads:{}", p.name, threads), "cold");
}

void BM_triad(benchmark::State& state, int threads) {
  if (!enough_threads(state, threads)) return;
  const ProbeSet& p = best_probes();
  BandwidthArray& a = bandwidth_array();
  const std::size_t third = a.n / 3;
  float* x = a.data.data();
  for (auto _ : state) {
#pragma omp parallel num_threads(threads)
    {
      const auto [begin, end] = chunk_of(third, omp_get_thread_num(), omp_get_num_threads());
      p.triad(x + begin, x + third + begin, x + 2 * third + begin, 0.5f, end - begin);
    }
    benchmark::ClobberMemory();
  }
  // 12 bytes per element counted (read b and c, write a), as STREAM does: the write-allocate read
  // of a is not counted.
  bench::set_counters(state, 2.0 * static_cast<double>(third), 12.0 * static_cast<double>(third),
                      fmt::format("{}/threads:{}", p.name, threads), "cold");
}

void register_cases() {
  // One thread per core, as `infercost machine` measures: the pool keeps its binding (machine.hpp).
  pin_threads(omp_get_max_threads());
  for (const int threads : kThreadCounts) {
    for (const ProbeSet& p : ceilings::kProbeSets)
      benchmark::RegisterBenchmark(fmt::format("ceilings/fma/{}/fp32/threads:{}", p.name, threads).c_str(),
                                   BM_fma, p, threads)
          ->UseRealTime();
    const std::string isa(best_probes().name);
    benchmark::RegisterBenchmark(fmt::format("ceilings/read/{}/fp32/threads:{}", isa, threads).c_str(), BM_read,
                                 threads)
        ->UseRealTime();
    benchmark::RegisterBenchmark(fmt::format("ceilings/triad/{}/fp32/threads:{}", isa, threads).c_str(), BM_triad,
                                 threads)
        ->UseRealTime();
  }
}

}  // namespace
}  // namespace infercost

int main(int argc, char** argv) { return infercost::bench::run_main(argc, argv, infercost::register_cases); }
