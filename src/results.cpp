#include "infercost/results.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include "infercost/config.hpp"

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

// An int field: a JSON integer within int's range. nlohmann's get<int>() would convert 1e30 or
// 1.5 (undefined behaviour for the first; INT_MIN here) or wrap 2^40.
int int_field(const json& j, const char* name, const char* where, int least) {
  const json value = field<json>(j, name, where);
  const bool fits = value.is_number_unsigned()  ? value.get<std::uint64_t>() <= static_cast<std::uint64_t>(INT_MAX)
                    : value.is_number_integer() ? value.get<std::int64_t>() >= INT_MIN &&
                                                      value.get<std::int64_t>() <= INT_MAX
                                                : false;
  if (!fits || value.get<std::int64_t>() < least)
    throw std::runtime_error(fmt::format("results: {}.{} is {}: expected an integer in [{}, {}]", where, name,
                                         value.dump(), least, INT_MAX));
  return value.get<int>();
}

// A field that must be a JSON object (or array).
json object_field(const json& j, const char* name, const char* where) {
  json value = field<json>(j, name, where);
  if (!value.is_object())
    throw std::runtime_error(fmt::format("results: {}.{} is a {}, expected an object", where, name, value.type_name()));
  return value;
}

json array_field(const json& j, const char* name, const char* where) {
  json value = field<json>(j, name, where);
  if (!value.is_array())
    throw std::runtime_error(fmt::format("results: {}.{} is a {}, expected an array", where, name, value.type_name()));
  return value;
}

std::string one_of(const json& j, const char* name, const char* where, std::initializer_list<const char*> allowed) {
  const std::string value = field<std::string>(j, name, where);
  for (const char* a : allowed)
    if (value == a) return value;
  throw std::runtime_error(
      fmt::format("results: {}.{} is \"{}\": expected one of {}", where, name, value, fmt::join(allowed, ", ")));
}

CaseRecord case_from_json(const json& j) {
  constexpr const char* where = "case";
  if (!j.is_object())
    throw std::runtime_error(fmt::format("results: a case is a {}, expected an object", j.type_name()));
  CaseRecord c;
  c.id = field<std::string>(j, "id", where);
  c.kind = field<std::string>(j, "kind", where);
  c.design = field<std::string>(j, "design", where);
  c.params = object_field(j, "params", where);
  c.status = one_of(j, "status", where, {"ok", "failed", "skipped"});
  if (j.contains("error")) c.error = field<std::string>(j, "error", where);
  c.regime = field<std::string>(j, "regime", where);
  c.implementation = field<std::string>(j, "implementation", where);
  c.warmup = int_field(j, "warmup", where, 0);
  c.repetitions = int_field(j, "repetitions", where, 0);
  c.median_s = field<double>(j, "median_s", where);
  c.min_s = field<double>(j, "min_s", where);
  c.max_s = field<double>(j, "max_s", where);
  c.spread = field<double>(j, "spread", where);
  c.tokens_per_s = field<double>(j, "tokens_per_s", where);
  c.flops = field<double>(j, "flops", where);
  c.bytes = field<double>(j, "bytes", where);
  c.roofline_fraction = field<double>(j, "roofline_fraction", where);
  c.predicted = object_field(j, "predicted", where);
  c.memory = object_field(j, "memory", where);
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
  json j = {{"schema_version", r.schema_version},
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
  if (!r.error.empty()) j["error"] = r.error;
  return j;
}

RunRecord run_record_from_json(const json& j) {
  constexpr const char* where = "run";
  if (!j.is_object()) throw std::runtime_error("results: the file is not a JSON object");
  RunRecord r;
  r.schema_version = int_field(j, "schema_version", where, INT_MIN);
  if (r.schema_version != kResultsSchemaVersion)
    throw std::runtime_error(fmt::format("results: schema_version {} is not supported (this infercost reads {})",
                                         r.schema_version, kResultsSchemaVersion));
  r.tool = field<std::string>(j, "tool", where);
  if (r.tool != "infercost") throw std::runtime_error(fmt::format("results: tool \"{}\" is not infercost", r.tool));
  r.command_line = field<std::vector<std::string>>(j, "command_line", where);
  r.git_commit = field<std::string>(j, "git_commit", where);
  r.started_at = field<std::string>(j, "started_at", where);
  r.finished_at = field<std::string>(j, "finished_at", where);
  r.status = one_of(j, "status", where, {"running", "complete", "interrupted", "failed"});
  if (j.contains("error")) r.error = field<std::string>(j, "error", where);
  r.machine = object_field(j, "machine", where);
  r.config = object_field(j, "config", where);
  for (const json& c : array_field(j, "cases", where)) r.cases.push_back(case_from_json(c));
  r.summary = object_field(j, "summary", where);
  return r;
}

std::filesystem::path resolve_results_path(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path target = path;
  if (fs::is_symlink(fs::symlink_status(path, ec))) {
    target = fs::canonical(path, ec);  // follows every link; fails when the last one dangles
    if (ec) throw ConfigError(fmt::format("results file {}: a symbolic link to a missing file", path.string()));
  }
  const fs::file_status status = fs::status(target, ec);
  if (status.type() == fs::file_type::not_found || status.type() == fs::file_type::regular) return target;
  const char* what = status.type() == fs::file_type::directory   ? "a directory"
                     : status.type() == fs::file_type::character ? "a character device"
                     : status.type() == fs::file_type::block     ? "a block device"
                     : status.type() == fs::file_type::fifo      ? "a FIFO"
                     : status.type() == fs::file_type::socket    ? "a socket"
                                                                 : "not a regular file";
  throw ConfigError(fmt::format("results file {}: is {}; allowed: a regular file (replaced) or a new path",
                                path.string(), what));
}

namespace {

std::string errno_text(int error) { return std::strerror(error); }

// Writes all of `text` to a new file `temporary`; on failure removes it and throws with errno's text.
void write_new_file(const std::filesystem::path& temporary, const std::string& text) {
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) throw std::runtime_error(fmt::format("cannot create {}: {}", temporary.string(), errno_text(errno)));
  int error = 0;
  for (std::size_t done = 0; done < text.size() && error == 0;) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n > 0)
      done += static_cast<std::size_t>(n);
    else if (n < 0 && errno != EINTR)
      error = errno;
  }
  // fsync: a file system that reserves blocks lazily reports a full disk here, not at write().
  if (error == 0 && ::fsync(fd) != 0 && errno != EINVAL) error = errno;
  if (::close(fd) != 0 && error == 0) error = errno;
  if (error != 0) {
    ::unlink(temporary.c_str());
    throw std::runtime_error(fmt::format("cannot write {}: {}", temporary.string(), errno_text(error)));
  }
}

