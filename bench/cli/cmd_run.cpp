// `infercost run`: measures the classic and the DeepSeek layer on this machine (harness.hpp), with a
// progress line while it runs, the tables at the end and the results JSON.
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "infercost/buffer.hpp"
#include "infercost/config.hpp"
#include "infercost/harness.hpp"
#include "infercost/machine.hpp"
#include "infercost/results.hpp"

namespace infercost::cli {
namespace {

struct RunArgs {
  std::string suite = "default";
  std::string model;
  int threads = 0;
  std::string out;
  std::string weight_dtype = "bf16", kv_dtype = "bf16";
  double budget_fraction = 0.5;
  double budget_gib = 0;
  std::vector<std::int64_t> contexts, batches;
  std::uint64_t seed = 1;
  bool list = false;
};

DType parse_dtype(const std::string& text, const char* field) {
  if (text == "fp32") return DType::f32;
  if (text == "bf16") return DType::bf16;
  if (text == "fp8") return DType::f8;
  throw ConfigError(fmt::format("{}: '{}' is not fp32, bf16 or fp8", field, text));
}

RunConfig to_config(const RunArgs& a, std::vector<std::string> command_line) {
  RunConfig c;
  c.suite = parse_suite(a.suite);
  c.designs = designs_from_models(a.model, c.suite);
  if (a.threads < 0) throw ConfigError(fmt::format("threads: {} is negative", a.threads));
  c.threads = a.threads;
  c.weight_dtype = parse_dtype(a.weight_dtype, "weight-dtype");
  if (c.weight_dtype == DType::f8) throw ConfigError("weight-dtype: 'fp8' is not fp32 or bf16");
  c.kv_dtype = parse_dtype(a.kv_dtype, "kv-dtype");
  c.budget_fraction = a.budget_fraction;
  if (a.budget_gib < 0) throw ConfigError(fmt::format("budget-gib: {} is negative", a.budget_gib));
  c.budget_bytes = a.budget_gib * static_cast<double>(std::size_t{1} << 30);
  c.contexts = a.contexts;
  c.batches = a.batches;
  c.seed = a.seed;
  c.command_line = std::move(command_line);
  return c;
}

// The progress line: rewritten in place on a terminal, one line per case otherwise (logs, pipes).
void print_progress(const std::string& line) {
  static const bool terminal = isatty(fileno(stderr)) != 0;
  if (terminal)
    fmt::print(stderr, "\r{}\033[K", line);
  else
    fmt::print(stderr, "{}\n", line);
  std::fflush(stderr);
}

void run(const RunArgs& args, const std::vector<std::string>& command_line) {
  const RunConfig config = to_config(args, command_line);
  checked_implementations(config);  // INFERCOST_IMPL, before anything else
  // Where the results go, checked before anything is planned or measured: a directory or a device
  // is refused (exit 2) rather than replaced.
  const std::filesystem::path out = args.out.empty()
                                        ? default_results_path("results/runs", to_string(config.suite))
                                        : std::filesystem::path(args.out);
  resolve_results_path(out);
  const RunPlan plan = plan_run(config);  // a run that does not fit is refused here, exit 2
  std::string designs;
  for (const Design& d : config.designs)
    designs += fmt::format("{}{} = {} layer {}", designs.empty() ? "" : ", ", d.name, d.model.name, d.layer);
  fmt::print(
      "infercost run: {} suite, {} cases ({}); memory planned {:.2f} GiB of {:.2f} GiB available ({}); "
      "max-throughput budget {:.2f} GiB\n",
      to_string(config.suite), plan.cases.size(), designs, plan.total_bytes() / (1 << 30),
      plan.available_bytes / (1 << 30), plan.available_of, plan.budget_bytes / (1 << 30));
  if (args.list) {
    for (std::size_t i = 0; i < plan.cases.size(); ++i) fmt::print("{:>4}  {}\n", i + 1, plan.cases[i].id);
    fmt::print(
        "planned memory: the larger of the ceiling measurement's array {:.3f} GiB and weights {:.3f} GiB + "
        "largest case's KV cache {:.3f} GiB + eviction buffer {:.3f} GiB + activations about {:.3f} GiB\n",
        plan.ceilings_bytes / (1 << 30), plan.weight_bytes / (1 << 30), plan.largest_case_bytes / (1 << 30),
        plan.eviction_bytes / (1 << 30), plan.activation_bytes / (1 << 30));
    fmt::print("results would go to: {}\n", out.string());
    return;
  }
  if (const ThreadChoice threads = choose_threads(config.threads); !threads.warning.empty())
    fmt::print(stderr, "infercost run: warning: {}\n", threads.warning);
  fmt::print("results: {}\n", out.string());
  std::fflush(stdout);

  install_interrupt_handler();
  RunHooks hooks;
  hooks.on_progress = print_progress;
  const RunRecord record = run_and_record(config, out, hooks);
  if (isatty(fileno(stderr))) fmt::print(stderr, "\n");
  fmt::print("\n{}\nresults: {}\n", format_run_tables(record), out.string());
  std::fflush(stdout);
  const int status = run_exit_status(record);
  if (record.status == "interrupted")
    fmt::print(stderr, "infercost run: {}; the finished cases are kept in {}\n",
               record.error.empty() ? "interrupted" : record.error, out.string());
  else if (status != 0)
    fmt::print(stderr, "infercost run: {} of {} cases failed (see above and {})\n",
               record.summary["cases"].value("failed", 0), record.cases.size(), out.string());
  // As a shell reports a process a signal ended (130 SIGINT, 143 SIGTERM), or 1 for failed cases.
  if (status != 0) throw RunExit(status);
}

}  // namespace

void add_run_command(CLI::App& app, std::vector<std::string> command_line) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* cmd =
      app.add_subcommand("run",
                         "Measure one layer of the classic design and of DeepSeek's, and each attention and FFN alone, "
                         "beside the cost model and this machine's roofline");
  cmd->add_option("--suite", args->suite, "quick (tiny models, seconds), default (under 5 min on 2 cores) or full")
      ->capture_default_str();
  cmd->add_option("--model", args->model,
                  "\"classic,deepseek\" (presets or config.json paths) or one model; default small-gqa,small-mla "
                  "(quick: tiny-gqa,tiny)");
  cmd->add_option("--threads", args->threads, "OpenMP threads, pinned one per core (0: OpenMP's default)");
  cmd->add_option("--out", args->out,
                  "results JSON: a regular file (replaced) or a new path; default "
                  "results/runs/<UTC time>-<suite>-<pid>.json");
  cmd->add_option("--weight-dtype", args->weight_dtype, "fp32 or bf16")->capture_default_str();
  cmd->add_option("--kv-dtype", args->kv_dtype, "fp32, bf16 or fp8")->capture_default_str();
  cmd->add_option("--budget-fraction", args->budget_fraction,
                  "max-throughput memory budget as a fraction of the memory available (the least of MemAvailable, "
                  "the cgroup's limit and ulimit -v)")
      ->capture_default_str();
  cmd->add_option("--budget-gib", args->budget_gib, "max-throughput memory budget in GiB (instead of the fraction)");
  cmd->add_option("--context", args->contexts, "decode depths L, replacing the suite's (comma-separated)")
      ->delimiter(',');
  cmd->add_option("--batch", args->batches, "decode batches B, replacing the suite's (comma-separated)")
      ->delimiter(',');
  cmd->add_option("--seed", args->seed, "seed of the random weights, inputs and caches")->capture_default_str();
  cmd->add_flag("--list", args->list, "Print the planned cases and memory, and exit without measuring");
  cmd->footer(
      "Every case is timed cold (CPU caches flushed before each call), with a warm-up, repetitions, the median and "
      "spread,\nthe kernels that ran, the cost model's prediction and the fraction of the measured roofline. "
      "Ctrl-C (SIGINT) or\nSIGTERM stops between cases and keeps the finished ones (exit 130 or 143). Exit 1 when a "
      "case failed\nor the run could not go on (out of memory, results not writable), 2 for bad input.");
  cmd->callback([args, command_line = std::move(command_line)] { run(*args, command_line); });
}

}  // namespace infercost::cli
