// `infercost run`: measures one layer of the classic design (GQA + dense SwiGLU) and of DeepSeek's
// (MLA + DeepSeekMoE) at their real shape, and each attention variant and feed-forward on its own,
// each case beside the cost model's prediction and this machine's roofline (docs/design.md).
//
// Every case is measured cold, as a layer of a deep model sees it: before every timed call the
// caches are flushed by streaming through a buffer larger than the last-level cache, since in a
// deep model the other layers' weights and KV caches evict this layer's between two of its calls.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "infercost/config.hpp"
#include "infercost/dtype.hpp"
#include "infercost/results.hpp"

namespace infercost {

enum class Suite {
  quick,     // the "tiny" pair, a handful of points: seconds, for tests and CI
  standard,  // `infercost run`: the "small" pair, a few points per kind, under 5 minutes on 2 cores
  full,      // the whole grid
};
std::string_view to_string(Suite suite);   // "quick", "default", "full"
Suite parse_suite(std::string_view text);  // throws ConfigError

// One design measured: a model and the layer of it that runs (its first MoE layer when it has
// one, else layer 0).
struct Design {
  std::string name;  // "classic", "deepseek", or the model's name when only one is given
  ModelConfig model;
  int layer = 0;

  bool operator==(const Design&) const = default;
};

struct RunConfig {
  Suite suite = Suite::standard;
  std::vector<Design> designs;  // see designs_from_models()
  int threads = 0;              // 0: OpenMP's default
  DType weight_dtype = DType::bf16;
  DType kv_dtype = DType::bf16;
  double budget_fraction = 0.5;        // of MemAvailable at the start, when budget_bytes is 0
  double budget_bytes = 0;             // the memory budget of the max-throughput cases
  std::vector<std::int64_t> contexts;  // decode depths; empty: the suite's
  std::vector<std::int64_t> batches;   // decode batches; empty: the suite's
  std::uint64_t seed = 1;
  std::vector<std::string> command_line;
};

// "classic,deepseek" (two presets or config.json paths) or one; empty: the suite's default pair
// ("tiny-gqa,tiny" for quick, "small-gqa,small-mla" otherwise). When only the first of a pair has
// MLA or MoE, the two are swapped, so the DeepSeek-style model takes the deepseek role in either
// order. Throws ConfigError.
std::vector<Design> designs_from_models(std::string_view models, Suite suite);

// What a run will do, decided before anything is allocated.
struct PlannedCase {
  std::string id, kind, design;
  std::int64_t context = 0;  // L: prefill length, or decode depth
  std::int64_t batch = 1;    // B: sequences decoded together (FFN alone: tokens)
};

struct RunPlan {
  std::vector<PlannedCase> cases;
  double budget_bytes = 0;  // the max-throughput budget
  // Memory the run will hold at its peak, estimated from the cost model before allocating: the
  // ceiling measurement's array first (freed before the layers are built), then the weights, the
  // largest case's KV caches and activations and the cache-eviction buffer together.
  double weight_bytes = 0, largest_case_bytes = 0, eviction_bytes = 0, activation_bytes = 0;
  double ceilings_bytes = 0;
  double available_bytes = 0;  // available_memory() when planned
  std::string available_of;    // the limit that decided it: MemAvailable, the cgroup's, ulimit -v
  double measuring_bytes() const { return weight_bytes + largest_case_bytes + eviction_bytes + activation_bytes; }
  double total_bytes() const { return std::max(ceilings_bytes, measuring_bytes()); }
};

// The kernels the run will use ("gemm=avx2 ..."), with those INFERCOST_IMPL forces; throws
// ConfigError when it names an unknown operator or kernel, or one this CPU or dtype cannot run.
std::string checked_implementations(const RunConfig& config);

// Plans the run; throws ConfigError naming the figures when its memory would not fit in what the
// machine has available. Allocates nothing.
RunPlan plan_run(const RunConfig& config);

// Set by SIGINT or SIGTERM (what `timeout`, CI runners and service managers send) once
// install_interrupt_handler() has run; a run stops between two cases when set. A second signal
// ends the process at once.
std::atomic<bool>& stop_requested();
// The signal that set stop_requested(), 0 when none did.
std::atomic<int>& stop_signal();
void install_interrupt_handler();

struct RunHooks {
  // After each finished case (ok, failed or skipped), once the results file holds it.
  std::function<void(const CaseRecord& finished, std::size_t index, std::size_t total)> on_case_done;
  // The progress line, "[ 7/42] decode classic L=4096 B=1 ... 0:41 elapsed, ~2:10 left".
  std::function<void(const std::string& line)> on_progress;
  // Before each case is measured; what it throws makes that case "failed" (as a kernel's error would).
  std::function<void(const PlannedCase& next)> before_case;
};

// Checks the kernels INFERCOST_IMPL forces and the results path, and plans (refusing a run that does
// not fit): each throws ConfigError before anything is measured or written. Then measures the
// machine's ceilings, builds the layers and runs every case, rewriting `out` atomically after each
// one; stops early when stop_requested(). The record's status is "complete" or "interrupted".
// When memory runs out during set-up or `out` cannot be written, the file (where it still can be
// written) says "failed" and why, and std::runtime_error says the same.
RunRecord run_and_record(const RunConfig& config, const std::filesystem::path& out, const RunHooks& hooks = {});

// The exit status `infercost run` gives a finished record: 0 when every case is ok or skipped,
// 1 when a case failed, 128 + the signal when a signal stopped it (130 SIGINT, 143 SIGTERM).
int run_exit_status(const RunRecord& record);

// The tables printed at the end: every case, then the classic-vs-DeepSeek comparison (when the run
// measured both) with each measured ratio beside the cost model's.
std::string format_run_tables(const RunRecord& record);

}  // namespace infercost
