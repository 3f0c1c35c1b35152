// The sub-commands of the `infercost` program; each file cmd_<name>.cpp adds one.
#pragma once

#include <CLI/CLI.hpp>

namespace infercost::cli {

void add_cost_command(CLI::App& app);
void add_claims_command(CLI::App& app);

}  // namespace infercost::cli
