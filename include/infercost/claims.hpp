// The claims catalogue (docs/claims.md): each published figure turned into a formula over the
// cost model and stated inputs, the value infercost computes, and a verdict.
#pragma once

#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace infercost {

enum class Verdict {
  reproduced,                   // first principles give the published figure
  reproduced_under_assumption,  // ... once a stated input (not a fitted factor) is assumed
  not_derivable,                // the figure rests on data that is not public
  contradicted,                 // first principles give a different figure under any fair input
  needs_measurement,            // the figure rests on a measurement infercost has not made yet
};
std::string_view to_string(Verdict verdict);    // "reproduced under a stated assumption", ...
std::string_view verdict_key(Verdict verdict);  // snake_case, stable: the JSON value

// An input a claim depends on: a published figure it starts from or an assumption the reader can
// change (`infercost claims --set name=value`).
struct Assumption {
  double value = 0;
  std::string unit;
  std::string source;  // where the default comes from, or why it is chosen
};
using Assumptions = std::map<std::string, Assumption, std::less<>>;

Assumptions default_assumptions();
// Throws ConfigError when `name` is not an input or the value is not finite and positive.
void set_assumption(Assumptions& assumptions, std::string_view name, double value);

// A figure infercost computes for a claim.
struct ClaimFigure {
  std::string name;
  double value = 0;
  std::string unit;
};

struct Claim {
  std::string id;  // stable, as in docs/claims.md
  std::string claim;
  std::string source;
  std::string published;  // the published figure, as published
  std::string formula;
  std::vector<std::string> inputs;   // names in Assumptions
  std::string value;                 // infercost's headline figure, short (as the summary table shows it)
  std::vector<ClaimFigure> figures;  // every figure computed, headline first
  Verdict verdict = Verdict::needs_measurement;
  std::string finding;  // why the verdict: where and why infercost's figure and the published one part
};

// Every claim of docs/claims.md, in its order, evaluated with the given inputs.
std::vector<Claim> evaluate_claims(const Assumptions& assumptions = default_assumptions());

// Stable field names; inputs carry their values, units and sources.
nlohmann::json claims_to_json(const std::vector<Claim>& claims, const Assumptions& assumptions);

// Greedy word wrap of `text` to `width` columns; every line starts with `indent`, the first with
// `first_indent`.
std::string wrap_text(std::string_view text, std::size_t width, std::string_view first_indent,
                      std::string_view indent);

}  // namespace infercost
