// The record of one `infercost run`: the machine, the config, the exact command line and every
// case with its figures, as schema-versioned JSON written atomically (a reader sees the previous
// complete file or the new complete file, never half of one).
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace infercost {

// Bumped whenever a field changes meaning or disappears; readers refuse any other version.
inline constexpr int kResultsSchemaVersion = 1;

// One measured case. Times are seconds per timed call (a prefill of L tokens, one decode step of
// the batch); `params`, `predicted` and `memory` hold the case's named figures.
struct CaseRecord {
  std::string id;      // unique in the run, e.g. "decode/deepseek/L4096/B1"
  std::string kind;    // prefill, decode, attention_prefill, attention_decode, ffn_prefill,
                       // ffn_decode, max_throughput
  std::string design;  // classic, deepseek, mha, gqa, mqa, mla_naive, mla_absorbed, dense, moe
  nlohmann::json params = nlohmann::json::object();  // L, B, tokens, ...
  std::string status = "ok";                         // ok | failed | skipped
  std::string error;                                 // why, when not ok
  std::string regime;                                // "cold": caches evicted before every call
  std::string implementation;                        // the kernels that ran
  int warmup = 0, repetitions = 0;
  double median_s = 0, min_s = 0, max_s = 0;
  double spread = 0;                                    // (max - min) / median
  double tokens_per_s = 0;                              // tokens processed per second at the median
  double flops = 0;                                     // per timed call, from the cost model
  double bytes = 0;                                     // moved from memory per timed call, from the cost model
  double roofline_fraction = 0;                         // roofline time bound (measured ceilings) / median
  nlohmann::json predicted = nlohmann::json::object();  // the cost model beside the measurement
  nlohmann::json memory = nlohmann::json::object();     // allocated, predicted and resident bytes

  bool operator==(const CaseRecord&) const = default;
};

struct RunRecord {
  int schema_version = kResultsSchemaVersion;
  std::string tool = "infercost";
  std::vector<std::string> command_line;
  std::string git_commit;
  std::string started_at, finished_at;                // UTC, ISO 8601
  std::string status = "running";                     // running | complete | interrupted | failed
  std::string error;                                  // why the run stopped early, when it did
  nlohmann::json machine = nlohmann::json::object();  // topology, build, threading, ceilings
  nlohmann::json config = nlohmann::json::object();
  std::vector<CaseRecord> cases;
  nlohmann::json summary = nlohmann::json::object();

  bool operator==(const RunRecord&) const = default;
};

nlohmann::json to_json(const CaseRecord& c);
nlohmann::json to_json(const RunRecord& r);
// Throws std::runtime_error naming the problem when the schema version is not
// kResultsSchemaVersion, the tool is not infercost or a field is missing or of the wrong type.
RunRecord run_record_from_json(const nlohmann::json& j);

// The file a results path names: the path itself, or the file a symbolic link points to (written
// through, the link kept). Throws ConfigError, before anything is measured, when that is neither a
// regular file nor absent (a directory, a device such as /dev/full, a FIFO, a dangling link).
std::filesystem::path resolve_results_path(const std::filesystem::path& path);

// Writes `record` to resolve_results_path(path) through a temporary file in the same directory and
// a rename, creating the directory when needed. Throws std::runtime_error naming the file and the
// system's reason (errno) when it cannot, after removing the temporary file: the previous file,
// if any, is left as it was.
void write_results_atomically(const RunRecord& record, const std::filesystem::path& path);

// When even a new file cannot be written (a full disk), turns the `"status": "running"` of the
// results file at `path` into `"status": "failed"` in place, overwriting those bytes only (no new
// disk block is needed, and the file stays valid JSON). Returns whether it did.
bool mark_results_failed_in_place(const std::filesystem::path& path);

// Removes the temporary files ".<name>.<pid>.tmp" that write_results_atomically left beside `path`
// for processes no longer running (killed with SIGKILL while writing). Returns how many.
int remove_stale_temporaries(const std::filesystem::path& path);

// The default results file of a run: <directory>/<UTC time>-<suite>-<pid>.json, so two runs
// started in the same second (necessarily different processes) never share a file.
std::filesystem::path default_results_path(const std::filesystem::path& directory, std::string_view suite);
// Reads and checks a results file (run_record_from_json); a malformed file names its line.
RunRecord read_results(const std::filesystem::path& path);

// Now, UTC, as "2026-11-23T21:25:45Z"; and as "20261123T212545Z" for file names.
std::string utc_timestamp();
std::string utc_timestamp_compact();

}  // namespace infercost
