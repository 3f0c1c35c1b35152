// The results record of `infercost run`: JSON round trip, schema version, atomic writes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "infercost/results.hpp"

namespace infercost {
namespace {

namespace fs = std::filesystem;

// A fresh directory under the system's temporary directory, removed at the end of the test.
class ResultsFile : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("infercost_results_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

RunRecord sample_record() {
  RunRecord r;
  r.command_line = {"infercost", "run", "--suite", "quick"};
  r.git_commit = "0123456789abcdef";
  r.started_at = "2026-11-23T21:25:45Z";
  r.finished_at = "2026-11-23T21:26:01Z";
  r.status = "complete";
  r.machine = {{"ceilings", {{"fma_flops_per_s", 3.3e11}, {"read_bytes_per_s", 2.35e10}}}};
  r.config = {{"suite", "quick"}, {"weight_dtype", "bf16"}, {"budget_bytes", 1.0737418240e10}};
  CaseRecord ok;
  ok.id = "decode/classic/L4096/B1";
  ok.kind = "decode";
  ok.design = "classic";
  ok.params = {{"L", 4096}, {"B", 1}, {"seconds_per_token", 0.0123456789012345}};
  ok.regime = "cold";
  ok.implementation = "gemm=avx512 attention_decode=avx512";
  ok.warmup = 1;
  ok.repetitions = 7;
  ok.median_s = 0.0123456789012345;
  ok.min_s = 0.011;
  ok.max_s = 0.0141;
  ok.spread = (ok.max_s - ok.min_s) / ok.median_s;
  ok.tokens_per_s = 1 / ok.median_s;
  ok.flops = 3.1e8;
  ok.bytes = 1.7e8;
  ok.roofline_fraction = 0.61;
  ok.predicted = {{"tokens_per_s", 137.5}, {"bound", "memory"}};
  ok.memory = {{"kv_bytes_allocated", 8392704}, {"peak_rss_bytes", 123456789}};
  CaseRecord failed;
  failed.id = "decode/deepseek/L32768/B16";
  failed.kind = "decode";
  failed.design = "deepseek";
  failed.status = "failed";
  failed.error = "std::bad_alloc";
  r.cases = {ok, failed};
  r.summary = {{"cases", {{"ok", 1}, {"failed", 1}, {"skipped", 0}}}, {"comparison", nlohmann::json::array()}};
  return r;
}

TEST_F(ResultsFile, RoundTripsExactly) {
  const RunRecord written = sample_record();
  const fs::path path = dir_ / "nested" / "run.json";  // the directory is created
  write_results_atomically(written, path);
  const RunRecord read = read_results(path);
  EXPECT_EQ(read, written);
  EXPECT_EQ(read.cases[0].median_s, written.cases[0].median_s);  // doubles come back bit for bit
  EXPECT_EQ(read.cases[1].error, "std::bad_alloc");
}

TEST_F(ResultsFile, TheJsonNamesItsSchemaAndTool) {
  const nlohmann::json j = to_json(sample_record());
  EXPECT_EQ(j["schema_version"], kResultsSchemaVersion);
  EXPECT_EQ(j["tool"], "infercost");
  EXPECT_EQ(j["cases"].size(), 2u);
  EXPECT_FALSE(j["cases"][0].contains("error"));  // only a case that is not ok says why
  EXPECT_EQ(j["cases"][1]["status"], "failed");
}

TEST_F(ResultsFile, AWrongSchemaVersionIsRefused) {
  nlohmann::json j = to_json(sample_record());
  j["schema_version"] = kResultsSchemaVersion + 1;
  fs::create_directories(dir_);
  std::ofstream(dir_ / "future.json") << j.dump();
  try {
    read_results(dir_ / "future.json");
    FAIL() << "a file of another schema version was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("schema_version"), std::string::npos) << e.what();
  }
  j["schema_version"] = 0;
  EXPECT_THROW(run_record_from_json(j), std::runtime_error);
}

TEST_F(ResultsFile, AMissingFieldIsNamed) {
  nlohmann::json j = to_json(sample_record());
  j["cases"][0].erase("median_s");
  try {
    run_record_from_json(j);
    FAIL() << "a case without median_s was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("median_s"), std::string::npos) << e.what();
  }
}

TEST_F(ResultsFile, MalformedJsonNamesTheLine) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "broken.json") << "{\n  \"schema_version\": 1,\n  \"tool\": \n}\n";
  try {
    read_results(dir_ / "broken.json");
    FAIL() << "malformed JSON was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("line 4"), std::string::npos) << e.what();
  }
}

TEST_F(ResultsFile, RewritingReplacesTheFileAndLeavesNoTemporary) {
  RunRecord r = sample_record();
  const fs::path path = dir_ / "run.json";
  write_results_atomically(r, path);
  r.cases.pop_back();
  r.status = "interrupted";
  write_results_atomically(r, path);
  EXPECT_EQ(read_results(path), r);
  int files = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir_)) ++files;
  EXPECT_EQ(files, 1);
}

TEST(ResultsTimestamp, IsUtcIso8601) {
  const std::string t = utc_timestamp();
  ASSERT_EQ(t.size(), 20u) << t;
  EXPECT_EQ(t[4], '-');
  EXPECT_EQ(t[10], 'T');
  EXPECT_EQ(t.back(), 'Z');
  EXPECT_EQ(utc_timestamp_compact().size(), 16u);
}

}  // namespace
}  // namespace infercost
