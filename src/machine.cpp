#include "infercost/machine.hpp"

#include <fmt/format.h>
#include <hwloc.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <tuple>
#include <utility>

#include "ceilings.hpp"
#include "infercost/buffer.hpp"
#include "infercost/isa.hpp"
#include "scratch.hpp"

// Set by CMakeLists.txt on this file only, so that a new commit recompiles nothing else.
#ifndef INFERCOST_BUILD_FLAGS
#define INFERCOST_BUILD_FLAGS "unknown"
#endif
#ifndef INFERCOST_BUILD_TYPE
#define INFERCOST_BUILD_TYPE "unknown"
#endif
#ifndef INFERCOST_GIT_COMMIT
#define INFERCOST_GIT_COMMIT "unknown"
#endif

namespace infercost {
namespace {

// ---------------------------------------------------------------------------------------------
// Topology (hwloc)

// A loaded hwloc topology, destroyed with its owner.
class HwlocTopology {
 public:
  explicit HwlocTopology(unsigned long flags) {
    if (hwloc_topology_init(&topology_) != 0) throw std::runtime_error("hwloc_topology_init failed");
    if (hwloc_topology_set_flags(topology_, flags) != 0 || hwloc_topology_load(topology_) != 0) {
      hwloc_topology_destroy(topology_);
      throw std::runtime_error("hwloc could not load this machine's topology");
    }
  }
  ~HwlocTopology() { hwloc_topology_destroy(topology_); }
  HwlocTopology(const HwlocTopology&) = delete;
  HwlocTopology& operator=(const HwlocTopology&) = delete;
  hwloc_topology_t get() const { return topology_; }

