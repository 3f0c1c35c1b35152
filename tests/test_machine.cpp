// This machine's description and ceilings (include/infercost/machine.hpp): a sane topology, the
// probes computing what they claim, plausible ceilings (no timing asserted beyond orders of
// magnitude), the roofline arithmetic, pinning that holds, and `infercost machine`.
#include <gtest/gtest.h>
#include <hwloc.h>
#include <omp.h>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "ceilings.hpp"
#include "infercost/buffer.hpp"
#include "infercost/isa.hpp"
#include "infercost/machine.hpp"
#include "support/cli.hpp"

// Names a probe set in GoogleTest's messages (found by argument-dependent lookup).
namespace infercost::ceilings {
inline void PrintTo(const ProbeSet& p, std::ostream* os) { *os << p.name; }
}  // namespace infercost::ceilings

namespace infercost {
namespace {

// Small arrays and budget: the tests check that the measurement works, not what it measures. One
// thread: on a busy machine a team's parallel regions wait for their most starved thread, which
// can put one loop's figure far below the other's.
constexpr std::size_t kTestArrayBytes = std::size_t{32} << 20;
constexpr double kTestSeconds = 0.15;

const Ceilings& test_ceilings() {
  static const Ceilings c = measure_ceilings(1, kTestSeconds, kTestArrayBytes);
  return c;
}

TEST(Machine, TopologyIsSane) {
  const Topology t = describe_topology();
  EXPECT_FALSE(t.cpu_model.empty());
  EXPECT_GE(t.packages, 1);
  EXPECT_GE(t.cores, 1);
  EXPECT_GE(t.hardware_threads, t.cores);
  ASSERT_FALSE(t.caches.empty());
  for (const CacheLevel& c : t.caches) {
    EXPECT_GE(c.level, 1);
    EXPECT_GT(c.bytes, 0u);
    EXPECT_GE(c.count, 1);
    EXPECT_TRUE(c.type == "data" || c.type == "instruction" || c.type == "unified") << c.type;
  }
  EXPECT_GE(t.numa_nodes_allowed, 1);
  EXPECT_LE(t.numa_nodes_allowed, t.numa_nodes_total);
  EXPECT_GT(t.memory_total_bytes, 0u);
  EXPECT_GT(t.memory_available_bytes, 0u);
  EXPECT_LE(t.memory_available_bytes, t.memory_total_bytes);
  EXPECT_TRUE(t.transparent_hugepages == "always" || t.transparent_hugepages == "madvise" ||
              t.transparent_hugepages == "never" || t.transparent_hugepages == "unknown")
      << t.transparent_hugepages;
  EXPECT_EQ(t.isa_detected, to_string(detected_isa()));
  EXPECT_EQ(t.isa_in_use, to_string(max_isa()));
  EXPECT_EQ(t.isa_flags, cpu_isa_flags());
}

TEST(Machine, BuildContextIsFilled) {
  const BuildContext b = build_context();
  EXPECT_NE(b.compiler.find_first_of("0123456789"), std::string::npos) << b.compiler;  // has a version
  EXPECT_FALSE(b.build_type.empty());
  EXPECT_NE(b.build_type, "unknown");  // CMakeLists.txt passes it to src/machine.cpp
  EXPECT_FALSE(b.git_commit.empty());
}

// The value every lane of every chain has after `iterations` rounds of acc → acc·0.999 + 0.001,
// summed over the 12 chains (their starting values as in kernels/<isa>/ceilings.cpp).
double expected_fma_lane_sum(int iterations) {
  const double starts[] = {0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.1, 1.2};
  double total = 0;
  for (double acc : starts) {
    for (int i = 0; i < iterations; ++i) acc = acc * static_cast<double>(0.999f) + static_cast<double>(0.001f);
    total += acc;
  }
  return total;
}

using ceilings::kProbeSets;
using ceilings::ProbeSet;

class Probes : public ::testing::TestWithParam<ProbeSet> {};

TEST_P(Probes, FmaDoesTheArithmeticItCounts) {
  const ProbeSet& p = GetParam();
  if (detected_isa() < p.isa) GTEST_SKIP() << p.name << " probes need " << to_string(p.isa);
  for (const int iterations : {0, 1, 7, 1000}) {
    const double expected = p.lanes * expected_fma_lane_sum(iterations);
    EXPECT_NEAR(p.fma(iterations), expected, 1e-4 * expected + 1e-5) << iterations << " iterations";
  }
}

TEST_P(Probes, SumAndTriadCoverEveryElement) {
  const ProbeSet& p = GetParam();
  if (detected_isa() < p.isa) GTEST_SKIP() << p.name << " probes need " << to_string(p.isa);
  for (const std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{17}, std::size_t{1000}, std::size_t{4099}}) {
    std::vector<float> b(n), c(n), a(n, std::nanf(""));
    double expected_sum = 0;
    for (std::size_t i = 0; i < n; ++i) {
      b[i] = static_cast<float>(i % 13) * 0.25f;
      c[i] = 1.0f + static_cast<float>(i % 5);
      expected_sum += b[i];
    }
    EXPECT_NEAR(p.sum(b.data(), n), expected_sum, 1e-5 * expected_sum) << "n = " << n;
    p.triad(a.data(), b.data(), c.data(), 0.5f, n);
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(a[i], b[i] + 0.5f * c[i]) << "n = " << n << ", i = " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Machine, Probes, ::testing::ValuesIn(kProbeSets),
                         [](const ::testing::TestParamInfo<ProbeSet>& param_info) { return std::string(param_info.param.name); });

TEST(Machine, CeilingsArePositiveAndPlausible) {
  const Ceilings& c = test_ceilings();
  EXPECT_EQ(c.threads, 1);
  EXPECT_EQ(c.isa, to_string(max_isa() >= Isa::avx512 ? Isa::avx512 : max_isa()));
  EXPECT_GT(c.fma_flops_per_s, 1e9);
  EXPECT_GT(c.read_bytes_per_s, 0.1e9);
  // Reading 4 bytes per FLOP of peak is beyond any memory system: a larger figure is a timing or
  // byte-counting error.
  EXPECT_LT(c.read_bytes_per_s, c.fma_flops_per_s * 4);
  EXPECT_GT(c.triad_bytes_per_s, 0.0);
  EXPECT_LT(c.triad_bytes_per_s, 4 * c.read_bytes_per_s);
  EXPECT_LE(c.array_bytes, kTestArrayBytes);
  EXPECT_GT(c.array_bytes, kTestArrayBytes - 48 * sizeof(float));  // whole blocks of 3 × 16 floats
  EXPECT_GT(c.seconds, 0.0);
}

TEST(Machine, CeilingsFollowTheIsaCap) {
  if (detected_isa() < Isa::avx2) GTEST_SKIP() << "no lower instruction set than portable to cap to";
  set_max_isa(Isa::avx2);
  const Ceilings c = measure_ceilings(1, 0.05, std::size_t{8} << 20);
  set_max_isa(detected_isa());
  EXPECT_EQ(c.isa, "avx2");
  EXPECT_GT(c.fma_flops_per_s, 1e9);
}

TEST(Machine, QuickModeShrinksTheArrays) {
  ASSERT_EQ(setenv("INFERCOST_BENCH_QUICK", "1", 1), 0);
  const Ceilings c = measure_ceilings(1, 10.0);
  unsetenv("INFERCOST_BENCH_QUICK");
  EXPECT_LE(c.array_bytes, std::size_t{256} << 20);  // 256 MiB, rounded down to whole triad blocks
  EXPECT_GT(c.array_bytes, (std::size_t{256} << 20) - 48 * sizeof(float));
  EXPECT_LT(c.seconds, 3.0);                   // the 10 s budget was capped to 0.3 s (+ first touch)
}

TEST(Machine, RooflineSecondsTakesTheLargerBound) {
  Ceilings c;
  c.fma_flops_per_s = 100e9;
  c.read_bytes_per_s = 10e9;
  // Compute-bound: 1e9 FLOP at 100 GFLOP/s = 10 ms beats 1 MB at 10 GB/s = 0.1 ms.
  EXPECT_DOUBLE_EQ(roofline_seconds(1e9, 1e6, c), 0.01);
  // Memory-bound: 1 GB at 10 GB/s = 0.1 s beats 1e6 FLOP = 10 µs.
  EXPECT_DOUBLE_EQ(roofline_seconds(1e6, 1e9, c), 0.1);
  // At the machine balance (10 FLOP per byte) both bounds are equal.
  EXPECT_DOUBLE_EQ(roofline_seconds(1e10, 1e9, c), 0.1);
  EXPECT_DOUBLE_EQ(roofline_fraction(1e6, 1e9, 0.2, c), 0.5);
  EXPECT_DOUBLE_EQ(roofline_fraction(1e9, 1e6, 0.01, c), 1.0);
}

TEST(Machine, JsonHasTheFields) {
  const nlohmann::json topology = to_json(describe_topology());
  for (const char* key : {"cpu_model", "packages", "cores", "hardware_threads", "numa_nodes_allowed",
                          "numa_nodes_total", "caches", "memory_total_bytes", "memory_available_bytes",
                          "transparent_hugepages", "isa_flags", "isa_detected", "isa_in_use"})
    EXPECT_TRUE(topology.contains(key)) << key;
  ASSERT_FALSE(topology["caches"].empty());
  for (const char* key : {"level", "type", "bytes", "count"}) EXPECT_TRUE(topology["caches"][0].contains(key)) << key;

  const nlohmann::json build = to_json(build_context());
  for (const char* key : {"compiler", "flags", "build_type", "git_commit"}) EXPECT_TRUE(build.contains(key)) << key;

  const nlohmann::json threading = to_json(threading_context());
  for (const char* key : {"omp_threads", "omp_proc_bind", "omp_places", "thread_cores", "load_average"})
    EXPECT_TRUE(threading.contains(key)) << key;

  const nlohmann::json ceilings = to_json(test_ceilings());
  for (const char* key : {"threads", "isa", "fma_flops_per_s", "read_bytes_per_s", "triad_bytes_per_s",
                          "array_bytes", "seconds"})
    EXPECT_TRUE(ceilings.contains(key)) << key;
  EXPECT_DOUBLE_EQ(ceilings["fma_flops_per_s"].get<double>(), test_ceilings().fma_flops_per_s);
}

// The cpuset each thread of a `threads`-thread region is bound to, as the OS reports it.
std::vector<hwloc_bitmap_t> bindings_of_team(hwloc_topology_t topology, int threads) {
  std::vector<hwloc_bitmap_t> sets(static_cast<std::size_t>(threads));
  for (hwloc_bitmap_t& s : sets) s = hwloc_bitmap_alloc();
#pragma omp parallel num_threads(threads)
  hwloc_get_cpubind(topology, sets[static_cast<std::size_t>(omp_get_thread_num())], HWLOC_CPUBIND_THREAD);
  return sets;
}

TEST(Machine, PinThreadsBindsEachThreadToItsOwnCoreAndTheBindingPersists) {
  const int threads = std::min(describe_topology().cores, omp_get_max_threads());
  const std::vector<int> cores = pin_threads(threads);
  ASSERT_EQ(cores.size(), static_cast<std::size_t>(threads));
  EXPECT_EQ(std::set<int>(cores.begin(), cores.end()).size(), cores.size()) << "two threads share a core";
  EXPECT_EQ(threading_context().thread_cores, cores);

  // A later parallel region of the same size runs on the pinned threads: each is bound to its core.
  hwloc_topology_t topology;
  ASSERT_EQ(hwloc_topology_init(&topology), 0);
  ASSERT_EQ(hwloc_topology_load(topology), 0);
  std::vector<hwloc_bitmap_t> sets = bindings_of_team(topology, threads);
  for (int t = 0; t < threads; ++t) {
    const hwloc_obj_t core = hwloc_get_obj_by_type(topology, HWLOC_OBJ_CORE, static_cast<unsigned>(cores[t]));
    EXPECT_TRUE(hwloc_bitmap_isequal(sets[static_cast<std::size_t>(t)], core->cpuset)) << "thread " << t;
    hwloc_bitmap_free(sets[static_cast<std::size_t>(t)]);
  }
  hwloc_topology_destroy(topology);
}

TEST(Machine, PinThreadsRefusesZeroThreads) { EXPECT_THROW(pin_threads(0), std::invalid_argument); }

using testing::CommandResult;

// The command in quick mode (256 MiB arrays, not 2 GiB): the environment passes to the child.
CommandResult run_cli(const std::string& args) {
  setenv("INFERCOST_BENCH_QUICK", "1", 1);
  CommandResult r = testing::run_cli(args);
  unsetenv("INFERCOST_BENCH_QUICK");
  return r;
}

TEST(Machine, CommandPrintsJsonWithTheCeilings) {
  const CommandResult r = run_cli("machine --json --threads 1 --seconds 0.1");
  ASSERT_EQ(r.status, 0) << r.output;
  const nlohmann::json j = nlohmann::json::parse(r.stdout_text);
  EXPECT_EQ(j["ceilings"]["threads"], 1);
  EXPECT_GT(j["ceilings"]["fma_flops_per_s"].get<double>(), 1e9);
  EXPECT_GT(j["ceilings"]["read_bytes_per_s"].get<double>(), 0.1e9);
  EXPECT_GT(j["ceilings"]["triad_bytes_per_s"].get<double>(), 0.0);
  EXPECT_GT(j["machine_balance_flop_per_byte"].get<double>(), 0.0);
  EXPECT_GE(j["topology"]["cores"].get<int>(), 1);
  EXPECT_EQ(j["threading"]["thread_cores"], nlohmann::json::array({0}));
  EXPECT_TRUE(j["build"].contains("git_commit"));
}

TEST(Machine, CommandPrintsATable) {
  const CommandResult r = run_cli("machine --threads 1 --seconds 0.1");
  ASSERT_EQ(r.status, 0) << r.output;
  for (const char* text : {"Topology", "Build", "Threading", "thread 0 → core 0", "peak fp32 FMA", "read bandwidth",
                           "triad bandwidth", "machine balance"})
    EXPECT_NE(r.output.find(text), std::string::npos) << text << " missing from\n" << r.output;
}

TEST(Machine, CommandRefusesBadInput) {
  EXPECT_EQ(run_cli("machine --threads -1").status, 2);
  EXPECT_EQ(run_cli("machine --seconds 0").status, 2);
  EXPECT_EQ(run_cli("machine --bogus").status, 2);
}

// The memory plan ignored the cgroup: inside a 100 MiB cgroup it planned against the machine's
// 23 GiB and was OOM-killed. A fake cgroup tree of each version, with a parent's limit binding.
class CgroupTree : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() / ("infercost_cgroup_" + std::to_string(::getpid()) + "_" +
                                                      ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  void put(const std::filesystem::path& relative, const std::string& text) {
    std::filesystem::create_directories((root_ / relative).parent_path());
    std::ofstream(root_ / relative) << text;
  }
  std::filesystem::path root_;
};

constexpr std::size_t kMiB = std::size_t{1} << 20;

TEST_F(CgroupTree, V2LimitMinusUsageWithInactivePageCacheFree) {
  put("memory.max", "max\n");
  put("jobs/memory.max", std::to_string(300 * kMiB) + "\n");
  put("jobs/memory.current", std::to_string(10 * kMiB) + "\n");
  put("jobs/ci/memory.max", std::to_string(100 * kMiB) + "\n");
  put("jobs/ci/memory.current", std::to_string(40 * kMiB) + "\n");
  put("jobs/ci/memory.stat", "anon 1\ninactive_file " + std::to_string(15 * kMiB) + "\n");
  EXPECT_EQ(cgroup_memory_room("0::/jobs/ci\n", root_), 75 * kMiB);
  put("jobs/memory.current", std::to_string(290 * kMiB) + "\n");  // the parent binds
  EXPECT_EQ(cgroup_memory_room("0::/jobs/ci\n", root_), 10 * kMiB);
  EXPECT_EQ(cgroup_memory_room("0::/\n", root_), std::nullopt);  // "max": no limit
}

TEST_F(CgroupTree, V1MemoryControllerAndNoLimit) {
  put("memory/memory.limit_in_bytes", "9223372036854771712\n");  // v1's "unlimited"
  put("memory/job/memory.limit_in_bytes", std::to_string(100 * kMiB) + "\n");
  put("memory/job/memory.usage_in_bytes", std::to_string(30 * kMiB) + "\n");
  put("memory/job/memory.stat", "cache 5\ntotal_inactive_file " + std::to_string(10 * kMiB) + "\n");
  const std::string self = "5:devices:/\n4:memory:/job\n0::/\n";
  EXPECT_EQ(cgroup_memory_room(self, root_), 80 * kMiB);
  EXPECT_EQ(cgroup_memory_room("4:memory:/\n", root_), std::nullopt);
  EXPECT_EQ(cgroup_memory_room("", root_), std::nullopt);
}

TEST(AvailableMemory, IsPositiveAndNamesItsLimit) {
  const AvailableMemory a = available_memory();
  EXPECT_GT(a.bytes, 0u);
  EXPECT_FALSE(a.limited_by.empty());
}

}  // namespace
}  // namespace infercost
