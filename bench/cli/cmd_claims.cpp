// `infercost claims`: the claims catalogue, each claim with its formula, inputs, value and verdict.
#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.hpp"
#include "infercost/claims.hpp"
#include "infercost/config.hpp"

namespace infercost::cli {
namespace {

constexpr std::size_t kWidth = 100;

struct ClaimsArgs {
  bool json = false;
  std::vector<std::string> ids;
  std::vector<std::string> settings;  // NAME=VALUE
  bool list_inputs = false;
};

void apply_setting(Assumptions& assumptions, const std::string& setting) {
  const std::size_t eq = setting.find('=');
  if (eq == std::string::npos) throw ConfigError(fmt::format("set: '{}' is not NAME=VALUE", setting));
  const std::string value_text = setting.substr(eq + 1);
  double value = 0;
  const auto [end, ec] = std::from_chars(value_text.data(), value_text.data() + value_text.size(), value);
  if (ec != std::errc{} || end != value_text.data() + value_text.size() || value_text.empty())
    throw ConfigError(fmt::format("set: '{}' in '{}' is not a number", value_text, setting));
  set_assumption(assumptions, setting.substr(0, eq), value);
}

// Four significant figures; K, M, G, T for large counts; scientific beyond.
std::string number(double v) {
  const double a = std::abs(v);
  if (a < 1e4 || a >= 1e15) return fmt::format("{:.4g}", v);
  const char* suffix[] = {"K", "M", "G", "T"};
  int i = 0;
  for (v /= 1e3; std::abs(v) >= 1e3; v /= 1e3) ++i;
  return fmt::format("{:.4g}{}", v, suffix[i]);
}

std::string input_text(const std::string& name, const Assumption& a) {
  return fmt::format("{} = {} {}: {}", name, number(a.value), a.unit, a.source);
}

void print_summary(const std::vector<Claim>& claims) {
  fmt::print("{:<24}{:<21}{:<19}{}\n", "id", "published", "infercost", "verdict");
  for (const Claim& c : claims)
    fmt::print("{:<24}{:<21}{:<19}{}\n", c.id, c.published, c.value, to_string(c.verdict));
}

void print_claim(const Claim& c, const Assumptions& assumptions) {
  const std::string pad(11, ' ');
  fmt::print("\n{}: {}\n", c.id, to_string(c.verdict));
  fmt::print("{}", wrap_text(c.claim, kWidth, "  claim    ", pad));
  fmt::print("{}", wrap_text(c.source, kWidth, "  source   ", pad));
  fmt::print("{}", wrap_text(c.formula, kWidth, "  formula  ", pad));
  for (std::size_t i = 0; i < c.inputs.size(); ++i)
    fmt::print("{}", wrap_text(input_text(c.inputs[i], assumptions.at(c.inputs[i])), kWidth,
                               i == 0 ? "  inputs   " : pad, pad + "  "));
  std::string figures;
  for (const ClaimFigure& f : c.figures)
    figures += fmt::format("{}{} = {} {}", figures.empty() ? "" : "; ", f.name, number(f.value), f.unit);
  fmt::print("{}", wrap_text(figures, kWidth, "  figures  ", pad));
  fmt::print("{}", wrap_text(c.finding, kWidth, "  finding  ", pad));
}

void run(const ClaimsArgs& a, const CLI::App& cmd) {
  if (!cmd.remaining().empty())
    throw ConfigError(fmt::format("claims: unexpected argument '{}'", cmd.remaining().front()));
  Assumptions assumptions = default_assumptions();
  for (const std::string& s : a.settings) apply_setting(assumptions, s);
  if (a.list_inputs) {
    for (const auto& [name, input] : assumptions)
      fmt::print("{}", wrap_text(input_text(name, input), kWidth, "", "  "));
    return;
  }
  std::vector<Claim> claims = evaluate_claims(assumptions);
  for (const std::string& id : a.ids)
    if (std::none_of(claims.begin(), claims.end(), [&](const Claim& c) { return c.id == id; }))
      throw ConfigError(fmt::format("id: no claim '{}'", id));
  if (!a.ids.empty())
    std::erase_if(claims,
                  [&](const Claim& c) { return std::find(a.ids.begin(), a.ids.end(), c.id) == a.ids.end(); });

  if (a.json) {
    fmt::print("{}\n", claims_to_json(claims, assumptions).dump(2));
    return;
  }
  fmt::print("{}",
             wrap_text("Claims from docs/claims.md. Every assumption is an input: change one with --set "
                       "NAME=VALUE (list them with --inputs). Cost-model conventions: infercost cost --help.",
                       kWidth, "", ""));
  fmt::print("\n");
  print_summary(claims);
  for (const Claim& c : claims) print_claim(c, assumptions);
}

}  // namespace

void add_claims_command(CLI::App& app) {
  auto args = std::make_shared<ClaimsArgs>();
  CLI::App* cmd = app.add_subcommand("claims",
                                     "The published claims infercost checks: formula, inputs, value, "
                                     "verdict");
  cmd->add_flag("--json", args->json, "Print JSON (stable ids and field names)");
  cmd->add_option("--id", args->ids, "Only these claims (repeatable)");
  cmd->add_option("--set", args->settings, "Change an input: NAME=VALUE (repeatable)");
  cmd->add_flag("--inputs", args->list_inputs, "List every input with its default and source");
  cmd->footer(
      "Verdicts: reproduced; reproduced under a stated assumption; not derivable from public data; "
      "contradicted;\nneeds a measurement (until the harness supplies one).");
  cmd->allow_extras();  // run() refuses them, exiting 2 like any bad input
  cmd->callback([args, cmd] { run(*args, *cmd); });
}

}  // namespace infercost::cli
