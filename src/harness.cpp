#include "infercost/harness.hpp"

#include <fmt/format.h>
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <utility>

#include "infercost/buffer.hpp"
#include "infercost/cost_model.hpp"
#include "infercost/kernels.hpp"
#include "infercost/layers.hpp"
#include "infercost/machine.hpp"
#include "infercost/weights.hpp"

namespace infercost {

using nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Suites

namespace {

struct Point {
  std::int64_t context, batch;
};

// What a suite measures. Decode depths go from 128 to 32k; batches from 1 to 16.
struct Grid {
  std::vector<std::int64_t> prefill_lengths;          // whole blocks
  std::vector<Point> decode_points;                   // whole blocks
  std::vector<std::int64_t> variant_prefill_lengths;  // each attention variant and FFN alone
  std::vector<Point> variant_decode_points;           // each attention variant alone
  std::vector<std::int64_t> ffn_decode_batches;       // each FFN alone: B tokens, one per sequence
  std::vector<std::int64_t> max_throughput_contexts;
  std::int64_t max_batch = 64;  // the largest batch a max-throughput case measures
  std::size_t eviction_bytes = 0;
  int min_repetitions = 3, max_repetitions = 9;
  double target_seconds = 1.0;  // timed calls per case: about this long in all, within the bounds
  // A case whose warm-up and timed calls would take longer than this does fewer repetitions (at
  // least 1), and a prefill whose call is estimated (from the shorter one before it) to take more
  // than half of it is skipped: the run keeps its time budget when a kernel is slow.
  double case_seconds_cap = 10.0;
  double ceilings_seconds = 3.0;
  std::size_t ceilings_array_bytes = 0;  // 0: machine.hpp's default (>= 1 GiB)
};

constexpr std::size_t kMiB = std::size_t{1} << 20;
constexpr std::size_t kGiB = std::size_t{1} << 30;
constexpr std::int64_t kMaxContext = std::int64_t{1} << 30;  // tokens
constexpr std::int64_t kMaxBatch = std::int64_t{1} << 20;    // sequences

std::vector<Point> cross(const std::vector<std::int64_t>& contexts, const std::vector<std::int64_t>& batches) {
  std::vector<Point> points;
  for (std::int64_t b : batches)
    for (std::int64_t l : contexts) points.push_back({l, b});
  return points;
}

Grid suite_grid(Suite suite) {
  Grid g;
  switch (suite) {
    case Suite::quick:
      g.prefill_lengths = {16, 64};
      g.decode_points = {{16, 1}, {128, 1}, {128, 4}};
      g.variant_prefill_lengths = {32};
      g.variant_decode_points = {{64, 1}};
      g.ffn_decode_batches = {1, 4};
      g.max_throughput_contexts = {128};
      g.eviction_bytes = 16 * kMiB;  // the tiny layers are KiB: enough to flush L1 and L2
      g.min_repetitions = 2;
      g.max_repetitions = 3;
      g.target_seconds = 0.01;
      g.case_seconds_cap = 5.0;
      g.ceilings_seconds = 0.3;
      g.ceilings_array_bytes = 128 * kMiB;
      break;
    case Suite::standard:
      g.prefill_lengths = {128, 512, 2048};
      g.decode_points = {{128, 1}, {4096, 1}, {32768, 1}, {128, 16}, {4096, 16}};
      g.variant_prefill_lengths = {512};
      g.variant_decode_points = {{4096, 1}};
      g.ffn_decode_batches = {1, 16};
      g.max_throughput_contexts = {32768};
      g.eviction_bytes = kGiB;
      g.min_repetitions = 3;
      g.max_repetitions = 9;
      g.target_seconds = 0.6;
      g.case_seconds_cap = 8.0;
      g.ceilings_seconds = 3.0;
      break;
    case Suite::full:
      g.prefill_lengths = {128, 512, 2048, 8192};
      g.decode_points = cross({128, 1024, 4096, 16384, 32768}, {1, 4, 16});
      g.variant_prefill_lengths = {512, 2048};
      g.variant_decode_points = cross({128, 4096, 32768}, {1, 16});
      g.ffn_decode_batches = {1, 4, 16};
      g.max_throughput_contexts = {4096, 32768};
      g.eviction_bytes = 2 * kGiB;
      g.min_repetitions = 5;
      g.max_repetitions = 15;
      g.target_seconds = 2.0;
      g.case_seconds_cap = 120.0;
      g.ceilings_seconds = 5.0;
      break;
  }
  return g;
}

std::vector<std::int64_t> distinct(const std::vector<Point>& points, bool contexts) {
  std::vector<std::int64_t> values;
  for (const Point& p : points) {
    const std::int64_t v = contexts ? p.context : p.batch;
    if (std::find(values.begin(), values.end(), v) == values.end()) values.push_back(v);
  }
  return values;
}

// The suite's grid with --context / --batch applied: they replace the decode depths (and the
// max-throughput context) and the decode batches.
Grid effective_grid(const RunConfig& config) {
  Grid g = suite_grid(config.suite);
  if (config.contexts.empty() && config.batches.empty()) return g;
  const auto pick = [](const std::vector<std::int64_t>& given, std::vector<std::int64_t> fallback) {
    return given.empty() ? fallback : given;
  };
  g.decode_points = cross(pick(config.contexts, distinct(g.decode_points, true)),
                          pick(config.batches, distinct(g.decode_points, false)));
  g.variant_decode_points = cross(pick(config.contexts, distinct(g.variant_decode_points, true)),
                                  pick(config.batches, distinct(g.variant_decode_points, false)));
  if (!config.batches.empty()) g.ffn_decode_batches = config.batches;
  if (!config.contexts.empty()) g.max_throughput_contexts = config.contexts;
  return g;
}

}  // namespace

std::string_view to_string(Suite suite) {
  switch (suite) {
    case Suite::quick: return "quick";
    case Suite::standard: return "default";
    case Suite::full: return "full";
  }
  return "default";
}

Suite parse_suite(std::string_view text) {
  if (text == "quick") return Suite::quick;
  if (text == "default") return Suite::standard;
  if (text == "full") return Suite::full;
  throw ConfigError(fmt::format("suite: '{}' is not quick, default or full", text));
}

// ---------------------------------------------------------------------------------------------
// Designs and the units measured alone

namespace {

// The layer that represents a model: its first MoE layer when it has one (the layer type that makes
// up nearly all of a DeepSeek model), else layer 0; the classic side of a pair takes its first dense
// layer when it has one.
int representative_layer(const ModelConfig& model, bool classic) {
  if (classic && model.num_dense_layers() > 0) return 0;
  return model.moe ? model.first_k_dense_replace : 0;
}

// MLA attention or a mixture of experts: the DeepSeek side of a pair.
bool deepseek_style(const ModelConfig& model) {
  return model.attention.kind == AttentionKind::mla || model.moe.has_value();
}

// Something timed on its own: a whole block, an attention or a feed-forward, with the cost model's
// view of it.
struct UnitSpec {
  enum class Part { block, attention, ffn };
  std::string name;  // design of the cases: "classic", "gqa", "moe", ...
  Part part = Part::block;
  std::size_t design = 0;  // index into RunConfig::designs it derives from (its block's unit is first)
  ModelConfig model;       // the config it is built from (a variant's attention changed)
  int layer = 0;
  MlaForm form = MlaForm::absorbed;
  bool reuses_block = false;  // the design's own block holds it (no weights of its own)
};

std::vector<Component> components_of(UnitSpec::Part part) {
  switch (part) {
    case UnitSpec::Part::attention: return {Component::attention_projections, Component::attention_context};
    case UnitSpec::Part::ffn:
      return {Component::router, Component::shared_experts, Component::routed_experts, Component::dense_ffn};
    case UnitSpec::Part::block: break;
  }
  return {kComponents.begin(), kComponents.end()};
}

std::string unique_name(const std::string& name, const std::string& design, const std::set<std::string>& taken) {
  return taken.count(name) ? fmt::format("{}@{}", name, design) : name;
}

std::vector<UnitSpec> unit_specs(const RunConfig& config) {
  std::vector<UnitSpec> units;
  std::set<std::string> taken;
  const auto add = [&](UnitSpec u) {
    u.name = unique_name(u.name, config.designs[u.design].name, taken);
    taken.insert(u.name);
    units.push_back(std::move(u));
  };
  for (std::size_t i = 0; i < config.designs.size(); ++i) {
    const Design& d = config.designs[i];
    add({d.name, UnitSpec::Part::block, i, d.model, d.layer, MlaForm::absorbed, false});
  }
  for (std::size_t i = 0; i < config.designs.size(); ++i) {
    const Design& d = config.designs[i];
    const AttentionConfig& a = d.model.attention;
    if (a.kind == AttentionKind::mla) {
      add({"mla_naive", UnitSpec::Part::attention, i, d.model, d.layer, MlaForm::naive, false});
      add({"mla_absorbed", UnitSpec::Part::attention, i, d.model, d.layer, MlaForm::absorbed, true});
      continue;
    }
    // MHA, GQA and MQA at this width: n_h KV heads, the model's own (when strictly between), and 1.
    std::vector<int> kv_choices = {a.n_heads};
    if (a.n_kv_heads > 1 && a.n_kv_heads < a.n_heads) kv_choices.push_back(a.n_kv_heads);
    if (a.n_heads > 1) kv_choices.push_back(1);
    for (const int kv_heads : kv_choices) {
      ModelConfig m = d.model;
      m.attention.n_kv_heads = kv_heads;
      m.attention.kind = standard_attention_kind(a.n_heads, kv_heads);
      std::string kind(to_string(m.attention.kind));
      std::transform(kind.begin(), kind.end(), kind.begin(), [](unsigned char ch) { return std::tolower(ch); });
      add({kind, UnitSpec::Part::attention, i, m, d.layer, MlaForm::absorbed, kv_heads == a.n_kv_heads});
    }
  }
  for (std::size_t i = 0; i < config.designs.size(); ++i) {
    const Design& d = config.designs[i];
    add({d.model.is_moe_layer(d.layer) ? "moe" : "dense", UnitSpec::Part::ffn, i, d.model, d.layer, MlaForm::absorbed,
         true});
  }
  return units;
}

// The cost model's figures for a unit: its components of layer_cost at (context, batch).
struct UnitCost {
  ComponentCost sum;
  double kv_bytes_per_token_per_layer = 0;  // 0 for a feed-forward
};

UnitCost unit_cost(const UnitSpec& u, const RunConfig& config, std::int64_t context, std::int64_t batch) {
  CostOptions o;
  o.context = std::max<std::int64_t>(context, 1);
  o.batch = std::max<std::int64_t>(batch, 1);
  o.weight = parse_precision(to_string(config.weight_dtype));
  o.kv = parse_precision(to_string(config.kv_dtype));
  o.mla_form = u.form;
  const Breakdown b = layer_cost(u.model, u.model.is_moe_layer(u.layer), o);
  UnitCost c;
  for (Component part : components_of(u.part)) c.sum += b[part];
  if (u.part != UnitSpec::Part::ffn)
    c.kv_bytes_per_token_per_layer =
        o.kv.bytes(static_cast<double>(kv_elements_per_token_per_layer(u.model.attention, u.form)));
  return c;
}

// Weights a unit allocates when built (none when it is part of its design's block).
double unit_weight_bytes(const UnitSpec& u, const RunConfig& config) {
  if (u.reuses_block) return 0;
  return unit_cost(u, config, 1, 1).sum.weight_bytes;
}

std::string case_id(const std::string& kind, const std::string& design, std::int64_t context, std::int64_t batch) {
  if (kind.ends_with("prefill")) return fmt::format("{}/{}/T{}", kind, design, context);
  if (kind == "ffn_decode") return fmt::format("{}/{}/B{}", kind, design, batch);
  if (kind == "max_throughput") return fmt::format("{}/{}/L{}", kind, design, context);
  return fmt::format("{}/{}/L{}/B{}", kind, design, context, batch);
}

const UnitSpec& find_unit(const std::vector<UnitSpec>& units, const std::string& name) {
  for (const UnitSpec& u : units)
    if (u.name == name) return u;
  throw std::logic_error("no unit " + name);
}

// The largest batch at `context` whose KV cache over all the model's layers, plus the weights this
// run holds for the design's measured layer, fits `budget` (capped at `cap`; 0 when none fits).
std::int64_t budget_batch(const UnitSpec& block, const RunConfig& config, std::int64_t context, double budget,
                          std::int64_t cap) {
  const UnitCost c = unit_cost(block, config, context, 1);
  const double per_sequence = c.kv_bytes_per_token_per_layer * static_cast<double>(context) * block.model.num_layers;
  const double room = budget - c.sum.weight_bytes;
  if (room < per_sequence) return 0;
  return std::min<std::int64_t>(cap, static_cast<std::int64_t>(room / per_sequence));
}

// Bytes a case holds besides the weights: its KV caches (cost model) and an estimate of its
// activations (inputs, outputs, projections, scores).
std::pair<double, double> case_bytes(const PlannedCase& c, const UnitSpec& u, const RunConfig& config) {
  const UnitCost cost = unit_cost(u, config, c.context, c.batch);
  const bool prefill = c.kind.ends_with("prefill");
  const bool ffn_decode = c.kind == "ffn_decode";
  const double sequences = prefill ? 1 : static_cast<double>(c.batch);
  const double capacity = static_cast<double>(c.context) + (prefill ? 0 : 1);
  const double kv = ffn_decode ? 0 : cost.kv_bytes_per_token_per_layer * capacity * sequences;
  const ModelConfig& m = u.model;
  double width = m.intermediate_size;
  if (m.moe)
    width = std::max(width,
                     static_cast<double>((m.moe->top_k + m.moe->n_shared_experts) * m.moe->expert_intermediate_size));
  const double rows = prefill ? static_cast<double>(c.context) : static_cast<double>(c.batch);
  const double scores = prefill || ffn_decode ? 0 : m.attention.n_heads * static_cast<double>(c.context);
  // A prefill holds the decompressed keys and values of its T tokens (MLA's naive width at most).
  const double decompressed = prefill ? kv_elements_per_token_per_layer(m.attention, MlaForm::naive) * rows : 0;
  const double activations = 4.0 * (rows * (10.0 * m.hidden_size + 3 * width + scores) + decompressed);
  return {kv, activations};
}

}  // namespace

std::vector<Design> designs_from_models(std::string_view models, Suite suite) {
  std::string text(models);
  if (text.empty()) text = suite == Suite::quick ? "tiny-gqa,tiny" : "small-gqa,small-mla";
  std::vector<std::string> names;
  for (std::size_t start = 0;;) {
    const std::size_t comma = text.find(',', start);
    names.push_back(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (names.size() > 2 || std::any_of(names.begin(), names.end(), [](const auto& n) { return n.empty(); }))
    throw ConfigError(fmt::format("model: '{}' is not one model or a pair \"classic,deepseek\"", text));
  std::vector<ModelConfig> configs;
  for (const std::string& name : names) {
    configs.push_back(resolve_model(name));
    require_runnable(configs.back());  // never measure a simpler model than the one named
  }
  if (configs.size() == 1) return {{configs[0].name, configs[0], representative_layer(configs[0], false)}};
  // A pair's roles follow the architectures, not the order typed: "deepseek-v2,deepseek-llm-67b"
  // compares the same two designs as "deepseek-llm-67b,deepseek-v2".
  if (deepseek_style(configs[0]) && !deepseek_style(configs[1])) std::swap(configs[0], configs[1]);
  return {{"classic", configs[0], representative_layer(configs[0], true)},
          {"deepseek", configs[1], representative_layer(configs[1], false)}};
}

RunPlan plan_run(const RunConfig& config) {
  if (config.designs.empty()) throw ConfigError("model: no design to measure");
  if (!(config.budget_fraction > 0 && config.budget_fraction <= 1))
    throw ConfigError(fmt::format("budget-fraction: {} is not in (0, 1]", config.budget_fraction));
  if (config.budget_bytes < 0) throw ConfigError("budget-gib: must be positive");
  // Bounded so that every size computed from them (context + 1 rows, B x L x bytes) stays far
  // from overflow; the memory check refuses most of this range anyway.
  for (std::int64_t v : config.contexts)
    if (v < 1 || v > kMaxContext)
      throw ConfigError(fmt::format("context: {} is not a number of tokens in [1, {}]", v, kMaxContext));
  for (std::int64_t v : config.batches)
    if (v < 1 || v > kMaxBatch)
      throw ConfigError(fmt::format("batch: {} is not a number of sequences in [1, {}]", v, kMaxBatch));
  const Grid g = effective_grid(config);
  const std::vector<UnitSpec> units = unit_specs(config);

  RunPlan plan;
  const AvailableMemory available = available_memory();
  plan.available_bytes = static_cast<double>(available.bytes);
  plan.available_of = available.limited_by;
  plan.budget_bytes = config.budget_bytes > 0 ? config.budget_bytes : config.budget_fraction * plan.available_bytes;
  plan.eviction_bytes = static_cast<double>(g.eviction_bytes);
  plan.ceilings_bytes = static_cast<double>(ceilings_array_bytes(g.ceilings_array_bytes));
  for (const UnitSpec& u : units) plan.weight_bytes += unit_weight_bytes(u, config);

  const auto add = [&](const std::string& kind, const std::string& design, std::int64_t context, std::int64_t batch) {
    plan.cases.push_back({case_id(kind, design, context, batch), kind, design, context, batch});
  };
  for (const Design& d : config.designs) {
    for (std::int64_t t : g.prefill_lengths) add("prefill", d.name, t, 1);
    for (const Point& p : g.decode_points) add("decode", d.name, p.context, p.batch);
  }
  for (const Design& d : config.designs)
    for (std::int64_t l : g.max_throughput_contexts) {
      const std::int64_t b = budget_batch(find_unit(units, d.name), config, l, plan.budget_bytes, g.max_batch);
      add("max_throughput", d.name, l, b);
    }
  for (const UnitSpec& u : units) {
    if (u.part == UnitSpec::Part::attention) {
      for (std::int64_t t : g.variant_prefill_lengths) add("attention_prefill", u.name, t, 1);
      for (const Point& p : g.variant_decode_points) add("attention_decode", u.name, p.context, p.batch);
    } else if (u.part == UnitSpec::Part::ffn) {
      for (std::int64_t t : g.variant_prefill_lengths) add("ffn_prefill", u.name, t, 1);
      for (std::int64_t b : g.ffn_decode_batches) add("ffn_decode", u.name, 1, b);
    }
  }
  for (const PlannedCase& c : plan.cases) {
    const auto [kv, activations] = case_bytes(c, find_unit(units, c.design), config);
    if (kv + activations > plan.largest_case_bytes + plan.activation_bytes) {
      plan.largest_case_bytes = kv;
      plan.activation_bytes = activations;
    }
  }
  if (plan.total_bytes() > plan.available_bytes)
    throw ConfigError(fmt::format(
        "this run needs {:.3f} GiB at its peak (the larger of the ceiling measurement's array {:.3f} GiB and "
        "weights {:.3f} GiB + largest case's KV cache {:.3f} GiB + cache-eviction buffer {:.3f} GiB + "
        "activations about {:.3f} GiB), more than the {:.3f} GiB this process has available ({}); nothing "
        "was allocated. Use smaller --context / --batch / --budget-gib, another --model, or give it more memory",
        plan.total_bytes() / kGiB, plan.ceilings_bytes / kGiB, plan.weight_bytes / kGiB,
        plan.largest_case_bytes / kGiB, plan.eviction_bytes / kGiB, plan.activation_bytes / kGiB,
        plan.available_bytes / kGiB, plan.available_of));
  return plan;
}

// ---------------------------------------------------------------------------------------------
// Interruption

std::atomic<bool>& stop_requested() {
  static std::atomic<bool> flag{false};
  return flag;
}

std::atomic<int>& stop_signal() {
  static std::atomic<int> signal{0};
  return signal;
}

namespace {
void on_stop_signal(int signal) {
  stop_signal().store(signal);
  stop_requested().store(true);
}
}  // namespace

void install_interrupt_handler() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  // A second signal gets the default action: the user insists, the process ends at once.
  action.sa_flags = SA_RESETHAND;
  for (const int signal : {SIGINT, SIGTERM}) sigaction(signal, &action, nullptr);
}

// ---------------------------------------------------------------------------------------------
// Measurement

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Flushes the caches by reading a buffer larger than the last-level cache, one load per cache line.
class Evictor {
 public:
  explicit Evictor(std::size_t bytes) : buffer_(bytes / sizeof(float)) {}
  void operator()() {
    const float* p = buffer_.data();
    const auto n = static_cast<std::int64_t>(buffer_.size());
    float sum = 0;
#pragma omp parallel for reduction(+ : sum) schedule(static)
    for (std::int64_t i = 0; i < n; i += 16) sum += p[i];
    sink_ = sink_ + sum;
  }
  std::size_t bytes() const { return buffer_.bytes(); }

 private:
  Buffer<float> buffer_;
  volatile float sink_ = 0;
};

struct Timing {
  int warmup = 1, repetitions = 0;
  double median = 0, min = 0, max = 0;
};

// Thrown when Ctrl-C arrives in the middle of a case: the case is dropped, the finished ones kept.
struct Interrupted {};

// One untimed warm-up call, then timed calls, each after `prepare` (untimed: cache eviction and
// resetting the KV caches to depth): as many as fill the suite's target time, within its bounds
// (at least 2 when a single call takes longer than the whole target, fewer when the calls would
// overrun the case's cap).
Timing time_calls(const std::function<void()>& prepare, const std::function<void()>& call, const Grid& g) {
  prepare();
  auto start = Clock::now();
  call();
  const double warm = std::max(seconds_since(start), 1e-9);
  // Counts in double, clamped before converting: a call of a nanosecond must not overflow an int.
  const auto calls_in = [&](double seconds) { return static_cast<int>(std::min(seconds / warm, 1e6)); };
  const int least = warm > g.target_seconds ? 2 : g.min_repetitions;
  const int within_cap = std::max(1, calls_in(g.case_seconds_cap) - 1);
  const int repetitions = std::min(std::clamp(calls_in(g.target_seconds), least, g.max_repetitions), within_cap);
  std::vector<double> times;
  for (int r = 0; r < repetitions; ++r) {
    if (stop_requested().load()) throw Interrupted{};
    prepare();
    start = Clock::now();
    call();
    times.push_back(seconds_since(start));
  }
  std::sort(times.begin(), times.end());
  const std::size_t n = times.size();
  const double median = n % 2 ? times[n / 2] : (times[n / 2 - 1] + times[n / 2]) / 2;
  return {1, repetitions, median, times.front(), times.back()};
}

std::size_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::size_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

// The layers a run builds: each design's block and the attention variants that are not part of one.
struct Units {
  std::vector<UnitSpec> specs;
  std::map<std::string, std::unique_ptr<Block>> blocks;
  std::map<std::string, std::unique_ptr<Attention>> attentions;
  std::map<std::string, std::size_t> allocated;  // bytes the allocator counted while building each

  const Attention& attention(const UnitSpec& u) const {
    if (u.part == UnitSpec::Part::block) return blocks.at(u.name)->attention();
    if (u.reuses_block) return blocks.at(specs.at(u.design).name)->attention();
    return *attentions.at(u.name);
  }
  const FeedForward& ffn(const UnitSpec& u) const { return blocks.at(specs.at(u.design).name)->ffn(); }
  std::size_t weight_bytes(const UnitSpec& u) const {
    switch (u.part) {
      case UnitSpec::Part::block: return blocks.at(u.name)->weight_bytes();
      case UnitSpec::Part::attention: return attention(u).weight_bytes();
      case UnitSpec::Part::ffn: return ffn(u).weight_bytes();
    }
    return 0;
  }
};

LayerContext layer_context(const ModelConfig& m, DType weight_dtype, std::uint64_t seed) {
  return {.hidden_size = m.hidden_size,
          .weight_dtype = weight_dtype,
          .seed = seed,
          .rope_theta = m.rope_theta,
          .rms_norm_eps = m.rms_norm_eps};
}

Units build_units(const RunConfig& config) {
  Units units;
  units.specs = unit_specs(config);
  for (const UnitSpec& u : units.specs) {
    if (u.reuses_block || u.part == UnitSpec::Part::ffn) continue;
    const std::size_t before = allocation_stats().current_bytes;
    if (u.part == UnitSpec::Part::block)
      units.blocks[u.name] = std::make_unique<Block>(make_block(u.model, u.layer, config.weight_dtype, config.seed));
    else
      units.attentions[u.name] = make_attention(
          u.model.attention, layer_context(u.model, config.weight_dtype, mix_seed(config.seed, u.name)), u.form);
    units.allocated[u.name] = allocation_stats().current_bytes - before;
  }
  return units;
}

// B caches of `capacity` tokens, each filled with random data to `depth` (docs/design.md, "What
// infercost run measures": a benchmark reaches depth 32k this way, not by a slow prefill).
struct Caches {
  std::vector<KvCache> caches;
  std::vector<KvCache*> pointers;
  std::size_t allocated_bytes = 0;  // counted by the allocator while making them

  void truncate(std::size_t depth) {
    for (KvCache& c : caches) c.truncate(depth);
  }
};

Caches make_caches(const Attention& attention, std::int64_t batch, std::size_t capacity, std::size_t depth, DType dtype,
                   std::uint64_t seed) {
  Caches c;
  const std::size_t before = allocation_stats().current_bytes;
  c.caches.reserve(static_cast<std::size_t>(batch));
  for (std::int64_t b = 0; b < batch; ++b) c.caches.push_back(attention.make_cache(capacity, dtype));
  c.allocated_bytes = allocation_stats().current_bytes - before;
  for (std::int64_t b = 0; b < batch; ++b) {
    c.caches[static_cast<std::size_t>(b)].fill_random(depth, mix_seed(seed, fmt::format("cache{}", b)));
    c.pointers.push_back(&c.caches[static_cast<std::size_t>(b)]);
  }
  return c;
}

std::vector<float> random_input(std::size_t rows, int width, std::uint64_t seed) {
  std::vector<float> x(rows * static_cast<std::size_t>(width));
  fill_uniform(x.data(), x.size(), mix_seed(seed, "input"), 1.0f);
  return x;
}

struct RunState {
  const RunConfig& config;
  Grid grid;
  Units units;
  Evictor evict;
  Ceilings ceilings;
  std::string implementation;
  std::string regime;
  std::map<std::string, std::pair<double, double>> last_prefill;  // kind/design -> (T, seconds per call)
};

// Fills the timing, throughput, roofline and prediction of a case that processes `tokens` tokens
// per call, doing `flops` and moving `bytes` (cost model).
void record_timing(CaseRecord& r, const Timing& t, double tokens, double flops, double bytes, const RunState& s) {
  r.warmup = t.warmup;
  r.repetitions = t.repetitions;
  r.median_s = t.median;
  r.min_s = t.min;
  r.max_s = t.max;
  r.spread = t.median > 0 ? (t.max - t.min) / t.median : 0;
  r.tokens_per_s = tokens / t.median;
  r.flops = flops;
  r.bytes = bytes;
  r.roofline_fraction = roofline_fraction(flops, bytes, t.median, s.ceilings);
  const double bound = roofline_seconds(flops, bytes, s.ceilings);
  const bool compute_bound = flops / s.ceilings.fma_flops_per_s > bytes / s.ceilings.read_bytes_per_s;
  r.predicted["seconds"] = bound;
  r.predicted["tokens_per_s"] = tokens / bound;
  r.predicted["bound"] = compute_bound ? "compute" : "memory";
  r.predicted["flops"] = flops;
  r.predicted["bytes"] = bytes;
  r.predicted["arithmetic_intensity"] = flops / std::max(bytes, 1.0);
  r.predicted["basis"] =
      "cost model FLOPs and bytes over this run's measured ceilings (fp32 FMA peak, read "
      "bandwidth)";
}

void record_memory(CaseRecord& r, const UnitSpec& u, const RunState& s, const UnitCost& cost, std::size_t kv_allocated,
                   double kv_predicted, std::size_t kv_bytes_per_token) {
  r.memory["weight_bytes_allocated"] = s.units.weight_bytes(u);
  r.memory["weight_bytes_predicted"] = cost.sum.weight_bytes;
  r.memory["kv_bytes_allocated"] = kv_allocated;
  r.memory["kv_bytes_predicted"] = kv_predicted;
  r.memory["kv_bytes_per_token_per_layer"] = kv_bytes_per_token;
  r.memory["kv_bytes_per_token_per_layer_predicted"] = cost.kv_bytes_per_token_per_layer;
  r.memory["allocator_current_bytes"] = allocation_stats().current_bytes;
  r.memory["allocator_peak_bytes"] = allocation_stats().peak_bytes;
  r.memory["peak_rss_bytes"] = peak_rss_bytes();
}

// A prefill of T tokens into an empty cache (block or attention), or through the FFN.
void run_prefill(CaseRecord& r, const UnitSpec& u, RunState& s) {
  const auto T = static_cast<std::size_t>(r.params["T"].get<std::int64_t>());
  // Prefill work grows at least linearly with T: the shorter prefill before this one bounds it.
  const std::string key = r.kind + "/" + r.design;
  if (const auto it = s.last_prefill.find(key); it != s.last_prefill.end()) {
    const double estimate = it->second.second * static_cast<double>(T) / it->second.first;
    if (2 * estimate > s.grid.case_seconds_cap) {
      r.status = "skipped";
      r.error = fmt::format(
          "a call would take about {:.1f} s (T = {} took {:.2f} s): over this suite's {:.0f} s "
          "per case; --suite full measures it",
          estimate, it->second.first, it->second.second, s.grid.case_seconds_cap);
      return;
    }
  }
  const UnitCost cost = unit_cost(u, s.config, static_cast<std::int64_t>(T), static_cast<std::int64_t>(T));
  const std::vector<float> x = random_input(T, u.model.hidden_size, s.config.seed);
  std::vector<float> y(x.size());
  std::optional<Caches> caches;
  std::function<void()> call;
  if (u.part == UnitSpec::Part::ffn) {
    call = [&] { s.units.ffn(u).forward(x.data(), T, y.data()); };
  } else {
    caches = make_caches(s.units.attention(u), 1, T, 0, s.config.kv_dtype, s.config.seed);
    KvCache& cache = caches->caches[0];
    if (u.part == UnitSpec::Part::block)
      call = [&] { s.units.blocks.at(u.name)->forward(x.data(), T, cache, y.data()); };
    else
      call = [&] { s.units.attention(u).forward(x.data(), T, cache, y.data()); };
  }
  const auto prepare = [&] {
    s.evict();
    if (caches) caches->truncate(0);
  };
  const Timing t = time_calls(prepare, call, s.grid);
  s.last_prefill[key] = {static_cast<double>(T), t.median};
  const double kv = cost.kv_bytes_per_token_per_layer * static_cast<double>(T);
  const double tokens = static_cast<double>(T);
  record_timing(r, t, tokens, cost.sum.flops_prefill * tokens, cost.sum.weight_bytes_read_per_step + kv, s);
  record_memory(r, u, s, cost, caches ? caches->allocated_bytes : 0, caches ? kv : 0,
                caches ? caches->caches[0].bytes_per_token() : 0);
}

// One decode step of B sequences at depth L (block or attention), or B tokens through the FFN.
void run_decode(CaseRecord& r, const UnitSpec& u, RunState& s) {
  const std::int64_t L = r.params.value("L", std::int64_t{0}), B = r.params["B"].get<std::int64_t>();
  const auto depth = static_cast<std::size_t>(L), batch = static_cast<std::size_t>(B);
  const UnitCost cost = unit_cost(u, s.config, L, B);
  const std::vector<float> x = random_input(batch, u.model.hidden_size, s.config.seed);
  std::vector<float> y(x.size());
  std::optional<Caches> caches;
  std::function<void()> call;
  if (u.part == UnitSpec::Part::ffn) {
    call = [&] { s.units.ffn(u).forward(x.data(), batch, y.data()); };
  } else {
    caches = make_caches(s.units.attention(u), B, depth + 1, depth, s.config.kv_dtype, s.config.seed);
    const std::span<KvCache* const> batch_caches(caches->pointers);
    if (u.part == UnitSpec::Part::block)
      call = [&, batch_caches] { s.units.blocks.at(u.name)->decode(x.data(), batch_caches, y.data()); };
    else
      call = [&, batch_caches] { s.units.attention(u).decode(x.data(), batch_caches, y.data()); };
  }
  const auto prepare = [&] {
    s.evict();
    if (caches) caches->truncate(depth);
  };
  const Timing t = time_calls(prepare, call, s.grid);
  // Each token reads its sequence's L cached rows and writes one: the bytes moved are also the
  // bytes of the caches, which hold L + 1 rows per sequence.
  const double kv_bytes = cost.kv_bytes_per_token_per_layer * static_cast<double>((L + 1) * B);
  const double tokens = static_cast<double>(B);
  record_timing(r, t, tokens, cost.sum.flops_decode * tokens, cost.sum.weight_bytes_read_per_step + kv_bytes, s);
  record_memory(r, u, s, cost, caches ? caches->allocated_bytes : 0, caches ? kv_bytes : 0,
                caches ? caches->caches[0].bytes_per_token() : 0);
  r.params["seconds_per_token"] = t.median / tokens;
}

void run_max_throughput(CaseRecord& r, const UnitSpec& u, RunState& s, double budget) {
  const std::int64_t L = r.params["L"].get<std::int64_t>(), B = r.params["B"].get<std::int64_t>();
  const UnitCost one = unit_cost(u, s.config, L, 1);
  const double per_sequence = one.kv_bytes_per_token_per_layer * static_cast<double>(L) * u.model.num_layers;
  r.params["budget_bytes"] = budget;
  r.params["kv_bytes_per_sequence_all_layers"] = per_sequence;
  r.params["weight_bytes_held"] = one.sum.weight_bytes;
  r.params["batch_cap"] = s.grid.max_batch;
  r.params["rule"] =
      "largest B (at most batch_cap) with num_layers x B x L x KV bytes per token per layer + the measured "
      "layer's weights <= budget; decode of that one layer measured at (B, L)";
  if (B == 0) {
    r.status = "skipped";
    r.error = fmt::format(
        "not one sequence of {} tokens fits the budget of {:.2f} GiB ({:.2f} GiB of KV cache "
        "per sequence over {} layers, plus {:.2f} GiB of weights)",
        L, budget / kGiB, per_sequence / kGiB, u.model.num_layers, one.sum.weight_bytes / kGiB);
    return;
  }
  run_decode(r, u, s);
}

std::string describe(const PlannedCase& c) {
  if (c.kind.ends_with("prefill")) return fmt::format("{} {} T={}", c.kind, c.design, c.context);
  if (c.kind == "ffn_decode") return fmt::format("{} {} B={}", c.kind, c.design, c.batch);
  return fmt::format("{} {} L={} B={}", c.kind, c.design, c.context, c.batch);
}

std::string clock_text(double seconds) {
  const auto s = static_cast<long>(std::lround(seconds));
  return fmt::format("{}:{:02d}", s / 60, s % 60);
}

CaseRecord run_case(const PlannedCase& c, RunState& s, double budget, const RunHooks& hooks) {
  CaseRecord r;
  r.id = c.id;
  r.kind = c.kind;
  r.design = c.design;
  r.regime = s.regime;
  r.implementation = s.implementation;
  if (c.kind.ends_with("prefill"))
    r.params["T"] = c.context;
  else if (c.kind != "ffn_decode")
    r.params["L"] = c.context;
  if (!c.kind.ends_with("prefill")) r.params["B"] = c.batch;
  const UnitSpec& u = find_unit(s.units.specs, c.design);
  if (u.model.attention.kind == AttentionKind::mla && u.part != UnitSpec::Part::ffn)
    r.params["mla_form"] = std::string(mla_form_name(u.form));
  r.params["model"] = u.model.name;
  r.params["layer"] = u.layer;
  try {
    if (hooks.before_case) hooks.before_case(c);
    if (c.kind == "max_throughput")
      run_max_throughput(r, u, s, budget);
    else if (c.kind.ends_with("prefill"))
      run_prefill(r, u, s);
    else
      run_decode(r, u, s);
  } catch (const std::exception& e) {
    r.status = "failed";
    r.error = e.what();
  }
  return r;
}

json config_json(const RunConfig& config, const RunPlan& plan, const Grid& g) {
  json designs = json::array();
  for (const Design& d : config.designs)
    designs.push_back({{"name", d.name},
                       {"model", d.model.name},
                       {"layer", d.layer},
                       {"moe_layer", d.model.is_moe_layer(d.layer)},
                       {"num_layers", d.model.num_layers},
                       {"hidden_size", d.model.hidden_size}});
  return {
      {"suite", std::string(to_string(config.suite))},
      {"designs", designs},
      {"threads", config.threads},
      {"weight_dtype", std::string(to_string(config.weight_dtype))},
      {"kv_dtype", std::string(to_string(config.kv_dtype))},
      {"seed", config.seed},
      {"budget_bytes", plan.budget_bytes},
      {"budget_fraction", config.budget_bytes > 0 ? json(nullptr) : json(config.budget_fraction)},
      {"budget_of", config.budget_bytes > 0
                        ? "given (--budget-gib)"
                        : fmt::format("available memory at the start, limited by {}", plan.available_of)},
      {"available_memory_bytes", plan.available_bytes},
      {"available_memory_of", plan.available_of},
      {"planned_peak_bytes", plan.total_bytes()},
      {"ceilings_array_bytes", plan.ceilings_bytes},
      {"eviction_bytes", g.eviction_bytes},
      {"repetitions",
       {{"warmup", 1}, {"min", g.min_repetitions}, {"max", g.max_repetitions}, {"target_seconds", g.target_seconds}}},
      {"measured", "one layer of each design at its real shape (docs/design.md); the DeepSeek block is an MoE layer"}};
}

json machine_json(const Ceilings& ceilings) {
  return {{"topology", to_json(describe_topology())},
          {"build", to_json(build_context())},
          {"threading", to_json(threading_context())},
          {"ceilings", to_json(ceilings)}};
}

json summarize(const RunRecord& record, const RunConfig& config);

}  // namespace

std::string checked_implementations(const RunConfig& config) {
  try {
    return selected_implementations(config.weight_dtype, config.kv_dtype);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(e.what());
  } catch (const std::runtime_error& e) {  // a forced kernel this CPU or dtype cannot run
    throw ConfigError(fmt::format("INFERCOST_IMPL: {}", e.what()));
  }
}

namespace {

// The record says the run failed and why, in the file too when it can still be written; then
// std::runtime_error says the same to the caller.
[[noreturn]] void fail_run(RunRecord& record, const std::filesystem::path& out, const std::string& why) {
  record.status = "failed";
  record.error = why;
  record.finished_at = utc_timestamp();
  std::string note;
  try {
    write_results_atomically(record, out);
  } catch (const std::exception&) {
    // A full disk: the last complete file stays, with its status changed in place.
    note = mark_results_failed_in_place(out)
               ? fmt::format("; {} keeps the cases written before, its status changed to \"failed\"", out.string())
               : fmt::format("; {} could not be updated", out.string());
  }
  throw std::runtime_error(why + note);
}

}  // namespace

RunRecord run_and_record(const RunConfig& config, const std::filesystem::path& out, const RunHooks& hooks) {
  const std::string implementation = checked_implementations(config);
  resolve_results_path(out);              // a directory or a device is refused before measuring
  const RunPlan plan = plan_run(config);  // refuses, before allocating, a run that does not fit
  const Grid grid = effective_grid(config);
  const auto start = Clock::now();
  remove_stale_temporaries(out);  // those of a run killed while writing

  RunRecord record;
  record.command_line = config.command_line;
  record.started_at = utc_timestamp();
  record.git_commit = build_context().git_commit;

  const ThreadChoice threads = choose_threads(config.threads);
  omp_set_num_threads(threads.threads);
  std::string pinning = "one thread per core (hwloc)";
  try {
    pin_threads(threads.threads);
  } catch (const std::exception& e) {  // a container may refuse binding: measure unpinned, and say so
    pinning = fmt::format("not pinned: {}", e.what());
  }
  std::optional<RunState> state;
  std::string stage = "measuring the machine's ceilings";
  try {
    const Ceilings ceilings = measure_ceilings(threads.threads, grid.ceilings_seconds, grid.ceilings_array_bytes);
    record.machine = machine_json(ceilings);
    record.config = config_json(config, plan, grid);
    record.config["threads_requested"] = threads.requested;
    record.config["threads_used"] = threads.threads;
    if (!threads.warning.empty()) record.config["threads_warning"] = threads.warning;
    record.config["pinning"] = pinning;
    write_results_atomically(record, out);
    stage = "building the layers and the cache-eviction buffer";
    state.emplace(config, grid, build_units(config), Evictor(grid.eviction_bytes), ceilings, implementation, "",
                  std::map<std::string, std::pair<double, double>>{});
  } catch (const std::bad_alloc&) {
    fail_run(record, out,
             fmt::format("out of memory while {} (planned {:.3f} GiB of {:.3f} GiB available, {})", stage,
                         plan.total_bytes() / kGiB, plan.available_bytes / kGiB, plan.available_of));
  }
  state->regime =
      fmt::format("cold: {} MiB streamed through the CPU caches before every timed call", state->evict.bytes() / kMiB);
  json built = json::object();
  for (const auto& [name, bytes] : state->units.allocated) built[name] = bytes;
  record.config["weights_allocated_bytes"] = built;
  record.config["setup_seconds"] = seconds_since(start);

  const auto save = [&] {
    try {
      write_results_atomically(record, out);
    } catch (const std::runtime_error& e) {
      fail_run(record, out, e.what());
    }
  };
  const std::size_t n = plan.cases.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (stop_requested().load()) break;
    const double elapsed = seconds_since(start);
    if (hooks.on_progress) {
      const std::string left = i == 0 ? "" : fmt::format(", ~{} left", clock_text(elapsed / i * (n - i)));
      hooks.on_progress(fmt::format("[{:>{}}/{}] {} ... {} elapsed{}", i + 1, fmt::formatted_size("{}", n), n,
                                    describe(plan.cases[i]), clock_text(elapsed), left));
    }
    try {
      record.cases.push_back(run_case(plan.cases[i], *state, plan.budget_bytes, hooks));
    } catch (const Interrupted&) {
      break;
    }
    record.summary = summarize(record, config);
    save();
    if (hooks.on_case_done) hooks.on_case_done(record.cases.back(), i, n);
  }
  record.status = record.cases.size() == n ? "complete" : "interrupted";
  if (const int signal = stop_signal().load(); record.status == "interrupted" && signal != 0)
    record.error = fmt::format("stopped by SIG{} after {} of {} cases", sigabbrev_np(signal), record.cases.size(), n);
  record.finished_at = utc_timestamp();
  record.summary = summarize(record, config);
  record.summary["elapsed_seconds"] = seconds_since(start);
  save();
  return record;
}

