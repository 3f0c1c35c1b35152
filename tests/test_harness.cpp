// `infercost run`: the quick suite end to end (in process and through the program), the figures
// every case must carry, KV bytes equal to the cost model's, refusal of a run that cannot fit,
// and an interrupted run that keeps its finished cases.
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "infercost/buffer.hpp"
#include "infercost/config.hpp"
#include "infercost/cost_model.hpp"
#include "infercost/harness.hpp"
#include "infercost/machine.hpp"
#include "infercost/results.hpp"
#include "support/cli.hpp"

namespace infercost {
namespace {

namespace fs = std::filesystem;

fs::path scratch_path(const std::string& name) {
  return fs::temp_directory_path() / ("infercost_harness_" + std::to_string(::getpid())) / name;
}

RunConfig quick_config() {
  RunConfig c;
  c.suite = Suite::quick;
  c.designs = designs_from_models("", Suite::quick);
  c.command_line = {"infercost_tests", "quick"};
  return c;
}

// One quick run, shared by the tests that only read its record.
const RunRecord& quick_run() {
  static const RunRecord record = run_and_record(quick_config(), scratch_path("quick.json"));
  return record;
}

TEST(Harness, DesignsAreAPairOrOneModel) {
  const auto pair = designs_from_models("small-gqa,small-mla", Suite::standard);
  ASSERT_EQ(pair.size(), 2u);
  EXPECT_EQ(pair[0].name, "classic");
  EXPECT_EQ(pair[1].name, "deepseek");
  EXPECT_EQ(pair[0].layer, 0);
  EXPECT_TRUE(pair[1].model.is_moe_layer(pair[1].layer));  // the DeepSeek block is an MoE layer
  EXPECT_EQ(designs_from_models("", Suite::standard), pair);
  EXPECT_EQ(designs_from_models("", Suite::quick)[1].model.name, "tiny");
  EXPECT_EQ(designs_from_models("small-mla,small-gqa", Suite::standard), pair);  // roles by architecture
  const auto one = designs_from_models("small-mla", Suite::standard);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].name, "small-mla");
  EXPECT_THROW(designs_from_models("a,b,c", Suite::standard), ConfigError);
  EXPECT_THROW(designs_from_models("small-gqa,", Suite::standard), ConfigError);
  EXPECT_THROW(designs_from_models("no-such-model", Suite::standard), ConfigError);
  EXPECT_THROW(parse_suite("fast"), ConfigError);
}

TEST(Harness, TheDefaultPlanCoversEveryKindAndVariant) {
  RunConfig c;
  c.designs = designs_from_models("", Suite::standard);
  const RunPlan plan = plan_run(c);
  std::set<std::string> kinds, designs;
  for (const PlannedCase& p : plan.cases) {
    kinds.insert(p.kind);
    designs.insert(p.design);
  }
  for (const char* kind :
       {"prefill", "decode", "max_throughput", "attention_prefill", "attention_decode", "ffn_prefill", "ffn_decode"})
    EXPECT_TRUE(kinds.count(kind)) << kind;
  for (const char* design : {"classic", "deepseek", "mha", "gqa", "mqa", "mla_naive", "mla_absorbed", "dense", "moe"})
    EXPECT_TRUE(designs.count(design)) << design;
  bool deep = false;
  for (const PlannedCase& p : plan.cases) deep = deep || (p.kind == "decode" && p.context == 32768);
  EXPECT_TRUE(deep) << "decode reaches a 32k context";
}

TEST(Harness, QuickRunMeasuresEveryPlannedCase) {
  const RunRecord& r = quick_run();
  EXPECT_EQ(r.status, "complete");
  EXPECT_EQ(r.cases.size(), plan_run(quick_config()).cases.size());
  for (const CaseRecord& c : r.cases) {
    SCOPED_TRACE(c.id);
    ASSERT_EQ(c.status, "ok") << c.error;
    EXPECT_EQ(c.warmup, 1);
    EXPECT_GE(c.repetitions, 2);
    EXPECT_GT(c.median_s, 0);
    EXPECT_LE(c.min_s, c.median_s);
    EXPECT_LE(c.median_s, c.max_s);
    EXPECT_GE(c.spread, 0);
    EXPECT_GT(c.tokens_per_s, 0);
    EXPECT_GT(c.flops, 0);
    EXPECT_GT(c.bytes, 0);
    EXPECT_GT(c.roofline_fraction, 0);
    EXPECT_NE(c.implementation.find("gemm="), std::string::npos);
    EXPECT_NE(c.regime.find("cold"), std::string::npos);
    EXPECT_GT(c.predicted.value("tokens_per_s", 0.0), 0);
    EXPECT_GT(c.memory.value("peak_rss_bytes", 0.0), 0);
    EXPECT_GT(c.memory.value("weight_bytes_allocated", 0.0), 0);
  }
  // The file on disk is the record.
  EXPECT_EQ(read_results(scratch_path("quick.json")), r);
}

