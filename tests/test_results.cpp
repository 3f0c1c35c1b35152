// The results record of `infercost run`: JSON round trip, schema version, atomic writes.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <csignal>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "infercost/config.hpp"
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

// --out must never replace a device or a directory (`--out /dev/full` turned /dev/full into a
// regular file): a FIFO stands in for a device, since making one needs no privilege.
TEST_F(ResultsFile, ADirectoryOrAFifoIsRefusedAndLeftAsItWas) {
  fs::create_directories(dir_ / "a-directory");
  const fs::path fifo = dir_ / "a-fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const fs::path& path : {dir_ / "a-directory", fifo}) {
    SCOPED_TRACE(path.string());
    try {
      write_results_atomically(sample_record(), path);
      FAIL() << "written over";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("regular file"), std::string::npos) << e.what();
    }
    EXPECT_THROW(resolve_results_path(path), ConfigError);
  }
  EXPECT_TRUE(fs::is_fifo(fs::symlink_status(fifo)));
  EXPECT_TRUE(fs::is_directory(dir_ / "a-directory"));
  EXPECT_EQ(resolve_results_path(dir_ / "new.json"), dir_ / "new.json");  // absent: fine
}

TEST_F(ResultsFile, ASymbolicLinkIsWrittenThroughAndKept) {
  fs::create_directories(dir_ / "real");
  const fs::path target = dir_ / "real" / "run.json";
  std::ofstream(target) << "{}";
  fs::create_symlink(target, dir_ / "link.json");
  write_results_atomically(sample_record(), dir_ / "link.json");
  EXPECT_TRUE(fs::is_symlink(dir_ / "link.json"));
  EXPECT_EQ(read_results(target), sample_record());
  fs::create_symlink(dir_ / "missing.json", dir_ / "dangling.json");
  EXPECT_THROW(write_results_atomically(sample_record(), dir_ / "dangling.json"), ConfigError);
}

// A write that fails (here: the file-size limit, as a full disk would) says why, removes its
// temporary file and leaves the previous file whole.
TEST_F(ResultsFile, AFailedWriteNamesTheReasonAndLeavesThePreviousFile) {
  const fs::path path = dir_ / "run.json";
  RunRecord first = sample_record();
  first.cases.pop_back();
  write_results_atomically(first, path);
  RunRecord bigger = sample_record();
  bigger.machine["padding"] = std::string(64 * 1024, 'x');
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);  // write() then fails with EFBIG
  rlimit old_limit{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  rlimit small = old_limit;
  small.rlim_cur = 16 * 1024;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string message;
  try {
    write_results_atomically(bigger, path);
  } catch (const std::runtime_error& e) {
    message = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_NE(message.find("File too large"), std::string::npos) << "no reason given: " << message;
  EXPECT_EQ(read_results(path), first);
  int files = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir_)) ++files;
  EXPECT_EQ(files, 1) << "a temporary file was left";
}

TEST_F(ResultsFile, ARunningFileIsMarkedFailedInPlace) {
  const fs::path path = dir_ / "run.json";
  RunRecord r = sample_record();
  r.status = "running";
  write_results_atomically(r, path);
  const auto size = fs::file_size(path);
  ASSERT_TRUE(mark_results_failed_in_place(path));
  EXPECT_EQ(fs::file_size(path), size);
  r.status = "failed";
  EXPECT_EQ(read_results(path), r);
  EXPECT_FALSE(mark_results_failed_in_place(path));  // no longer running
}

// A run killed by SIGKILL while writing leaves ".<name>.<pid>.tmp"; the next run removes those of
// processes that no longer exist, and no other file.
TEST_F(ResultsFile, TemporariesOfDeadProcessesAreRemoved) {
  fs::create_directories(dir_);
  const fs::path path = dir_ / "run.json";
  const fs::path dead = dir_ / ".run.json.999999999.tmp";   // above any pid_max
  const fs::path alive = dir_ / ".run.json.1.tmp";          // init always runs
  const fs::path other = dir_ / ".other.json.999999999.tmp";
  for (const fs::path& p : {dead, alive, other}) std::ofstream(p) << "";
  EXPECT_EQ(remove_stale_temporaries(path), 1);
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(alive));
  EXPECT_TRUE(fs::exists(other));
}

// Two runs started in the same second wrote the same default file; they are two processes.
TEST(ResultsDefaultPath, CarriesThePid) {
  const fs::path p = default_results_path("results/runs", "quick");
  EXPECT_EQ(p.parent_path(), fs::path("results/runs"));
  EXPECT_TRUE(p.filename().string().ends_with("-quick-" + std::to_string(::getpid()) + ".json")) << p;
}

TEST(ResultsReader, RefusesIntegersOutOfRangeAndFieldsOfTheWrongShape) {
  const nlohmann::json good = to_json(sample_record());
  for (const nlohmann::json& warmup : {nlohmann::json(1e30), nlohmann::json(1.5), nlohmann::json(-1),
                                       nlohmann::json(std::int64_t{1} << 40), nlohmann::json("1")}) {
    nlohmann::json j = good;
    j["cases"][0]["warmup"] = warmup;
    SCOPED_TRACE(warmup.dump());
    try {
      const RunRecord r = run_record_from_json(j);
      FAIL() << "accepted, read as " << r.cases[0].warmup;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("warmup"), std::string::npos) << e.what();
    }
  }
  nlohmann::json j = good;
  j["cases"] = nlohmann::json::object({{"a", good["cases"][0]}});
  EXPECT_THROW(run_record_from_json(j), std::runtime_error) << "cases as an object";
  j = good;
  j["cases"][0]["params"] = nlohmann::json::array();
  EXPECT_THROW(run_record_from_json(j), std::runtime_error) << "params as an array";
  j = good;
  j["status"] = "exploded";
  EXPECT_THROW(run_record_from_json(j), std::runtime_error);
  j = good;
  j["cases"][0]["repetitions"] = INT_MAX;
  EXPECT_EQ(run_record_from_json(j).cases[0].repetitions, INT_MAX);
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