// ".<name>.<pid>.tmp": the temporary file of process `pid` for the results file `name`.
std::string temporary_name(const std::string& name, long pid) { return fmt::format(".{}.{}.tmp", name, pid); }

}  // namespace

void write_results_atomically(const RunRecord& record, const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  const fs::path target = resolve_results_path(path);
  const fs::path directory = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(directory, ec);
  if (ec) throw std::runtime_error(fmt::format("cannot create {}: {}", directory.string(), ec.message()));
  // Same directory, so the rename below is atomic (one file system); the pid keeps two runs apart.
  const fs::path temporary = directory / temporary_name(target.filename().string(), ::getpid());
  ::unlink(temporary.c_str());  // this process's own, left by a write that failed half-way
  write_new_file(temporary, to_json(record).dump(2) + '\n');
  if (::rename(temporary.c_str(), target.c_str()) != 0) {
    const int error = errno;
    ::unlink(temporary.c_str());
    throw std::runtime_error(
        fmt::format("cannot rename {} to {}: {}", temporary.string(), target.string(), errno_text(error)));
  }
}

bool mark_results_failed_in_place(const std::filesystem::path& path) {
  const std::filesystem::path target = resolve_results_path(path);
  std::ifstream in(target, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The run's own status: to_json(RunRecord).dump(2) puts it at two spaces of indentation.
  constexpr std::string_view running = "\n  \"status\": \"running\",";
  constexpr std::string_view failed = "\n  \"status\": \"failed\" ,";  // the same length
  static_assert(running.size() == failed.size());
  const std::size_t at = text.find(running);
  if (at == std::string::npos) return false;
  const int fd = ::open(target.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool written = ::pwrite(fd, failed.data(), failed.size(), static_cast<off_t>(at)) ==
                       static_cast<ssize_t>(failed.size());
  return ::close(fd) == 0 && written;
}

int remove_stale_temporaries(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path target = fs::weakly_canonical(path, ec);
  const fs::path directory = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string prefix = fmt::format(".{}.", target.filename().string());
  int removed = 0;
  for (fs::directory_iterator it(directory, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.starts_with(prefix) || !name.ends_with(".tmp")) continue;
    const std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - 4);
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) continue;
    const long pid = std::stol(digits);
    // kill(pid, 0) fails with ESRCH only when no such process exists (EPERM: it runs, as another user).
    if (pid == ::getpid() || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    if (fs::remove(it->path(), ec)) ++removed;
  }
  return removed;
}

std::filesystem::path default_results_path(const std::filesystem::path& directory, std::string_view suite) {
  return directory / fmt::format("{}-{}-{}.json", utc_timestamp_compact(), suite, ::getpid());
}

RunRecord read_results(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(fmt::format("cannot read {}", path.string()));
  std::stringstream text;
  text << in.rdbuf();
  json j;
  try {
    j = json::parse(text.str());
  } catch (const json::exception& e) {  // a syntax error, or a number beyond a double (1e400)
    throw std::runtime_error(fmt::format("{}: {}", path.string(), e.what()));
  }
  return run_record_from_json(j);
}

std::string utc_timestamp() { return format_utc("%Y-%m-%dT%H:%M:%SZ"); }
std::string utc_timestamp_compact() { return format_utc("%Y%m%dT%H%M%SZ"); }

}  // namespace infercost