TEST(Harness, KvBytesReportedEqualTheCostModelsExactly) {
  int checked = 0;
  for (const CaseRecord& c : quick_run().cases) {
    if (c.kind == "ffn_prefill" || c.kind == "ffn_decode") continue;
    SCOPED_TRACE(c.id);
    const double allocated = c.memory.at("kv_bytes_allocated").get<double>();
    EXPECT_GT(allocated, 0);
    EXPECT_EQ(allocated, c.memory.at("kv_bytes_predicted").get<double>());
    EXPECT_EQ(c.memory.at("kv_bytes_per_token_per_layer").get<double>(),
              c.memory.at("kv_bytes_per_token_per_layer_predicted").get<double>());
    ++checked;
  }
  EXPECT_GE(checked, 10);
  // And the per-token figure is the cost model's formula for the tiny MLA (absorbed): (12 + 6) bf16.
  const ModelConfig tiny = *find_preset("tiny");
  CostOptions o;
  const double predicted =
      o.kv.bytes(static_cast<double>(kv_elements_per_token_per_layer(tiny.attention, MlaForm::absorbed)));
  for (const CaseRecord& c : quick_run().cases) {
    if (c.id == "decode/deepseek/L128/B1") {
      EXPECT_EQ(c.memory.at("kv_bytes_per_token_per_layer").get<double>(), predicted);
    }
  }
}

TEST(Harness, TheMachineIsRecordedWithPositiveCeilings) {
  const RunRecord& r = quick_run();
  const nlohmann::json& c = r.machine.at("ceilings");
  EXPECT_GT(c.at("fma_flops_per_s").get<double>(), 0);
  EXPECT_GT(c.at("read_bytes_per_s").get<double>(), 0);
  EXPECT_GT(c.at("triad_bytes_per_s").get<double>(), 0);
  EXPECT_GT(c.at("threads").get<int>(), 0);
  EXPECT_TRUE(r.machine.contains("topology"));
  EXPECT_TRUE(r.machine.contains("build"));
  EXPECT_FALSE(r.machine.at("threading").at("thread_cores").empty());  // pinned
  EXPECT_FALSE(r.git_commit.empty());
  EXPECT_EQ(r.command_line, quick_config().command_line);
  EXPECT_EQ(r.config.at("weight_dtype"), "bf16");
  EXPECT_EQ(r.config.at("kv_dtype"), "bf16");
}

TEST(Harness, TheComparisonPutsEachMeasuredRatioBesideThePredictedOne) {
  const nlohmann::json& rows = quick_run().summary.at("comparison");
  ASSERT_FALSE(rows.empty());
  bool kv = false, decode = false, max_throughput = false;
  for (const nlohmann::json& row : rows) {
    const std::string metric = row.at("metric");
    EXPECT_TRUE(row.contains("ratio_predicted")) << metric;
    if (metric.starts_with("KV cache")) {
      kv = true;
      EXPECT_DOUBLE_EQ(row.at("ratio_measured").get<double>(), row.at("ratio_predicted").get<double>());
    }
    decode = decode || metric.starts_with("decode");
    max_throughput = max_throughput || metric.starts_with("max throughput");
  }
  EXPECT_TRUE(kv && decode && max_throughput);
  const std::string tables = format_run_tables(quick_run());
  EXPECT_NE(tables.find("Classic (tiny-gqa) vs DeepSeek (tiny)"), std::string::npos) << tables;
}

TEST(Harness, AnOversizeRunIsRefusedBeforeAllocating) {
  RunConfig c;
  c.designs = designs_from_models("small-gqa,small-mla", Suite::standard);
  c.contexts = {std::int64_t{1} << 28};  // 256M tokens: TiBs of KV cache
  const AllocationStats before = allocation_stats();
  try {
    run_and_record(c, scratch_path("never.json"));
    FAIL() << "an oversize run was accepted";
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("GiB"), std::string::npos) << message;
    EXPECT_NE(message.find("available"), std::string::npos) << message;
  }
  const AllocationStats after = allocation_stats();
  EXPECT_EQ(after.current_bytes, before.current_bytes);
  EXPECT_EQ(after.peak_bytes, before.peak_bytes);
  EXPECT_FALSE(fs::exists(scratch_path("never.json")));
}

