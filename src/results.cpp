#include "infercost/results.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace infercost {
namespace {

using nlohmann::json;

template <class T>
T field(const json& j, const char* name, const char* where) {
  const auto it = j.find(name);
  if (it == j.end()) throw std::runtime_error(fmt::format("results: {} has no field \"{}\"", where, name));
  try {
    return it->get<T>();
  } catch (const json::exception& e) {
    throw std::runtime_error(fmt::format("results: {}.{} has the wrong type: {}", where, name, e.what()));
  }
}

CaseRecord case_from_json(const json& j) {
  constexpr const char* where = "case";
  CaseRecord c;
  c.id = field<std::string>(j, "id", where);
  c.kind = field<std::string>(j, "kind", where);
  c.design = field<std::string>(j, "design", where);
  c.params = field<json>(j, "params", where);
  c.status = field<std::string>(j, "status", where);
  if (j.contains("error")) c.error = field<std::string>(j, "error", where);
  c.regime = field<std::string>(j, "regime", where);
  c.implementation = field<std::string>(j, "implementation", where);
  c.warmup = field<int>(j, "warmup", where);
  c.repetitions = field<int>(j, "repetitions", where);
  c.median_s = field<double>(j, "median_s", where);
  c.min_s = field<double>(j, "min_s", where);
  c.max_s = field<double>(j, "max_s", where);
  c.spread = field<double>(j, "spread", where);
  c.tokens_per_s = field<double>(j, "tokens_per_s", where);
  c.flops = field<double>(j, "flops", where);
  c.bytes = field<double>(j, "bytes", where);
  c.roofline_fraction = field<double>(j, "roofline_fraction", where);
  c.predicted = field<json>(j, "predicted", where);
  c.memory = field<json>(j, "memory", where);
  return c;
}

std::string format_utc(const char* pattern) {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, pattern, &tm);
  return text;
}

}  // namespace

json to_json(const CaseRecord& c) {
  json j = {{"id", c.id},
            {"kind", c.kind},
            {"design", c.design},
            {"params", c.params},
            {"status", c.status},
            {"regime", c.regime},
            {"implementation", c.implementation},
            {"warmup", c.warmup},
            {"repetitions", c.repetitions},
            {"median_s", c.median_s},
            {"min_s", c.min_s},
            {"max_s", c.max_s},
            {"spread", c.spread},
            {"tokens_per_s", c.tokens_per_s},
            {"flops", c.flops},
            {"bytes", c.bytes},
            {"roofline_fraction", c.roofline_fraction},
            {"predicted", c.predicted},
            {"memory", c.memory}};
  if (!c.error.empty()) j["error"] = c.error;
  return j;
}

json to_json(const RunRecord& r) {
  json cases = json::array();
  for (const CaseRecord& c : r.cases) cases.push_back(to_json(c));
  return {{"schema_version", r.schema_version},
          {"tool", r.tool},
          {"command_line", r.command_line},
          {"git_commit", r.git_commit},
          {"started_at", r.started_at},
          {"finished_at", r.finished_at},
          {"status", r.status},
          {"machine", r.machine},
          {"config", r.config},
          {"cases", cases},
          {"summary", r.summary}};
}

RunRecord run_record_from_json(const json& j) {
  constexpr const char* where = "run";
  if (!j.is_object()) throw std::runtime_error("results: the file is not a JSON object");
  RunRecord r;
  r.schema_version = field<int>(j, "schema_version", where);
  if (r.schema_version != kResultsSchemaVersion)
    throw std::runtime_error(fmt::format("results: schema_version {} is not supported (this infercost reads {})",
                                         r.schema_version, kResultsSchemaVersion));
  r.tool = field<std::string>(j, "tool", where);
  if (r.tool != "infercost") throw std::runtime_error(fmt::format("results: tool \"{}\" is not infercost", r.tool));
  r.command_line = field<std::vector<std::string>>(j, "command_line", where);
  r.git_commit = field<std::string>(j, "git_commit", where);
  r.started_at = field<std::string>(j, "started_at", where);
  r.finished_at = field<std::string>(j, "finished_at", where);
  r.status = field<std::string>(j, "status", where);
  r.machine = field<json>(j, "machine", where);
  r.config = field<json>(j, "config", where);
  for (const json& c : field<json>(j, "cases", where)) r.cases.push_back(case_from_json(c));
  r.summary = field<json>(j, "summary", where);
  return r;
}

void write_results_atomically(const RunRecord& record, const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  const fs::path directory = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(directory, ec);
  if (ec) throw std::runtime_error(fmt::format("cannot create {}: {}", directory.string(), ec.message()));
  // Same directory, so the rename below is atomic (one file system); the pid keeps two runs apart.
  const fs::path temporary = directory / fmt::format(".{}.{}.tmp", path.filename().string(), ::getpid());
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << to_json(record).dump(2) << '\n';
    out.flush();
    if (!out) throw std::runtime_error(fmt::format("cannot write {}", temporary.string()));
  }
  fs::rename(temporary, path, ec);
  if (ec) {
    fs::remove(temporary);
    throw std::runtime_error(
        fmt::format("cannot rename {} to {}: {}", temporary.string(), path.string(), ec.message()));
  }
}

RunRecord read_results(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(fmt::format("cannot read {}", path.string()));
  std::stringstream text;
  text << in.rdbuf();
  json j;
  try {
    j = json::parse(text.str());
  } catch (const json::parse_error& e) {
    throw std::runtime_error(fmt::format("{}: {}", path.string(), e.what()));
  }
  return run_record_from_json(j);
}

std::string utc_timestamp() { return format_utc("%Y-%m-%dT%H:%M:%SZ"); }
std::string utc_timestamp_compact() { return format_utc("%Y%m%dT%H%M%SZ"); }

}  // namespace infercost
