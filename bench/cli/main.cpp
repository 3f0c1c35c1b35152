// infercost: what a transformer layer should cost (the analytic model) and what it costs here.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <string>

#include "commands.hpp"
#include "infercost/config.hpp"
#include "infercost/machine.hpp"

#ifndef INFERCOST_VERSION
#define INFERCOST_VERSION "unknown"
#endif

namespace {

// Ends the process at once with `status` once its output is flushed, without exit()'s handlers:
// under an address-space limit (ulimit -v) an OpenBLAS worker thread retries a 128 MiB allocation
// forever, and OpenBLAS's exit handler joins it, so even `infercost --version` never ended.
// Nothing is left to clean up: every results file is written whole or not at all.
[[noreturn]] void end_now(int status) {
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(status);
}

// The first argument when it names no sub-command (and is no option): CLI11 would only say "A
// subcommand is required".
const CLI::App* unknown_subcommand(const CLI::App& app, int argc, char** argv, std::string& name) {
  if (argc < 2 || argv[1][0] == '-') return nullptr;
  name = argv[1];
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    if (sub->check_name(name)) return nullptr;
  return &app;
}

std::string subcommand_names(const CLI::App& app) {
  std::string names;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    names += (names.empty() ? "" : ", ") + sub->get_name();
  return names;
}

int run_program(int argc, char** argv) {
  CLI::App app{"infercost: the cost of a transformer layer on this CPU, classic design beside DeepSeek's"};
  app.require_subcommand(1);
  const std::string commit = infercost::build_context().git_commit;
  app.set_version_flag("--version", fmt::format("infercost {} (commit {})", INFERCOST_VERSION, commit));
  infercost::cli::add_cost_command(app);
  infercost::cli::add_claims_command(app);
  infercost::cli::add_run_command(app, {argv, argv + argc});
  infercost::cli::add_machine_command(app);
  std::string name;
  if (unknown_subcommand(app, argc, argv, name) != nullptr) {
    fmt::print(stderr, "infercost: unknown sub-command '{}'; expected one of {} (infercost --help)\n", name,
               subcommand_names(app));
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error exits 2, as a bad config does.
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const infercost::cli::RunExit& e) {
    return e.status;
  } catch (const infercost::ConfigError& e) {
    fmt::print(stderr, "infercost: {}\n", e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "infercost: out of memory (a memory limit such as ulimit -v or a cgroup's is lower than "
                       "this command needs)\n");
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "infercost: {}\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { end_now(run_program(argc, argv)); }
