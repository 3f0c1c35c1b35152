// `infercost machine`: this machine's topology, the build, the threading (with pinning), and the
// measured ceilings every "% of roofline" divides by.
#include <fmt/core.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"
#include "infercost/buffer.hpp"
#include "infercost/config.hpp"
#include "infercost/external.hpp"
#include "infercost/isa.hpp"
#include "infercost/machine.hpp"

namespace infercost::cli {
namespace {

struct MachineArgs {
  bool json = false;
  int threads = 0;  // 0: OpenMP's default
  double seconds = 3.0;
};

std::string bytes_text(double bytes) {
  constexpr std::array<const char*, 4> kUnits = {"B", "KiB", "MiB", "GiB"};
  std::size_t unit = 0;
  while (bytes >= 1024 && unit + 1 < kUnits.size()) {
    bytes /= 1024;
    ++unit;
  }
  return fmt::format("{:.4g} {}", bytes, kUnits[unit]);
}

std::string cache_text(const CacheLevel& c) {
  const std::string_view suffix = c.type == "data" ? "d" : c.type == "instruction" ? "i" : "";
  return fmt::format("L{}{} {} × {}", c.level, suffix, bytes_text(static_cast<double>(c.bytes)), c.count);
}

template <typename T, typename Format>
std::string joined(const std::vector<T>& items, std::string_view separator, Format format) {
  std::string text;
  for (const T& item : items) text += (text.empty() ? "" : std::string(separator)) + format(item);
  return text;
}

// What OpenBLAS runs, and a warning when it runs a kernel older than this CPU allows (docs/benchmarking.md:
// Debian 12's OpenBLAS falls back to "Prescott" on CPUs it does not know, 4-6× slower sgemm).
struct BlasCheck {
  std::string core;
  std::string warning;  // empty when the kernel fits the CPU
};

bool has_flag(const Topology& t, std::string_view flag) {
  return std::find(t.isa_flags.begin(), t.isa_flags.end(), flag) != t.isa_flags.end();
}

bool core_is_one_of(std::string core, std::initializer_list<std::string_view> names) {
  std::transform(core.begin(), core.end(), core.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return std::any_of(names.begin(), names.end(), [&](std::string_view name) { return core == name; });
}

std::optional<BlasCheck> check_openblas([[maybe_unused]] const Topology& t) {
#ifdef INFERCOST_HAVE_OPENBLAS
  BlasCheck check{openblas_core_name(), ""};
  const bool avx512_core = core_is_one_of(check.core, {"skylakex", "cooperlake", "sapphirerapids"});
  const bool avx2_core = avx512_core || core_is_one_of(check.core, {"haswell", "zen"});
  const auto advice = [&](std::string_view isa, std::string_view coretype) {
    return fmt::format("OpenBLAS runs its '{}' kernels but this CPU has {}: its sgemm is several times "
                       "slower than it could be; set OPENBLAS_CORETYPE={} for a fair comparison",
                       check.core, isa, coretype);
  };
  if (has_flag(t, "avx512f") && !avx512_core)
    check.warning = advice("AVX-512", "SkylakeX");
  else if (has_flag(t, "avx2") && !avx2_core)
    check.warning = advice("AVX2", "Haswell");
  return check;
#else
  return std::nullopt;
#endif
}

void row(std::string_view name, std::string_view value) { fmt::print("  {:<18}{}\n", name, value); }

void print_topology(const Topology& t) {
  fmt::print("Topology\n");
  row("CPU", t.cpu_model);
  row("packages", std::to_string(t.packages));
  row("cores", fmt::format("{} ({} hardware threads)", t.cores, t.hardware_threads));
  row("NUMA nodes", fmt::format("{} allowed of {}", t.numa_nodes_allowed, t.numa_nodes_total));
  row("caches", joined(t.caches, ", ", cache_text));
  row("memory", fmt::format("{} total, {} available", bytes_text(static_cast<double>(t.memory_total_bytes)),
                            bytes_text(static_cast<double>(t.memory_available_bytes))));
  row("huge pages", fmt::format("transparent: {}", t.transparent_hugepages));
  row("ISA", fmt::format("detected {}, in use {}", t.isa_detected, t.isa_in_use));
  row("ISA flags", joined(t.isa_flags, " ", [](const std::string& s) { return s; }));
}

void print_build(const BuildContext& b) {
  fmt::print("Build\n");
  row("compiler", b.compiler);
  row("build type", b.build_type);
  row("flags", b.flags.empty() ? "(none)" : b.flags);
  row("git commit", b.git_commit);
}

void print_threading(const ThreadingContext& t) {
  fmt::print("Threading\n");
  row("OpenMP threads", std::to_string(t.omp_threads));
  row("OMP_PROC_BIND", t.omp_proc_bind);
  row("OMP_PLACES", t.omp_places);
  std::vector<std::string> pins;
  for (std::size_t i = 0; i < t.thread_cores.size(); ++i)
    pins.push_back(fmt::format("thread {} → core {}", i, t.thread_cores[i]));
  row("pinning", pins.empty() ? "none" : joined(pins, ", ", [](const std::string& s) { return s; }));
  if (t.load_average >= 0) row("load average", fmt::format("{:.2f} (1 minute, before measuring)", t.load_average));
}

// A machine busier than it has cores shares them with other work while the probes run, which
// lowers every ceiling (docs/benchmarking.md: the development machines are shared VMs).
std::string busy_warning(const ThreadingContext& t, const Topology& topology) {
  if (t.load_average <= topology.cores) return "";
  return fmt::format("the load average ({:.1f}) exceeds the {} cores: other work shares them, so these "
                     "ceilings are low; measure again on a quiet machine",
                     t.load_average, topology.cores);
}

void print_ceilings(const Ceilings& c) {
  fmt::print("Ceilings ({} thread{}, {} probes, {} arrays, measured in {:.2f} s)\n", c.threads,
             c.threads == 1 ? "" : "s", c.isa, bytes_text(static_cast<double>(c.array_bytes)), c.seconds);
  row("peak fp32 FMA", fmt::format("{:.1f} GFLOP/s", c.fma_flops_per_s / 1e9));
  row("read bandwidth", fmt::format("{:.2f} GB/s", c.read_bytes_per_s / 1e9));
  row("triad bandwidth", fmt::format("{:.2f} GB/s   (a = b + s·c, 12 bytes per element)", c.triad_bytes_per_s / 1e9));
  row("machine balance", fmt::format("{:.1f} FLOP per byte (peak FMA / read bandwidth)",
                                     c.fma_flops_per_s / c.read_bytes_per_s));
}

void run(const MachineArgs& a, const CLI::App& cmd) {
  if (!cmd.remaining().empty())
    throw ConfigError(fmt::format("machine: unexpected argument '{}'", cmd.remaining().front()));
  if (a.threads < 0) throw ConfigError(fmt::format("threads: {} is negative; allowed: 0 (default) or more", a.threads));
  if (a.seconds <= 0) throw ConfigError(fmt::format("seconds: {} is not positive", a.seconds));
  ensure_fits_in_memory(static_cast<double>(ceilings_array_bytes()), "the ceiling measurement's array");
  const ThreadChoice choice = choose_threads(a.threads);  // capped at the cores: ceilings never inflated
  if (!choice.warning.empty()) fmt::print(stderr, "infercost machine: warning: {}\n", choice.warning);
  const int threads = choice.threads;
  omp_set_num_threads(threads);
  pin_threads(threads);  // before measuring: the ceilings are those of pinned threads, as the benches'

  const Topology topology = describe_topology();
  const BuildContext build = build_context();
  const ThreadingContext threading = threading_context();
  const Ceilings ceilings = measure_ceilings(threads, a.seconds);
  const std::optional<BlasCheck> blas = check_openblas(topology);
  const double balance = ceilings.fma_flops_per_s / ceilings.read_bytes_per_s;
  const std::string busy = busy_warning(threading, topology);

  if (a.json) {
    nlohmann::json j = {{"topology", to_json(topology)},
                        {"threads_requested", choice.requested},
                        {"threads_warning", choice.warning},
                        {"build", to_json(build)},
                        {"threading", to_json(threading)},
                        {"ceilings", to_json(ceilings)},
                        {"machine_balance_flop_per_byte", balance},
                        {"busy_warning", busy}};
    if (blas) j["openblas"] = {{"core", blas->core}, {"warning", blas->warning}};
    fmt::print("{}\n", j.dump(2));
    return;
  }
  print_topology(topology);
  print_build(build);
  print_threading(threading);
  if (blas) {
    fmt::print("OpenBLAS\n");
    row("core", blas->core);
    if (!blas->warning.empty()) row("WARNING", blas->warning);
  }
  print_ceilings(ceilings);
  if (!busy.empty()) row("WARNING", busy);
}

}  // namespace

void add_machine_command(CLI::App& app) {
  auto args = std::make_shared<MachineArgs>();
  CLI::App* cmd = app.add_subcommand("machine",
                                     "This machine: topology, build, threading, and its measured ceilings "
                                     "(peak FMA rate, read and triad bandwidth)");
  cmd->add_flag("--json", args->json, "Print JSON");
  cmd->add_option("--threads", args->threads, "Threads to pin and measure with (default: OpenMP's count)");
  cmd->add_option("--seconds", args->seconds, "Time budget of the measurement, about (default 3)");
  cmd->footer(
      "Threads are pinned one per core (hwloc) before measuring. INFERCOST_BENCH_QUICK=1 measures on "
      "256 MiB arrays\nin about 0.3 s (cache effects included): for smoke tests, not for figures.");
  cmd->allow_extras();  // run() refuses them, exiting 2 like any bad input
  cmd->callback([args, cmd] { run(*args, *cmd); });
}

}  // namespace infercost::cli
