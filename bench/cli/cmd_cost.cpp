// `infercost cost`: the analytic cost model for one model, or several side by side.
#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "commands.hpp"
#include "infercost/claims.hpp"
#include "infercost/config.hpp"
#include "infercost/cost_model.hpp"

namespace infercost::cli {
namespace {

constexpr std::size_t kWidth = 100;

// Options are kept as text and read here rather than by CLI11, so that a bad number or a clash exits
// 2 naming its field, as every other bad input does. Unset options keep CostOptions' defaults.
struct CostArgs {
  std::string model;
  std::string compare;
  std::optional<std::string> context, batch;
  std::optional<std::string> weight_dtype, weight_bits, kv_dtype, kv_bits;
  std::string mla_form = "absorbed";
  std::string embeddings = "touched";
  std::optional<std::string> bandwidth_gbs, peak_gflops, memory_budget_gib;
  bool json = false;
};

template <class Number>
Number parse_number(std::string_view field, const std::string& text) {
  Number value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size())
    throw ConfigError(fmt::format("{}: '{}' is not {}", field, text,
                                  std::is_integral_v<Number> ? "a whole number" : "a number"));
  return value;
}

template <class Number>
void read_number(Number& out, std::string_view field, const std::optional<std::string>& text) {
  if (text) out = parse_number<Number>(field, *text);
}

Precision read_precision(std::string_view name, const std::optional<std::string>& dtype,
                         const std::optional<std::string>& bits) {
  if (dtype && bits)
    throw ConfigError(fmt::format("{0}-bits: give --{0}-dtype or --{0}-bits, not both", name));
  if (bits) {
    const std::string option = fmt::format("--{}-bits", name);
    return precision_from_bits(parse_number<double>(option, *bits), option);
  }
  return parse_precision(dtype.value_or("bf16"), fmt::format("{}-dtype", name));
}

CostOptions to_options(const CostArgs& a) {
  CostOptions o;
  read_number(o.context, "context", a.context);
  read_number(o.batch, "batch", a.batch);
  o.weight = read_precision("weight", a.weight_dtype, a.weight_bits);
  o.kv = read_precision("kv", a.kv_dtype, a.kv_bits);
  if (a.mla_form != "absorbed" && a.mla_form != "naive")
    throw ConfigError(fmt::format("mla-form: '{}' is not absorbed or naive", a.mla_form));
  o.mla_form = a.mla_form == "naive" ? MlaForm::naive : MlaForm::absorbed;
  o.embeddings = parse_embedding_count(a.embeddings);
  read_number(o.bandwidth_gbs, "bandwidth-gbs", a.bandwidth_gbs);
  read_number(o.peak_gflops, "peak-gflops", a.peak_gflops);
  read_number(o.memory_budget_gib, "memory-budget-gib", a.memory_budget_gib);
  validate(o);
  return o;
}

// Four significant figures, and a unit prefix from `units` (each step a factor of `base`).
std::string scaled_figure(double v, double base, const std::vector<const char*>& units) {
  std::size_t i = 0;
  while (i + 1 < units.size() && std::abs(v) >= base) {
    v /= base;
    ++i;
  }
  const int decimals = std::abs(v) >= 100 ? 1 : std::abs(v) >= 10 ? 2 : 3;
  return i == 0 && v == std::floor(v) ? fmt::format("{:.0f} {}", v, units[0])
                                      : fmt::format("{:.{}f} {}", v, decimals, units[i]);
}

std::string params(double n) { return scaled_figure(n, 1000, {"", "K", "M", "B", "T"}); }
std::string bytes(double n) { return scaled_figure(n, 1024, {"B", "KiB", "MiB", "GiB", "TiB", "PiB"}); }
std::string flops(double n) {
  return scaled_figure(n, 1000, {"FLOP", "KFLOP", "MFLOP", "GFLOP", "TFLOP", "PFLOP"});
}
std::string rate(double n) { return scaled_figure(n, 1000, {"", "K", "M", "G"}); }

std::string seconds(double s) {
  if (s >= 1) return fmt::format("{:.3g} s", s);
  if (s >= 1e-3) return fmt::format("{:.3g} ms", s * 1e3);
  return fmt::format("{:.3g} us", s * 1e6);
}

std::string attention_summary(const ModelConfig& m) {
  const AttentionConfig& a = m.attention;
  if (a.kind == AttentionKind::mla)
    return fmt::format("MLA {} heads, kv_lora {} + rope {}{}", a.n_heads, a.kv_lora_rank, a.qk_rope_head_dim,
                       a.q_lora_rank > 0 ? fmt::format(", q_lora {}", a.q_lora_rank) : "");
  return fmt::format("{} {} heads, {} KV heads, d_h {}{}{}", to_string(a.kind), a.n_heads, a.n_kv_heads,
                     a.head_dim, a.qkv_bias ? ", q/k/v biases" : "", a.qk_norm ? ", q/k RMSNorm" : "");
}

std::string ffn_summary(const ModelConfig& m) {
  if (!m.moe) return fmt::format("dense SwiGLU {}", m.intermediate_size);
  const MoeConfig& e = *m.moe;
  const std::string shared =
      e.shared_expert_gate ? fmt::format("{} gated shared of width {}", e.n_shared_experts, e.shared_expert_width())
                           : fmt::format("{} shared", e.n_shared_experts);
  return fmt::format("{} dense + {} MoE layers ({} + top-{} of {} routed, width {})", m.num_dense_layers(),
                     m.num_moe_layers(), shared, e.top_k, e.n_routed_experts, e.expert_intermediate_size);
}

std::string options_summary(const CostOptions& o) {
  return fmt::format(
      "context L = {}, batch B = {}, weights {} ({:g} bits), KV cache {} ({:g} bits), embeddings counted: "
      "{}; roofline inputs {:g} GB/s, {:g} GFLOP/s, budget {:g} GiB",
      o.context, o.batch, o.weight.name, o.weight.bits, o.kv.name, o.kv.bits, to_string(o.embeddings),
      o.bandwidth_gbs, o.peak_gflops, o.memory_budget_gib);
}

std::string decode_summary(const Roofline& r, std::int64_t batch) {
  return fmt::format("{}-bound, {} per step of B = {}, {} tokens/s", r.memory_bound ? "memory" : "compute",
                     seconds(r.time_s), batch, rate(r.tokens_per_s));
}

void print_components(const CostReport& r) {
  fmt::print("{:<24}{:>12}{:>12}{:>13}{:>13}{:>13}{:>13}\n", "component", "params", "activated", "weights",
             "prefill", "decode", "read/step");
  for (Component c : kComponents) {
    const ComponentCost& x = r.total[c];
    const bool uncounted = (c == Component::embedding || c == Component::lm_head) &&
                           r.options.embeddings == EmbeddingCount::none;
    if (x.params_total == 0 && x.flops_decode == 0 && x.params_activated == 0) continue;
    fmt::print("{:<24}{:>12}{:>12}{:>13}{:>13}{:>13}{:>13}\n",
               fmt::format("{}{}", label(c), uncounted ? " (excl.)" : ""), params(x.params_total),
               params(x.params_activated), bytes(x.weight_bytes), flops(x.flops_prefill),
               flops(x.flops_decode), bytes(x.weight_bytes_read_per_step));
  }
  fmt::print("{:<24}{:>12}{:>12}{:>13}{:>13}{:>13}{:>13}\n", "total", params(r.params_total),
             params(r.params_activated), bytes(r.weight_bytes), flops(r.flops_prefill_per_token),
             flops(r.flops_decode_per_token), bytes(r.total.total().weight_bytes_read_per_step));
  fmt::print(
      "(prefill, decode: forward FLOPs per token; read/step: weights one decode step of B tokens reads)\n");
}

void print_line(std::string_view key, const std::string& value) {
  fmt::print("{}", wrap_text(value, kWidth, fmt::format("{:<22}", key), std::string(22, ' ')));
}

void print_report(const CostReport& r) {
  const ModelConfig& m = r.model;
  const CostOptions& o = r.options;
  fmt::print("{}: {} layers, d = {}, vocab {}{}\n", m.name, m.num_layers, m.hidden_size, m.vocab_size,
             m.tie_word_embeddings ? " (tied LM head)" : "");
  print_line("  read as", design_summary(m));
  print_line("  attention",
             attention_summary(m) + (m.attention.kind == AttentionKind::mla
                                         ? fmt::format(" ({} form below)", mla_form_name(o.mla_form))
                                         : ""));
  print_line("  feed-forward", ffn_summary(m));
  print_line("  inputs", options_summary(o));
  fmt::print("\n");
  print_components(r);
  fmt::print("\n");
  print_line("KV cache", fmt::format("{} elements = {} per token per layer; {} per token ({} layers); {} "
                                     "at L x B = {} x {}",
                                     r.kv_elements_per_token_per_layer, bytes(r.kv_bytes_per_token_per_layer),
                                     bytes(r.kv_bytes_per_token), m.num_layers,
                                     bytes(r.kv_bytes_at_context_and_batch), o.context, o.batch));
  if (m.attention.kind == AttentionKind::mla) {
    CostOptions other = o;
    other.mla_form = o.mla_form == MlaForm::absorbed ? MlaForm::naive : MlaForm::absorbed;
    const CostReport x = estimate_cost(m, other);
    print_line(fmt::format("MLA {} form", mla_form_name(other.mla_form)),
               fmt::format("KV {} elements = {} per token per layer, {} per token; decode {} per token, "
                           "{}; largest batch in the budget: {}",
                           x.kv_elements_per_token_per_layer, bytes(x.kv_bytes_per_token_per_layer),
                           bytes(x.kv_bytes_per_token), flops(x.flops_decode_per_token),
                           decode_summary(x.decode, o.batch), x.fit.max_batch));
  }
  print_line("FLOPs per token",
             fmt::format("prefill {} (whole sequence of {}: {}), decode {}, training {} "
                         "(3 x forward)",
                         flops(r.flops_prefill_per_token), o.context, flops(r.flops_prefill_sequence),
                         flops(r.flops_decode_per_token), flops(r.flops_training_per_token)));
  const DecodeTraffic& t = r.decode_traffic;
  print_line("decode bytes/token",
             fmt::format("weights {} + KV read {} + KV written {} = {}; arithmetic "
                         "intensity {:.3g} FLOP/byte",
                         bytes(t.weight_bytes_read), bytes(t.kv_bytes_read), bytes(t.kv_bytes_written),
                         bytes(t.total()), r.arithmetic_intensity));
  print_line("roofline", fmt::format("inputs {:g} GB/s, {:.0f} GFLOP/s (balance {:.3g} FLOP/byte); decode {}",
                                     o.bandwidth_gbs, o.peak_gflops, o.peak_gflops / o.bandwidth_gbs,
                                     decode_summary(r.decode, o.batch)));
  const MemoryFit& f = r.fit;
  std::string fit;
  if (f.weight_bytes >= f.budget_bytes)
    fit = fmt::format("{:g} GiB cannot hold the weights ({})", o.memory_budget_gib, bytes(f.weight_bytes));
  else if (f.max_batch == 0)
    fit = fmt::format("{:g} GiB holds weights {} + KV for {} tokens: not one sequence of {}",
                      o.memory_budget_gib, bytes(f.weight_bytes), f.max_cached_tokens, o.context);
  else
    fit = fmt::format(
        "{:g} GiB holds weights {} + KV for {} tokens = batch {}{} at L = {}; decode at that batch: {}",
        o.memory_budget_gib, bytes(f.weight_bytes), f.max_cached_tokens, f.max_batch,
        f.max_batch == kMaxCostTokens ? " (the batch limit)" : "", o.context,
        decode_summary(f.decode, f.max_batch));
  print_line("memory budget", fit);
  fmt::print("Conventions: infercost cost --help. Bandwidth and FLOP rate are inputs, not measurements.\n");
}

std::string count(double n) { return fmt::format("{:.0f}", n); }

// One row of the comparison: a figure per model, printed with its ratio to the first model's.
struct Row {
  std::string label;
  std::string (*format)(double);
  double (*get)(const CostReport&);
  bool needs_fit = false;  // meaningless when the weights or one sequence do not fit the budget
};

void print_comparison(const std::vector<CostReport>& reports) {
  const CostOptions& o = reports.front().options;
  fmt::print("{}",
             wrap_text(options_summary(o) + "; ratios to " + reports.front().model.name, kWidth, "", ""));
  const std::vector<Row> rows = {
      {"params total", params, [](const CostReport& r) { return double(r.params_total); }},
      {"params activated/token", params, [](const CostReport& r) { return double(r.params_activated); }},
      {"weights", bytes, [](const CostReport& r) { return r.weight_bytes; }},
      {"KV elements/token/layer", count,
       [](const CostReport& r) { return double(r.kv_elements_per_token_per_layer); }},
      {"KV bytes/token", bytes, [](const CostReport& r) { return r.kv_bytes_per_token; }},
      {"KV at L x B", bytes, [](const CostReport& r) { return r.kv_bytes_at_context_and_batch; }},
      {"prefill FLOPs/token", flops, [](const CostReport& r) { return r.flops_prefill_per_token; }},
      {"decode FLOPs/token", flops, [](const CostReport& r) { return r.flops_decode_per_token; }},
      {"training FLOPs/token", flops, [](const CostReport& r) { return r.flops_training_per_token; }},
      {"decode bytes/token", bytes, [](const CostReport& r) { return r.decode_traffic.total(); }},
      {"  of which weights", bytes, [](const CostReport& r) { return r.decode_traffic.weight_bytes_read; }},
      {"  of which KV", bytes, [](const CostReport& r) { return r.decode_traffic.kv_bytes_read; }},
      {"FLOP/byte at decode", rate, [](const CostReport& r) { return r.arithmetic_intensity; }},
      {"decode tokens/s at B", rate, [](const CostReport& r) { return r.decode.tokens_per_s; }},
      {"max batch in budget", count, [](const CostReport& r) { return double(r.fit.max_batch); }, true},
      {"tokens/s at max batch", rate, [](const CostReport& r) { return r.fit.decode.tokens_per_s; }, true},
  };
  fmt::print("\n{:<24}", "");
  for (const CostReport& r : reports) fmt::print("{:>19}", r.model.name.substr(0, 18));
  fmt::print("\n{:<24}", "attention");
  for (const CostReport& r : reports) {
    const bool mla = r.model.attention.kind == AttentionKind::mla;
    fmt::print("{:>19}", fmt::format("{}{}", to_string(r.model.attention.kind),
                                     mla ? fmt::format(" {}", mla_form_name(o.mla_form)) : ""));
  }
  // Which design each was read as: its family, or its fields when it names none.
  fmt::print("\n{:<24}", "read as");
  for (const CostReport& r : reports)
    fmt::print("{:>19}", r.model.family.empty() ? "its fields" : r.model.family.substr(0, 18));
  fmt::print("\n{:<24}", "layers (dense+MoE)");
  for (const CostReport& r : reports)
    fmt::print("{:>19}", fmt::format("{}+{}", r.model.num_dense_layers(), r.model.num_moe_layers()));
  fmt::print("\n");
  for (const Row& row : rows) {
    fmt::print("{:<24}", row.label);
    const CostReport& first = reports.front();
    for (const CostReport& r : reports) {
      if (row.needs_fit && r.fit.max_batch == 0) {
        fmt::print("{:>19}", "no fit");
        continue;
      }
      const double base = row.get(first);
      const bool ratio = base != 0 && !(row.needs_fit && first.fit.max_batch == 0);
      fmt::print("{:>12}{:>7}", row.format(row.get(r)),
                 ratio ? fmt::format("x{:.2f}", row.get(r) / base) : "");
    }
    fmt::print("\n");
  }
  fmt::print("{}",
             wrap_text(fmt::format("Decode at B = {}. Max batch: at L = {} within {:g} GiB; no fit when "
                                   "the weights or one sequence do not fit. Bandwidth and FLOP rate are "
                                   "inputs. Conventions: infercost cost --help.",
                                   o.batch, o.context, o.memory_budget_gib),
                       kWidth, "", ""));
}

std::vector<std::string> split_names(const std::string& list) {
  std::vector<std::string> names;
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t comma = std::min(list.find(',', start), list.size());
    if (comma > start) names.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return names;
}

void run(const CostArgs& a, const CLI::App& cmd) {
  if (!cmd.remaining().empty())
    throw ConfigError(fmt::format("cost: unexpected argument '{}'", cmd.remaining().front()));
  if (a.model.empty() == a.compare.empty())
    throw ConfigError("cost: give either --model NAME|config.json or --compare A,B,...");
  const CostOptions options = to_options(a);
  const std::vector<std::string> names = a.model.empty() ? split_names(a.compare) : std::vector{a.model};
  if (names.empty()) throw ConfigError("compare: no model names in '" + a.compare + "'");
  std::vector<CostReport> reports;
  for (const std::string& name : names) reports.push_back(estimate_cost(resolve_model(name), options));
  for (const CostReport& r : reports)
    for (const std::string& warning : cost_warnings(r)) fmt::print(stderr, "infercost: warning: {}\n", warning);

  if (a.json) {
    nlohmann::json out;
    if (a.model.empty()) {
      out = {{"ratios_to", reports.front().model.name}, {"models", nlohmann::json::array()}};
      for (const CostReport& r : reports) out["models"].push_back(report_to_json(r));
    } else {
      out = report_to_json(reports.front());
    }
    fmt::print("{}\n", out.dump(2));
  } else if (a.model.empty()) {
    print_comparison(reports);
  } else {
    print_report(reports.front());
  }
}

std::string help_footer() {
  const std::string presets = fmt::format("Presets: {}.", fmt::join(preset_names(), ", "));
  std::string text = wrap_text(presets, kWidth, "", "  ");
  text += "\nConventions:\n";
  for (const std::string& c : cost_conventions()) text += wrap_text(c, kWidth, "  - ", "    ");
  return text;
}

}  // namespace