int run_exit_status(const RunRecord& record) {
  if (record.status == "interrupted") return 128 + (stop_signal().load() != 0 ? stop_signal().load() : SIGINT);
  if (record.status != "complete") return 1;
  for (const CaseRecord& c : record.cases)
    if (c.status == "failed") return 1;
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Summary and tables

namespace {

const CaseRecord* find_case(const RunRecord& record, const std::string& id) {
  for (const CaseRecord& c : record.cases)
    if (c.id == id && c.status == "ok") return &c;
  return nullptr;
}

json ratio(double classic, double deepseek) {
  return classic > 0 && deepseek > 0 ? json(deepseek / classic) : json(nullptr);
}

// One row of the side-by-side table: the two designs' measured figures, their ratio
// (DeepSeek / classic) and the ratio the cost model predicts.
json comparison_row(std::string metric, std::string unit, double classic, double deepseek, double predicted_classic,
                    double predicted_deepseek, std::string note = {}) {
  json row = {{"metric", std::move(metric)},
              {"unit", std::move(unit)},
              {"classic", classic > 0 ? json(classic) : json(nullptr)},
              {"deepseek", deepseek > 0 ? json(deepseek) : json(nullptr)},
              {"ratio_measured", ratio(classic, deepseek)},
              {"ratio_predicted", ratio(predicted_classic, predicted_deepseek)}};
  if (!note.empty()) row["note"] = std::move(note);
  return row;
}

double number(const json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : 0;
}

// A case's figure and its prediction, for both designs.
void add_case_rows(json& rows, const RunRecord& record, const std::string& metric, const std::string& unit,
                   const std::string& classic_id, const std::string& deepseek_id) {
  const CaseRecord* a = find_case(record, classic_id);
  const CaseRecord* b = find_case(record, deepseek_id);
  if (a == nullptr && b == nullptr) return;
  const auto measured = [](const CaseRecord* c) { return c == nullptr ? 0.0 : c->tokens_per_s; };
  const auto predicted = [&](const CaseRecord* c) { return c == nullptr ? 0.0 : number(c->predicted, "tokens_per_s"); };
  rows.push_back(comparison_row(metric, unit, measured(a), measured(b), predicted(a), predicted(b)));
}

json summarize(const RunRecord& record, const RunConfig& config) {
  json summary;
  json counts = {{"ok", 0}, {"failed", 0}, {"skipped", 0}};
  for (const CaseRecord& c : record.cases) counts[c.status] = counts[c.status].get<int>() + 1;
  summary["cases"] = counts;
  summary["memory"] = {{"allocator_peak_bytes", allocation_stats().peak_bytes},
                       {"peak_rss_bytes", peak_rss_bytes()},
                       {"planned_peak_bytes", record.config.value("planned_peak_bytes", 0.0)},
                       {"note",
                        "planned: the larger of the ceiling measurement's array and the cost model's weights and "
                        "largest KV cache, the eviction buffer and an estimate of activations, checked before "
                        "allocating against the least of MemAvailable, the cgroup's memory limit and ulimit -v"}};
  summary["budget"] = {{"bytes", record.config.value("budget_bytes", 0.0)},
                       {"rule",
                        "max throughput: the largest batch B (capped) at context L whose KV cache over all "
                        "num_layers layers plus the measured layer's weights fits the budget; one layer is "
                        "measured at (B, L)"}};
  if (config.designs.size() != 2) return summary;
  const Design& classic = config.designs[0];
  const Design& deepseek = config.designs[1];
  json rows = json::array();

  // Memory, from the cost model and the allocator (one layer each).
  CostOptions o;
  o.weight = parse_precision(to_string(config.weight_dtype));
  o.kv = parse_precision(to_string(config.kv_dtype));
  const Breakdown lc = layer_cost(classic.model, classic.model.is_moe_layer(classic.layer), o);
  const Breakdown ld = layer_cost(deepseek.model, deepseek.model.is_moe_layer(deepseek.layer), o);
  const auto kv_measured = [&](const Design& d) {
    for (const CaseRecord& c : record.cases)
      if (c.kind == "decode" && c.design == d.name && c.status == "ok")
        return number(c.memory, "kv_bytes_per_token_per_layer") * d.model.num_layers;
    return 0.0;
  };
  const auto kv_predicted = [&](const Design& d) {
    return o.kv.bytes(static_cast<double>(kv_elements_per_token_per_layer(d.model.attention, MlaForm::absorbed))) *
           d.model.num_layers;
  };
  rows.push_back(comparison_row("KV cache per token, all layers", "bytes", kv_measured(classic), kv_measured(deepseek),
                                kv_predicted(classic), kv_predicted(deepseek), "allocated per token x layers"));
  const auto weights_measured = [&](const Design& d) {
    const json& built = record.config.value("weights_allocated_bytes", json::object());
    return built.contains(d.name) ? built[d.name].get<double>() : 0.0;
  };
  rows.push_back(comparison_row("weights, one layer", "bytes", weights_measured(classic), weights_measured(deepseek),
                                lc.total().weight_bytes, ld.total().weight_bytes, "allocator count"));
  const double model_c = estimate_cost(classic.model, o).weight_bytes;
  const double model_d = estimate_cost(deepseek.model, o).weight_bytes;
  rows.push_back(comparison_row("weights, whole model", "bytes", model_c, model_d, model_c, model_d,
                                "cost model only: not allocated"));
  rows.back()["ratio_measured"] = nullptr;
  const double act_c = o.weight.bytes(static_cast<double>(lc.total().params_activated));
  const double act_d = o.weight.bytes(static_cast<double>(ld.total().params_activated));
  rows.push_back(
      comparison_row("activated weights per token, one layer", "bytes", act_c, act_d, act_c, act_d, "cost model only"));
  rows.back()["ratio_measured"] = nullptr;
  rows.back()["classic"] = act_c;
  rows.back()["deepseek"] = act_d;

  for (const CaseRecord& c : record.cases) {
    if (c.design != classic.name || (c.kind != "prefill" && c.kind != "decode" && c.kind != "max_throughput")) continue;
    std::string other = c.id;
    other.replace(other.find(classic.name), classic.name.size(), deepseek.name);
    if (c.kind == "prefill")
      add_case_rows(rows, record, fmt::format("prefill T={}", c.params["T"].get<std::int64_t>()), "tokens/s", c.id,
                    other);
    else if (c.kind == "decode")
      add_case_rows(
          rows, record,
          fmt::format("decode L={} B={}", c.params["L"].get<std::int64_t>(), c.params["B"].get<std::int64_t>()),
          "tokens/s", c.id, other);
  }
  for (const CaseRecord& c : record.cases) {
    if (c.kind != "max_throughput" || c.design != classic.name) continue;
    std::string other = c.id;
    other.replace(other.find(classic.name), classic.name.size(), deepseek.name);
    const CaseRecord* d = nullptr;
    for (const CaseRecord& x : record.cases)
      if (x.id == other) d = &x;
    if (d == nullptr) continue;
    const std::int64_t L = c.params["L"].get<std::int64_t>();
    rows.push_back(comparison_row(fmt::format("max batch in budget, L={}", L), "sequences", c.params["B"].get<double>(),
                                  d->params["B"].get<double>(), c.params["B"].get<double>(),
                                  d->params["B"].get<double>(), "cost model rule"));
    add_case_rows(rows, record, fmt::format("max throughput in budget, L={}", L), "tokens/s", c.id, other);
  }
  summary["comparison"] = rows;
  summary["comparison_designs"] = {{"classic", classic.model.name}, {"deepseek", deepseek.model.name}};
  return summary;
}

std::string si(double v, const char* unit) {
  if (v <= 0) return "-";
  const char* prefixes[] = {"", "K", "M", "G", "T"};
  int i = 0;
  while (v >= 1000 && i < 4) {
    v /= 1000;
    ++i;
  }
  return fmt::format("{:.3g} {}{}", v, prefixes[i], unit);
}

std::string binary_bytes(double v) {
  if (v <= 0) return "-";
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int i = 0;
  while (v >= 1024 && i < 4) {
    v /= 1024;
    ++i;
  }
  return fmt::format("{:.4g} {}", v, units[i]);
}

std::string time_text(double s) {
  if (s <= 0) return "-";
  if (s >= 1) return fmt::format("{:.3g} s", s);
  if (s >= 1e-3) return fmt::format("{:.3g} ms", s * 1e3);
  return fmt::format("{:.3g} us", s * 1e6);
}

std::string cell(const json& row, const char* key, const std::string& unit) {
  if (!row.contains(key) || !row[key].is_number()) return "-";
  const double v = row[key].get<double>();
  if (unit == "bytes") return binary_bytes(v);
  if (unit == "sequences") return fmt::format("{:g}", v);
  return si(v, "");
}

std::string ratio_cell(const json& row, const char* key) {
  return row.contains(key) && row[key].is_number() ? fmt::format("{:.3g}x", row[key].get<double>()) : "-";
}

}  // namespace

std::string format_run_tables(const RunRecord& r) {
  std::string out;
  const auto ceilings = r.machine.contains("ceilings") ? r.machine["ceilings"] : json::object();
  out += fmt::format(
      "infercost run ({} suite, {}): {} of {} cases ok; ceilings at {} threads: {:.1f} GFLOP/s fp32 "
      "FMA, {:.1f} GB/s read\n",
      r.config.value("suite", "?"), r.status, r.summary.contains("cases") ? r.summary["cases"].value("ok", 0) : 0,
      r.cases.size(), ceilings.value("threads", 0), number(ceilings, "fma_flops_per_s") / 1e9,
      number(ceilings, "read_bytes_per_s") / 1e9);
  const json threading = r.machine.value("threading", json::object());
  const json topology = r.machine.value("topology", json::object());
  const double load = number(threading, "load_average");
  const double cores = number(topology, "cores");
  if (cores > 0 && load > cores)
    out += fmt::format(
        "warning: the machine was busy (load average {:.1f} on {:g} cores when the run started): "
        "other processes share the cores, so times are longer and noisier than this machine's "
        "best\n",
        load, cores);
  out += fmt::format("weights {}, KV cache {}; every case {}\n\n", r.config.value("weight_dtype", "?"),
                     r.config.value("kv_dtype", "?"), r.cases.empty() ? "cold" : r.cases.front().regime);
  out += fmt::format("{:<36} {:>9} {:>7} {:>10} {:>9} {:>9} {:>6} {:>10} {:>6}\n", "case", "median", "spread",
                     "tokens/s", "GFLOP/s", "GB/s", "roof%", "predicted", "meas/p");
  for (const CaseRecord& c : r.cases) {
    if (c.status != "ok") {
      out += fmt::format("{:<36} {}: {}\n", c.id, c.status, c.error);
      continue;
    }
    const double predicted = number(c.predicted, "tokens_per_s");
    out += fmt::format("{:<36} {:>9} {:>6.0f}% {:>10} {:>9.1f} {:>9.1f} {:>5.0f}% {:>10} {:>6.2f}\n", c.id,
                       time_text(c.median_s), 100 * c.spread, si(c.tokens_per_s, ""), c.flops / c.median_s / 1e9,
                       c.bytes / c.median_s / 1e9, 100 * c.roofline_fraction, si(predicted, ""),
                       predicted > 0 ? c.tokens_per_s / predicted : 0.0);
  }
  out +=
      "(tokens/s of one layer; predicted: the cost model's FLOPs and bytes over this machine's measured "
      "roofline; roof%: roofline time / measured time)\n";
  if (r.summary.contains("memory")) {
    const json& m = r.summary["memory"];
    out += fmt::format("memory: allocator peak {}, peak resident set {}, planned before the run {}\n",
                       binary_bytes(number(m, "allocator_peak_bytes")), binary_bytes(number(m, "peak_rss_bytes")),
                       binary_bytes(number(m, "planned_peak_bytes")));
  }
  if (!r.summary.contains("comparison")) return out;
  const json& names = r.summary["comparison_designs"];
  out += fmt::format("\nClassic ({}) vs DeepSeek ({}), one layer each:\n", names.value("classic", "?"),
                     names.value("deepseek", "?"));
  out += fmt::format("{:<40} {:>12} {:>12} {:>10} {:>10}\n", "", "classic", "DeepSeek", "measured", "predicted");
  for (const json& row : r.summary["comparison"]) {
    const std::string unit = row.value("unit", "");
    const std::string label =
        unit == "tokens/s" ? fmt::format("{} (tokens/s)", row.value("metric", "")) : row.value("metric", "");
    out +=
        fmt::format("{:<40} {:>12} {:>12} {:>10} {:>10}\n", label, cell(row, "classic", unit),
                    cell(row, "deepseek", unit), ratio_cell(row, "ratio_measured"), ratio_cell(row, "ratio_predicted"));
  }
  out += fmt::format(
      "(ratios: DeepSeek / classic, measured beside the cost model's; {}. This is the experiment "
      "behind DeepSeek-V2's \"5.76x maximum generation throughput\" over DeepSeek 67B)\n",
      r.summary["budget"].value("rule", ""));
  out += fmt::format("budget: {} ({})\n", binary_bytes(number(r.summary["budget"], "bytes")),
                     r.config.value("budget_of", ""));
  return out;
}

}  // namespace infercost