 private:
  hwloc_topology_t topology_ = nullptr;
};

// The topology restricted to what this process may use (its cpuset and NUMA nodes): the one
// pinning works in. Loaded once; read-only afterwards, which hwloc allows from several threads.
const HwlocTopology& allowed_topology() {
  static const HwlocTopology topology(0);
  return topology;
}

int count_of(hwloc_topology_t topology, hwloc_obj_type_t type) {
  return std::max(0, hwloc_get_nbobjs_by_type(topology, type));
}

std::string cache_type_name(hwloc_obj_cache_type_t type) {
  switch (type) {
    case HWLOC_OBJ_CACHE_DATA: return "data";
    case HWLOC_OBJ_CACHE_INSTRUCTION: return "instruction";
    case HWLOC_OBJ_CACHE_UNIFIED: return "unified";
  }
  return "unknown";
}

// Caches grouped by (level, type, size), in that order: L1d, L1i, L2, L3 ...
std::vector<CacheLevel> caches_of(hwloc_topology_t topology) {
  constexpr hwloc_obj_type_t kCacheTypes[] = {HWLOC_OBJ_L1CACHE,  HWLOC_OBJ_L2CACHE,  HWLOC_OBJ_L3CACHE,
                                              HWLOC_OBJ_L4CACHE,  HWLOC_OBJ_L5CACHE,  HWLOC_OBJ_L1ICACHE,
                                              HWLOC_OBJ_L2ICACHE, HWLOC_OBJ_L3ICACHE};
  std::map<std::tuple<int, std::string, std::size_t>, int> counts;
  for (const hwloc_obj_type_t type : kCacheTypes) {
    for (int i = 0; i < count_of(topology, type); ++i) {
      const hwloc_obj_t obj = hwloc_get_obj_by_type(topology, type, static_cast<unsigned>(i));
      const auto& cache = obj->attr->cache;
      ++counts[{static_cast<int>(cache.depth), cache_type_name(cache.type), static_cast<std::size_t>(cache.size)}];
    }
  }
  std::vector<CacheLevel> caches;
  for (const auto& [key, count] : counts)
    caches.push_back({std::get<0>(key), std::get<1>(key), std::get<2>(key), count});
  return caches;
}

std::string cpu_model_of(hwloc_topology_t topology) {
  const hwloc_obj_t package = hwloc_get_obj_by_type(topology, HWLOC_OBJ_PACKAGE, 0);
  for (const hwloc_obj_t obj : {package, hwloc_get_root_obj(topology)}) {
    if (obj == nullptr) continue;
    if (const char* model = hwloc_obj_get_info_by_name(obj, "CPUModel"); model != nullptr && *model != '\0')
      return model;
  }
  return "unknown";
}

// MemTotal of /proc/meminfo, the figure MemAvailable (available_memory_bytes) is part of; hwloc's
// sum of NUMA-node memory only without /proc (under some hypervisors the node reports a fraction of
// what the OS has: 7.5 of 23.5 GiB on the development VM).
std::size_t memory_total_bytes(hwloc_topology_t topology) {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  std::size_t kib = 0;
  while (meminfo >> key >> kib) {
    if (key == "MemTotal:") return kib * 1024;
    meminfo.ignore(64, '\n');
  }
  return static_cast<std::size_t>(hwloc_get_root_obj(topology)->total_memory);
}

// The size of one last-level cache (the largest data or unified cache), 0 when none is reported.
std::size_t last_level_cache_bytes() {
  std::size_t bytes = 0;
  for (const CacheLevel& c : caches_of(allowed_topology().get()))
    if (c.type != "instruction") bytes = std::max(bytes, c.bytes);
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// Threading

std::mutex g_pinning_mutex;
std::vector<int> g_thread_cores;  // the last pin_threads() result

std::string proc_bind_name(omp_proc_bind_t bind) {
  switch (bind) {
    case omp_proc_bind_false: return "false";
    case omp_proc_bind_true: return "true";
    case omp_proc_bind_master: return "primary";
    case omp_proc_bind_close: return "close";
    case omp_proc_bind_spread: return "spread";
  }
  return "unknown";
}

std::string env_or(const char* name, std::string_view fallback) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::string(value) : std::string(fallback);
}

// ---------------------------------------------------------------------------------------------
// Ceilings

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

bool quick_mode() {
  const char* env = std::getenv("INFERCOST_BENCH_QUICK");
  return env != nullptr && std::string_view(env) == "1";
}

using ceilings::ProbeSet;

// Keeps the probes' results alive, so the compiler cannot drop the work.
volatile float g_sink = 0;

// The FMA rate of a `threads`-thread team running `iterations` rounds each: every thread times its
// own loop (after a barrier, so they run together) and the rates are summed. Per-thread timing
// keeps the team's fork and join, and a late-waking thread on a busy machine, out of the figure;
// a thread preempted during its loop still counts the lost time.
double fma_team_rate(const ProbeSet& p, int threads, std::int64_t iterations) {
  double rate = 0;
  float checksum = 0;
#pragma omp parallel num_threads(threads) reduction(+ : rate, checksum)
  {
#pragma omp barrier
    const Clock::time_point start = Clock::now();
    checksum += p.fma(iterations);
    rate += p.fma_flops_per_iteration * static_cast<double>(iterations) / seconds_since(start);
  }
  g_sink = checksum;
  return rate;
}

// Median FMA rate of the team over repetitions of about `seconds` in total.
double measure_fma(const ProbeSet& p, int threads, double seconds) {
  constexpr int kRepetitions = 5;
  constexpr std::int64_t kCalibrationIterations = 1 << 16;
  fma_team_rate(p, threads, kCalibrationIterations);  // starts the OpenMP team and warms the core up
  // Iterations that take about 1/(repetitions + 1) of the budget at the rate just seen, at least
  // the calibration run (a millisecond or less at any plausible rate would time the clock).
  const double per_thread_rate = fma_team_rate(p, threads, kCalibrationIterations) / threads;
  const double wanted = per_thread_rate * seconds / (kRepetitions + 1) / p.fma_flops_per_iteration;
  const auto iterations = std::max(kCalibrationIterations, static_cast<std::int64_t>(wanted));
  std::vector<double> rates;
  for (int r = 0; r < kRepetitions; ++r) rates.push_back(fma_team_rate(p, threads, iterations));
  return median(rates);
}

// The part [begin, end) of n elements thread `t` of `threads` takes: the same static split for the
// first touch and the measurement, so each thread reads the pages it placed (its NUMA node's).
// Chunks start on 64-byte boundaries.
std::pair<std::size_t, std::size_t> chunk_of(std::size_t n, int t, int threads) {
  const auto bound = [&](int i) {
    return std::min(n, n * static_cast<std::size_t>(i) / static_cast<std::size_t>(threads) / 16 * 16);
  };
  return {bound(t), t + 1 == threads ? n : bound(t + 1)};
}

void first_touch(float* x, std::size_t n, int threads) {
#pragma omp parallel num_threads(threads)
  {
    const auto [begin, end] = chunk_of(n, omp_get_thread_num(), omp_get_num_threads());
    for (std::size_t i = begin; i < end; ++i) x[i] = 1.0f + static_cast<float>(i % 7) * 0.125f;
  }
}

double time_read(const ProbeSet& p, const float* x, std::size_t n, int threads) {
  float total = 0;
  const Clock::time_point start = Clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : total)
  {
    const auto [begin, end] = chunk_of(n, omp_get_thread_num(), omp_get_num_threads());
    total += p.sum(x + begin, end - begin);
  }
  const double seconds = seconds_since(start);
  g_sink = total;
  return seconds;
}

// a, b, c: [n] each, disjoint.
double time_triad(const ProbeSet& p, float* a, const float* b, const float* c, std::size_t n, int threads) {
  const Clock::time_point start = Clock::now();
#pragma omp parallel num_threads(threads)
  {
    const auto [begin, end] = chunk_of(n, omp_get_thread_num(), omp_get_num_threads());
    p.triad(a + begin, b + begin, c + begin, 0.5f, end - begin);
  }
  const double seconds = seconds_since(start);
  g_sink = a[n / 2];
  return seconds;
}

// Runs `pass` once to warm up (TLB, frequency), then repeats it within `seconds` (at least 3
// times) and returns the median of bytes / time.
template <typename Pass>
double median_bandwidth(double bytes, double seconds, Pass pass) {
  constexpr int kMinRepetitions = 3, kMaxRepetitions = 15;
  const double first = pass();
  const int repetitions = std::clamp(static_cast<int>(seconds / first), kMinRepetitions, kMaxRepetitions);
  std::vector<double> rates;
  for (int r = 0; r < repetitions; ++r) rates.push_back(bytes / pass());
  return median(rates);
}

std::size_t default_array_bytes() {
  if (quick_mode()) return std::size_t{256} << 20;
  const std::size_t wanted = std::max(std::size_t{1} << 30, 8 * last_level_cache_bytes());
  // At least 64 MiB, far beyond any cache: with less memory than that the caller refuses to measure.
  return std::max(std::size_t{64} << 20, std::min(wanted, available_memory_bytes() / 4));
}

}  // namespace

