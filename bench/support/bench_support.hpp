// What every kernel bench shares: one benchmark per implementation in kernels/kernels.inc, the
// counters (GFLOP/s, GB/s, % of this machine's roofline, with the ceilings measured by the bench
// binary itself), the implementation in the label, and cold-cache rotation.
#pragma once

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "infercost/buffer.hpp"
#include "infercost/kernels.hpp"
#include "infercost/machine.hpp"

namespace infercost::bench {

// Memory-bound figures are taken cold: the data a case touches is rotated through copies totalling
// at least this much, far beyond the last-level cache (docs/benchmarking.md, "Cold caches": reads
// reach DRAM speed only from ≈ 128 MB up, and the L3 a VM reports can be a shared host's 260 MB).
inline constexpr std::size_t kColdBytes = std::size_t{1} << 30;

// Sets OpenMP's thread count for one case (0: leave it) and restores it after.
class Threads {
 public:
  explicit Threads(int n) : saved_(omp_get_max_threads()) {
    if (n > 0) omp_set_num_threads(n);
  }
  ~Threads() { omp_set_num_threads(saved_); }
  Threads(const Threads&) = delete;
  Threads& operator=(const Threads&) = delete;

 private:
  int saved_;
};

// INFERCOST_BENCH_QUICK=1 (set by ctest's smoke runs) shrinks the cold rotation to 64 MiB and the
// ceilings' measurement (machine.hpp) to a fraction of a second: the smoke test checks that every
// case runs, not what it measures.
inline bool quick_mode() {
  const char* env = std::getenv("INFERCOST_BENCH_QUICK");
  return env != nullptr && std::string_view(env) == "1";
}

// How many copies of `bytes_per_copy` bytes make a cold rotation (at least 1, at most what fits in
// half the available memory).
inline std::size_t cold_copies(std::size_t bytes_per_copy) {
  const std::size_t cold = quick_mode() ? (std::size_t{64} << 20) : kColdBytes;
  const std::size_t wanted = (cold + bytes_per_copy - 1) / std::max<std::size_t>(bytes_per_copy, 1);
  const std::size_t fits = available_memory_bytes() / 2 / std::max<std::size_t>(bytes_per_copy, 1);
  return std::max<std::size_t>(1, std::min(wanted, fits));
}

// Sets the counters of a case that does `flops` and moves `bytes` per iteration:
//   GFLOP/s, GB/s, and roofline% = 100 × (roofline time bound) / (measured time per iteration),
// the bound being max(flops / peak FMA rate, bytes / read bandwidth) with the ceilings measured by
// this process. `regime` says whether the bytes came from memory ("cold") or cache ("warm").
inline void set_counters(benchmark::State& state, double flops, double bytes, std::string_view impl,
                         std::string_view regime) {
  const auto iterations = static_cast<double>(state.iterations());
  const Ceilings& c = process_ceilings();
  state.counters["GFLOP/s"] = benchmark::Counter(flops * iterations / 1e9, benchmark::Counter::kIsRate);
  state.counters["GB/s"] = benchmark::Counter(bytes * iterations / 1e9, benchmark::Counter::kIsRate);
  state.counters["roofline%"] =
      benchmark::Counter(100.0 * roofline_seconds(flops, bytes, c) * iterations, benchmark::Counter::kIsRate);
  state.counters["AI"] = flops / std::max(bytes, 1.0);  // arithmetic intensity, FLOP per byte
  state.SetLabel(fmt::format("impl={} {}", impl, regime));
}

// Skips (with the reason) a case whose implementation this CPU cannot run or which does not take
// `dtype`. Returns true when the case should run.
template <class Op>
bool runnable_or_skip(benchmark::State& state, const Impl<Op>& impl, DType dtype) {
  if (!impl.runnable()) {
    state.SkipWithError(fmt::format("{} needs {}; this CPU runs at most {}", impl.name, to_string(impl.isa),
                                    to_string(max_isa()))
                            .c_str());
    return false;
  }
  if (!impl.dtypes.contains(dtype)) {
    state.SkipWithError(fmt::format("{} does not take {}", impl.name, to_string(dtype)).c_str());
    return false;
  }
  return true;
}

// Puts the measured ceilings and the build into Google Benchmark's context (its JSON "context").
inline void add_machine_context() {
  const Ceilings& c = process_ceilings();
  benchmark::AddCustomContext("ceiling_threads", std::to_string(c.threads));
  benchmark::AddCustomContext("ceiling_fma_GFLOPs", fmt::format("{:.1f}", c.fma_flops_per_s / 1e9));
  benchmark::AddCustomContext("ceiling_read_GBs", fmt::format("{:.2f}", c.read_bytes_per_s / 1e9));
  benchmark::AddCustomContext("ceiling_triad_GBs", fmt::format("{:.2f}", c.triad_bytes_per_s / 1e9));
  benchmark::AddCustomContext("isa_detected", std::string(to_string(detected_isa())));
  benchmark::AddCustomContext("isa_in_use", std::string(to_string(max_isa())));
  benchmark::AddCustomContext("transparent_hugepages", transparent_hugepage_mode());
}

// Google Benchmark shows every rate counter with a "/s" unit; roofline% is computed as a rate (the
// bound times iterations over the elapsed time) but is a plain percentage, so the console shows it
// without the unit. The JSON output is unaffected (it has no units).
class ConsoleReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    std::vector<Run> shown = runs;
    for (Run& run : shown)
      if (auto it = run.counters.find("roofline%"); it != run.counters.end())
        it->second.flags = benchmark::Counter::kDefaults;
    benchmark::ConsoleReporter::ReportRuns(shown);
  }
};

// The main of every kernel bench: registers (through `register_cases`), measures the ceilings,
// then runs as Google Benchmark does with its own flags.
template <typename Register>
int run_main(int argc, char** argv, Register register_cases) {
  bool console_format = true;  // --benchmark_format=json|csv keeps Google Benchmark's own reporter
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with("--benchmark_format=") && arg != "--benchmark_format=console") console_format = false;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  register_cases();
  add_machine_context();
  if (console_format) {
    ConsoleReporter console;
    benchmark::RunSpecifiedBenchmarks(&console);
  } else {
    benchmark::RunSpecifiedBenchmarks();
  }
  benchmark::Shutdown();
  return 0;
}

}  // namespace infercost::bench
