// `infercost run`: the quick suite end to end (in process and through the program), the figures
// every case must carry, KV bytes equal to the cost model's, refusal of a run that cannot fit,
// and an interrupted run that keeps its finished cases.
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "infercost/buffer.hpp"
#include "infercost/config.hpp"
#include "infercost/cost_model.hpp"
#include "infercost/harness.hpp"
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

}  // namespace
}  // namespace infercost
