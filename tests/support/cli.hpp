// Runs the built `infercost` program, for the tests of its sub-commands.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

namespace infercost::testing {

struct CommandResult {
  int status;               // the exit code, or -1 when the program did not exit normally
  std::string output;       // stdout, then stderr
  std::string stdout_text;  // stdout alone: what a JSON test parses (libraries such as hwloc may
                            // warn on stderr, e.g. in a container without /sys)
};

// `environment`: assignments put before the program, e.g. "INFERCOST_IMPL=gemm=nosuch".
inline CommandResult run_cli(const std::string& args, const std::string& environment = "") {
  char errors_path[] = "/tmp/infercost-cli-stderr.XXXXXX";
  const int errors_fd = mkstemp(errors_path);
  if (errors_fd < 0) return {-1, "mkstemp failed", ""};
  close(errors_fd);
  const std::string command = (environment.empty() ? "" : "env " + environment + " ") +
                              std::string(INFERCOST_CLI_PATH) + " " + args + " 2>" + errors_path;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  std::string out;
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe.get()) != nullptr) out += buffer.data();
  const int status = pclose(pipe.release());
  std::ifstream errors_file(errors_path);
  const std::string errors{std::istreambuf_iterator<char>(errors_file), std::istreambuf_iterator<char>()};
  std::remove(errors_path);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out + errors, out};
}

}  // namespace infercost::testing
