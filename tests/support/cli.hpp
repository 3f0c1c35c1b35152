// Runs the built `infercost` program, for the tests of its sub-commands.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>

namespace infercost::testing {

struct CommandResult {
  int status;          // the exit code, or -1 when the program did not exit normally
  std::string output;  // stdout and stderr together
};

// `environment`: assignments put before the program, e.g. "INFERCOST_IMPL=gemm=nosuch".
inline CommandResult run_cli(const std::string& args, const std::string& environment = "") {
  const std::string command =
      (environment.empty() ? "" : "env " + environment + " ") + std::string(INFERCOST_CLI_PATH) + " " + args + " 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  std::string out;
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe.get()) != nullptr) out += buffer.data();
  const int status = pclose(pipe.release());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace infercost::testing
