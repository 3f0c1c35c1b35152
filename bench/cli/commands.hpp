// The sub-commands of the `infercost` program; each file cmd_<name>.cpp adds one.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace infercost::cli {

// Thrown by a sub-command to end the program with `status` after it has said why.
struct RunExit {
  int status;
};

void add_cost_command(CLI::App& app);
void add_claims_command(CLI::App& app);
// `command_line` (argv) is recorded in the results.
void add_run_command(CLI::App& app, std::vector<std::string> command_line);
void add_machine_command(CLI::App& app);

}  // namespace infercost::cli