TEST(Harness, AnInterruptedRunKeepsTheCasesThatFinished) {
  constexpr std::size_t kFinished = 3;
  const fs::path path = scratch_path("interrupted.json");
  install_interrupt_handler();
  RunHooks hooks;
  hooks.on_case_done = [](const CaseRecord&, std::size_t index, std::size_t) {
    if (index + 1 == kFinished) std::raise(SIGINT);  // as Ctrl-C after the third case
  };
  const RunRecord r = run_and_record(quick_config(), path, hooks);
  stop_requested().store(false);
  EXPECT_EQ(r.status, "interrupted");
  const RunRecord on_disk = read_results(path);
  EXPECT_EQ(on_disk, r);
  ASSERT_EQ(on_disk.cases.size(), kFinished);
  for (const CaseRecord& c : on_disk.cases) EXPECT_EQ(c.status, "ok") << c.id;
}

// --context 9223372036854775807 overflowed context + 1 in the memory check: 14 of 26 cases failed
// and the run exited 0.
TEST(Harness, AContextOrBatchBeyondTheirRangeIsRefusedByName) {
  RunConfig c = quick_config();
  c.contexts = {std::numeric_limits<std::int64_t>::max()};
  try {
    plan_run(c);
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("context: 9223372036854775807 is not a number of tokens in [1,"),
              std::string::npos)
        << e.what();
  }
  c.contexts = {};
  c.batches = {std::numeric_limits<std::int64_t>::max()};
  EXPECT_THROW(plan_run(c), ConfigError);
}

// The quick suite planned 0.02 GiB but its peak resident set was 139 MiB: the ceiling measurement's
// 128 MiB array was not counted.
TEST(Harness, ThePlanCountsTheCeilingArrayAndTheEvictionBuffer) {
  const RunPlan plan = plan_run(quick_config());
  EXPECT_NEAR(plan.ceilings_bytes, 128.0 * (1 << 20), 192);  // a whole number of 48-float blocks
  EXPECT_EQ(plan.eviction_bytes, 16.0 * (1 << 20));
  EXPECT_GE(plan.total_bytes(), plan.ceilings_bytes);
  EXPECT_GE(plan.total_bytes(), plan.measuring_bytes());
  EXPECT_FALSE(plan.available_of.empty());
}

TEST(Harness, AFailedCaseMakesTheExitStatusOne) {
  RunHooks hooks;
  hooks.before_case = [](const PlannedCase& next) {
    if (next.kind == "attention_decode") throw std::runtime_error("a kernel failed");
  };
  const RunRecord r = run_and_record(quick_config(), scratch_path("failing.json"), hooks);
  EXPECT_EQ(r.status, "complete");
  int failed = 0;
  for (const CaseRecord& c : r.cases) failed += c.status == "failed";
  EXPECT_GT(failed, 0);
  EXPECT_EQ(run_exit_status(r), 1);
  EXPECT_EQ(run_exit_status(quick_run()), 0);
}

// CI runners and `timeout` send SIGTERM: the run stops between cases as on Ctrl-C, the file says
// "interrupted" and why, and the exit status is 143.
TEST(Harness, SigtermStopsTheRunLikeSigint) {
  const fs::path path = scratch_path("terminated.json");
  install_interrupt_handler();
  RunHooks hooks;
  hooks.on_case_done = [](const CaseRecord&, std::size_t index, std::size_t) {
    if (index == 1) std::raise(SIGTERM);
  };
  const RunRecord r = run_and_record(quick_config(), path, hooks);
  const int status = run_exit_status(r);
  stop_requested().store(false);
  stop_signal().store(0);
  EXPECT_EQ(r.status, "interrupted");
  EXPECT_EQ(status, 143);
  EXPECT_NE(r.error.find("SIGTERM"), std::string::npos) << r.error;
  EXPECT_EQ(read_results(path), r);
  EXPECT_EQ(r.cases.size(), 2u);
}

