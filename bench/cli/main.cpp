// infercost: what a transformer layer should cost (the analytic model) and what it costs here.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <exception>

#include "commands.hpp"
#include "infercost/config.hpp"

int main(int argc, char** argv) {
  CLI::App app{"infercost: the cost of a transformer layer on this CPU, classic design beside DeepSeek's"};
  app.require_subcommand(1);
  infercost::cli::add_cost_command(app);
  infercost::cli::add_claims_command(app);
  infercost::cli::add_run_command(app, {argv, argv + argc});
  infercost::cli::add_machine_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error exits 2, as a bad config does.
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const infercost::ConfigError& e) {
    fmt::print(stderr, "infercost: invalid config: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "infercost: {}\n", e.what());
    return 1;
  }
  return 0;
}
