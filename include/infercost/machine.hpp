// This machine: its topology (hwloc), its build and threading context, and its measured ceilings
// (peak fp32 FMA rate, read and triad memory bandwidth), the denominators of every "% of roofline".
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace infercost {

struct CacheLevel {
  int level = 0;           // 1, 2, 3
  std::string type;        // "data", "instruction", "unified"
  std::size_t bytes = 0;   // size of one cache of this level
  int count = 0;           // how many of them
};

struct Topology {
  std::string cpu_model;                 // e.g. "Intel(R) Xeon(R) Platinum 8481C"
  int packages = 0, cores = 0, hardware_threads = 0;
  int numa_nodes_allowed = 0, numa_nodes_total = 0;
  std::vector<CacheLevel> caches;
  std::size_t memory_total_bytes = 0, memory_available_bytes = 0;
  // Linux's transparent huge page mode: "always", "madvise" (Debian's default: the large buffers
  // infercost allocates ask for them) or "never" (4 KiB pages: GEMV reads 15-25% slower), or
  // "unknown" where /sys does not say.
  std::string transparent_hugepages;
  std::vector<std::string> isa_flags;    // cpu_isa_flags()
  std::string isa_detected, isa_in_use;  // detected_isa(), max_isa()
};

struct BuildContext {
  std::string compiler;       // e.g. "g++ 12.2.0"
  std::string flags;          // CMAKE_CXX_FLAGS + build-type flags
  std::string build_type;     // Release, RelWithDebInfo, ...
  std::string git_commit;     // at configure time, "unknown" outside a checkout; "-dirty" appended
                              // when the work tree had uncommitted changes then
};

struct ThreadingContext {
  int omp_threads = 0;                    // omp_get_max_threads()
  std::string omp_proc_bind, omp_places;  // as in effect (environment, or what infercost set)
  std::vector<int> thread_cores;          // thread i runs on core thread_cores[i] (pinning recorded)
  double load_average = -1;               // 1-minute load average (/proc/loadavg), -1 if unknown:
                                          // above the core count, measured ceilings come out low
};

// Binds each thread of an OpenMP parallel region of `threads` threads to one core (hwloc logical
// core index, round-robin over the cores this process may use) and returns thread -> core; the
// result is recorded in threading_context().thread_cores. The binding is per OS thread: OpenMP
// keeps its thread pool, so later parallel regions of `threads` threads (or fewer) run on the same
// threads and stay pinned; a larger region adds unpinned threads, and a region after a change of
// the pool (e.g. a different team size with OMP_DYNAMIC) may not be pinned: call it again then.
// Overrides any binding the OpenMP runtime made from OMP_PROC_BIND / OMP_PLACES for those threads.
std::vector<int> pin_threads(int threads);

// The cores this process may run on (hwloc, its cpuset), at least 1.
int allowed_cores();

// The threads a run or a measurement uses: `requested` (0: OpenMP's default, which
// OMP_NUM_THREADS sets), capped at allowed_cores(). More threads than cores only share the cores
// (each thread's FMA loop, timed by itself, then counts time it did not run: a 64-thread team on
// 2 cores reported a third more FMA throughput than the cores have).
struct ThreadChoice {
  int threads = 1;    // what is used
  int requested = 1;  // what was asked, after OpenMP's default
  std::string warning;  // says so when the request was capped
};
ThreadChoice choose_threads(int requested);

struct Ceilings {
  int threads = 0;
  std::string isa;                   // the instruction set the FMA probe ran
  double fma_flops_per_s = 0;        // peak fp32 FMA rate: independent FMA chains in registers
  double read_bytes_per_s = 0;       // vectorised sum over an array far larger than the LLC
  double triad_bytes_per_s = 0;      // a = b + s·c, 12 bytes counted per element
  std::size_t array_bytes = 0;       // size of the bandwidth arrays
  double seconds = 0;                // how long the measurement took
};

Topology describe_topology();
std::string transparent_hugepage_mode();  // as in Topology::transparent_hugepages
BuildContext build_context();
ThreadingContext threading_context();

// Measures the ceilings at `threads` threads (0: OpenMP's current count), medians over a few
// repetitions, within about `seconds_budget` seconds. Arrays are at least 1 GiB and at least 8×
// the last-level cache, capped at a quarter of available memory; `array_bytes` other than 0 sets
// their size instead. With INFERCOST_BENCH_QUICK=1 in the environment (smoke runs) the arrays
// default to 256 MiB and the budget to at most 0.3 s.
// `threads` above allowed_cores() are capped at it: a ceiling is never inflated by oversubscription.
Ceilings measure_ceilings(int threads = 0, double seconds_budget = 3.0, std::size_t array_bytes = 0);

// The bytes of the bandwidth array measure_ceilings(…, array_bytes) allocates.
std::size_t ceilings_array_bytes(std::size_t array_bytes = 0);

// The ceilings measured once per process at OpenMP's thread count (for bench binaries), on first
// call.
const Ceilings& process_ceilings();

// The roofline time bound of work that does `flops` and moves `bytes` from memory:
// max(flops / peak, bytes / bandwidth), with the read bandwidth; and the fraction achieved,
// roofline_seconds / seconds (1 = at the roofline).
double roofline_seconds(double flops, double bytes, const Ceilings& c);
double roofline_fraction(double flops, double bytes, double seconds, const Ceilings& c);

nlohmann::json to_json(const Topology& t);
nlohmann::json to_json(const BuildContext& b);
nlohmann::json to_json(const ThreadingContext& t);
nlohmann::json to_json(const Ceilings& c);
nlohmann::json to_json(const CacheLevel& c);

}  // namespace infercost