// OMP_NUM_THREADS=64 on 2 cores ran 64 threads and recorded a third more FMA throughput.
TEST(Harness, ThreadsAreCappedAtTheCores) {
  const ThreadChoice choice = choose_threads(64 * allowed_cores());
  EXPECT_EQ(choice.threads, allowed_cores());
  EXPECT_EQ(choice.requested, 64 * allowed_cores());
  EXPECT_NE(choice.warning.find("core"), std::string::npos);
  EXPECT_TRUE(choose_threads(1).warning.empty());
  const Ceilings c = measure_ceilings(4 * allowed_cores(), 0.05, std::size_t{16} << 20);
  EXPECT_EQ(c.threads, allowed_cores());
}

TEST(RunCommand, QuickSuiteEndsWithTheSideBySideTable) {
  const fs::path path = scratch_path("cli.json");
  const auto result = testing::run_cli("run --suite quick --threads 1 --out " + path.string());
  ASSERT_EQ(result.status, 0) << result.output;
  EXPECT_NE(result.output.find("[ 1/"), std::string::npos) << "no progress line";
  EXPECT_NE(result.output.find("vs DeepSeek"), std::string::npos) << result.output;
  const RunRecord r = read_results(path);
  EXPECT_EQ(r.status, "complete");
  EXPECT_EQ(r.config.at("threads"), 1);
  EXPECT_EQ(r.command_line.at(1), "run");
}

TEST(RunCommand, ListPrintsThePlanWithoutMeasuring) {
  const fs::path path = scratch_path("listed.json");
  const auto result = testing::run_cli("run --suite quick --list --out " + path.string());
  ASSERT_EQ(result.status, 0) << result.output;
  EXPECT_NE(result.output.find("max_throughput/deepseek/L128"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("planned memory"), std::string::npos) << result.output;
  EXPECT_FALSE(fs::exists(path));
}

TEST(RunCommand, BadInputExitsTwoNamingIt) {
  auto r = testing::run_cli("run --suite fast");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("suite"), std::string::npos) << r.output;
  r = testing::run_cli("run --kv-dtype int3 --suite quick");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("kv-dtype"), std::string::npos) << r.output;
  const fs::path path = scratch_path("huge.json");
  r = testing::run_cli("run --context 268435456 --out " + path.string());
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("GiB"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(path));
}

TEST(RunCommand, ADeviceOrDirectoryOutIsRefusedBeforeMeasuring) {
  const fs::path dir = scratch_path("outs");
  fs::create_directories(dir / "sub");
  const fs::path fifo = dir / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const fs::path& out : {dir / "sub", fifo}) {
    const auto r = testing::run_cli("run --suite quick --out " + out.string());
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_NE(r.output.find("regular file"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("results:"), std::string::npos) << "measured before refusing: " << r.output;
  }
  EXPECT_TRUE(fs::is_fifo(fs::symlink_status(fifo)));
  EXPECT_TRUE(fs::is_directory(dir / "sub"));
}

TEST(RunCommand, AnUnknownForcedKernelIsRefusedBeforeAnythingIsWritten) {
  const fs::path path = scratch_path("forced.json");
  const auto r = testing::run_cli("run --suite quick --out " + path.string(), "INFERCOST_IMPL=gemm=nosuch");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("INFERCOST_IMPL"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("nosuch"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("infercost run:"), std::string::npos) << "planned before checking: " << r.output;
  EXPECT_FALSE(fs::exists(path));
}

TEST(RunCommand, TwoRunsNeverShareTheDefaultFile) {
  const auto first = testing::run_cli("run --suite quick --list");
  const auto second = testing::run_cli("run --suite quick --list");
  ASSERT_EQ(first.status, 0) << first.output;
  const auto target = [](const std::string& output) {
    const auto at = output.find("results would go to: ");
    return at == std::string::npos ? std::string() : output.substr(at, output.find('\n', at) - at);
  };
  EXPECT_FALSE(target(first.output).empty()) << first.output;
  EXPECT_NE(target(first.output), target(second.output));
}

TEST(RunCommand, AnOverflowingContextExitsTwo) {
  const fs::path path = scratch_path("overflow.json");
  const auto r = testing::run_cli("run --suite quick --context 9223372036854775807 --out " + path.string());
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("context"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(path));
}

TEST(Program, VersionNamesTheCommitAndAnUnknownSubCommandIsNamed) {
  auto r = testing::run_cli("--version");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.output.find("infercost 0."), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("commit"), std::string::npos) << r.output;
  r = testing::run_cli("frobnicate");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("unknown sub-command 'frobnicate'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("run"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace infercost