void add_cost_command(CLI::App& app) {
  auto args = std::make_shared<CostArgs>();
  CLI::App* cmd = app.add_subcommand("cost",
                                     "What a model should cost: parameters, bytes, FLOPs, roofline "
                                     "(analytic, nothing is run)");
  const CostOptions defaults;
  cmd->allow_extras();  // run() refuses them, exiting 2 like any bad input
  cmd->add_option("--model", args->model, "A preset name or a path to a HuggingFace config.json");
  cmd->add_option("--compare", args->compare, "Several models side by side, ratios to the first: A,B,...");
  cmd->add_option("--context", args->context, "L: tokens in each sequence's cache at decode; prefill length")
      ->type_name("INT")
      ->default_str(std::to_string(defaults.context));
  cmd->add_option("--batch", args->batch, "B: sequences decoded together")
      ->type_name("INT")
      ->default_str(std::to_string(defaults.batch));
  cmd->add_option("--weight-dtype", args->weight_dtype, "fp32|bf16|fp16|fp8|int8|int4")->default_str("bf16");
  cmd->add_option("--weight-bits", args->weight_bits, "Any bits per weight (e.g. 4.5), not with the dtype")
      ->type_name("FLOAT");
  cmd->add_option("--kv-dtype", args->kv_dtype, "fp32|bf16|fp16|fp8|int8|int4")->default_str("bf16");
  cmd->add_option("--kv-bits", args->kv_bits, "Any bits per cached element (e.g. 6), not with the dtype")
      ->type_name("FLOAT");
  cmd->add_option("--mla-form", args->mla_form, "MLA: absorbed (caches the latent) or naive")
      ->capture_default_str();
  cmd->add_option("--count-embeddings", args->embeddings, "none|touched|all (see conventions)")
      ->capture_default_str();
  cmd->add_option("--bandwidth-gbs", args->bandwidth_gbs, "Memory bandwidth, GB/s (an input)")
      ->type_name("FLOAT")
      ->default_str(fmt::format("{:.0f}", defaults.bandwidth_gbs));
  cmd->add_option("--peak-gflops", args->peak_gflops, "Peak FLOP rate, GFLOP/s (an input)")
      ->type_name("FLOAT")
      ->default_str(fmt::format("{:.0f}", defaults.peak_gflops));
  cmd->add_option("--memory-budget-gib", args->memory_budget_gib, "Memory for weights + KV cache, GiB")
      ->type_name("FLOAT")
      ->default_str(fmt::format("{:g}", defaults.memory_budget_gib));
  cmd->add_flag("--json", args->json, "Print JSON (stable field names, units in the names)");
  cmd->footer(help_footer());
  cmd->callback([args, cmd] { run(*args, *cmd); });
}

}  // namespace infercost::cli