// -------------------------------------------------------------------------------------------------

const ceilings::ProbeSet& ceilings::best_probes(Isa isa) {
  const ProbeSet* best = &kProbeSets[0];
  for (const ProbeSet& p : kProbeSets)
    if (p.isa <= isa) best = &p;
  return *best;
}

// The bracketed word of /sys/kernel/mm/transparent_hugepage/enabled: "always [madvise] never".
std::string transparent_hugepage_mode() {
  std::ifstream file("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string word;
  while (file >> word)
    if (word.size() > 2 && word.front() == '[' && word.back() == ']') return word.substr(1, word.size() - 2);
  return "unknown";
}

Topology describe_topology() {
  Topology t;
  const hwloc_topology_t allowed = allowed_topology().get();
  t.cpu_model = cpu_model_of(allowed);
  t.packages = count_of(allowed, HWLOC_OBJ_PACKAGE);
  t.cores = count_of(allowed, HWLOC_OBJ_CORE);
  t.hardware_threads = count_of(allowed, HWLOC_OBJ_PU);
  t.caches = caches_of(allowed);
  // The NUMA nodes this process may allocate on, among all the machine has (a cgroup or cpuset
  // can restrict them): the disallowed ones are visible only with this flag.
  const HwlocTopology whole(HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED);
  t.numa_nodes_allowed = hwloc_bitmap_weight(hwloc_topology_get_allowed_nodeset(whole.get()));
  t.numa_nodes_total = count_of(whole.get(), HWLOC_OBJ_NUMANODE);
  t.memory_total_bytes = memory_total_bytes(allowed);
  t.memory_available_bytes = available_memory_bytes();
  t.transparent_hugepages = transparent_hugepage_mode();
  t.isa_flags = cpu_isa_flags();
  t.isa_detected = std::string(to_string(detected_isa()));
  t.isa_in_use = std::string(to_string(max_isa()));
  return t;
}

BuildContext build_context() {
  BuildContext b;
#if defined(__clang__)
  b.compiler = "clang++ " __clang_version__;
#elif defined(__GNUC__)
  b.compiler = "g++ " __VERSION__;
#else
  b.compiler = "unknown";
#endif
  b.flags = INFERCOST_BUILD_FLAGS;
  b.build_type = INFERCOST_BUILD_TYPE;
  b.git_commit = INFERCOST_GIT_COMMIT;
  return b;
}

std::vector<int> pin_threads(int threads) {
  if (threads < 1) throw std::invalid_argument(fmt::format("pin_threads: {} threads, need at least 1", threads));
  const hwloc_topology_t topology = allowed_topology().get();
  const int cores = count_of(topology, HWLOC_OBJ_CORE);
  if (cores < 1) throw std::runtime_error("pin_threads: hwloc reports no core");
  std::vector<int> thread_cores(static_cast<std::size_t>(threads), -1);
  bool failed = false;
#pragma omp parallel num_threads(threads) reduction(|| : failed)
  {
    const int t = omp_get_thread_num();
    const int core = t % cores;
    const hwloc_obj_t obj = hwloc_get_obj_by_type(topology, HWLOC_OBJ_CORE, static_cast<unsigned>(core));
    if (hwloc_set_cpubind(topology, obj->cpuset, HWLOC_CPUBIND_THREAD) == 0)
      thread_cores[static_cast<std::size_t>(t)] = core;
    else
      failed = true;
  }
  if (failed) throw std::runtime_error("pin_threads: hwloc_set_cpubind refused to bind a thread");
  // The runtime may give fewer threads than asked (nested region, thread limit): keep those it gave.
  thread_cores.erase(std::remove(thread_cores.begin(), thread_cores.end(), -1), thread_cores.end());
  const std::lock_guard lock(g_pinning_mutex);
  g_thread_cores = thread_cores;
  return thread_cores;
}

int allowed_cores() { return std::max(1, count_of(allowed_topology().get(), HWLOC_OBJ_CORE)); }

ThreadChoice choose_threads(int requested) {
  ThreadChoice c;
  c.requested = requested > 0 ? requested : omp_get_max_threads();
  const int cores = allowed_cores();
  c.threads = std::min(c.requested, cores);
  if (c.threads < c.requested)
    c.warning = fmt::format(
        "{} threads requested ({}) but this process may run on {} core{}: using {}, one per core "
        "(more threads would only share the cores and distort the figures)",
        c.requested, requested > 0 ? "--threads" : "OMP_NUM_THREADS or OpenMP's default", cores,
        cores == 1 ? "" : "s", c.threads);
  return c;
}

namespace {
double load_average() {
  std::ifstream loadavg("/proc/loadavg");
  double one_minute = -1;
  return loadavg >> one_minute ? one_minute : -1;
}
}  // namespace

ThreadingContext threading_context() {
  ThreadingContext t;
  t.omp_threads = omp_get_max_threads();
  t.omp_proc_bind = proc_bind_name(omp_get_proc_bind());
  if (const char* env = std::getenv("OMP_PROC_BIND")) t.omp_proc_bind += fmt::format(" (OMP_PROC_BIND={})", env);
  t.omp_places = fmt::format("{} ({} places)", env_or("OMP_PLACES", "unset"), omp_get_num_places());
  t.load_average = load_average();
  const std::lock_guard lock(g_pinning_mutex);
  t.thread_cores = g_thread_cores;
  if (!t.thread_cores.empty()) t.omp_proc_bind += fmt::format("; infercost pinned {} thread(s) with hwloc", t.thread_cores.size());
  return t;
}

Ceilings measure_ceilings(int threads, double seconds_budget, std::size_t array_bytes) {
  const Clock::time_point start = Clock::now();
  Ceilings c;
  c.threads = choose_threads(threads).threads;
  if (quick_mode()) seconds_budget = std::min(seconds_budget, 0.3);
  const ProbeSet& p = ceilings::best_probes(max_isa());
  c.isa = p.name;
  c.fma_flops_per_s = measure_fma(p, c.threads, 0.2 * seconds_budget);

  // One array serves both loops: read sums all of it; triad splits it into a, b, c thirds.
  const std::size_t n = ceilings_array_bytes(array_bytes) / sizeof(float);
  if (n == 0) throw std::invalid_argument(fmt::format("measure_ceilings: array of {} bytes is too small", array_bytes));
  c.array_bytes = n * sizeof(float);
  const Scratch array(n);
  float* x = array.data();
  first_touch(x, n, c.threads);
  // What is left of the budget after the FMA probe and the first touch, shared by the two loops.
  const double left = std::max(0.0, seconds_budget - seconds_since(start));
  c.read_bytes_per_s = median_bandwidth(static_cast<double>(n * sizeof(float)), 0.5 * left,
                                        [&] { return time_read(p, x, n, c.threads); });
  const std::size_t third = n / 3;
  c.triad_bytes_per_s = median_bandwidth(static_cast<double>(third * 3 * sizeof(float)), 0.5 * left, [&] {
    return time_triad(p, x, x + third, x + 2 * third, third, c.threads);
  });
  c.seconds = seconds_since(start);
  return c;
}

std::size_t ceilings_array_bytes(std::size_t array_bytes) {
  return (array_bytes > 0 ? array_bytes : default_array_bytes()) / sizeof(float) / 48 * 48 * sizeof(float);
}

const Ceilings& process_ceilings() {
  static const Ceilings ceilings = measure_ceilings(omp_get_max_threads());
  return ceilings;
}

double roofline_seconds(double flops, double bytes, const Ceilings& c) {
  return std::max(flops / c.fma_flops_per_s, bytes / c.read_bytes_per_s);
}

double roofline_fraction(double flops, double bytes, double seconds, const Ceilings& c) {
  return roofline_seconds(flops, bytes, c) / seconds;
}

nlohmann::json to_json(const CacheLevel& c) {
  return {{"level", c.level}, {"type", c.type}, {"bytes", c.bytes}, {"count", c.count}};
}

nlohmann::json to_json(const Topology& t) {
  nlohmann::json caches = nlohmann::json::array();
  for (const CacheLevel& c : t.caches) caches.push_back(to_json(c));
  return {{"cpu_model", t.cpu_model},
          {"packages", t.packages},
          {"cores", t.cores},
          {"hardware_threads", t.hardware_threads},
          {"numa_nodes_allowed", t.numa_nodes_allowed},
          {"numa_nodes_total", t.numa_nodes_total},
          {"caches", caches},
          {"memory_total_bytes", t.memory_total_bytes},
          {"memory_available_bytes", t.memory_available_bytes},
          {"transparent_hugepages", t.transparent_hugepages},
          {"isa_flags", t.isa_flags},
          {"isa_detected", t.isa_detected},
          {"isa_in_use", t.isa_in_use}};
}

nlohmann::json to_json(const BuildContext& b) {
  return {{"compiler", b.compiler}, {"flags", b.flags}, {"build_type", b.build_type}, {"git_commit", b.git_commit}};
}

nlohmann::json to_json(const ThreadingContext& t) {
  return {{"omp_threads", t.omp_threads},
          {"omp_proc_bind", t.omp_proc_bind},
          {"omp_places", t.omp_places},
          {"thread_cores", t.thread_cores},
          {"load_average", t.load_average}};
}

nlohmann::json to_json(const Ceilings& c) {
  return {{"threads", c.threads},
          {"isa", c.isa},
          {"fma_flops_per_s", c.fma_flops_per_s},
          {"read_bytes_per_s", c.read_bytes_per_s},
          {"triad_bytes_per_s", c.triad_bytes_per_s},
          {"array_bytes", c.array_bytes},
          {"seconds", c.seconds}};
}

}  // namespace infercost
