// The analytic cost model (see cost_model.hpp and cost_conventions() for what is counted).
#include "infercost/cost_model.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

namespace infercost {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
constexpr std::int64_t kMaxTokens = kMaxCostTokens;

bool is_mla(const ModelConfig& m) { return m.attention.kind == AttentionKind::mla; }

// Parameter counts are exact 64-bit integers. At the validation limits (4096 layers of 16384
// experts of width 2^18 at d = 2^18) they exceed 2^63: refuse such a model rather than wrap.
// Thrown without the model's name, which estimate_cost adds.
struct Unrepresentable : ConfigError {
  using ConfigError::ConfigError;
};

[[noreturn]] void refuse_unrepresentable() {
  throw Unrepresentable(fmt::format("the model has more than {} parameters, which infercost cannot count exactly; "
                                "reduce num_hidden_layers, the expert counts or the widths",
                                std::numeric_limits<std::int64_t>::max()));
}

std::int64_t checked_mul(std::int64_t a, std::int64_t b) {
  std::int64_t out = 0;
  if (__builtin_mul_overflow(a, b, &out)) refuse_unrepresentable();
  return out;
}

std::int64_t checked_add(std::int64_t a, std::int64_t b) {
  std::int64_t out = 0;
  if (__builtin_add_overflow(a, b, &out)) refuse_unrepresentable();
  return out;
}

// One attention layer's shape in the units the cost model needs.
struct AttentionCounts {
  std::int64_t weights = 0;             // matrix entries of every projection
  std::int64_t biases = 0;              // Qwen2's q, k, v biases
  std::int64_t norm_params = 0;         // MLA's RMSNorms on c_Q and c_KV
  std::int64_t flops_per_position = 0;  // scores and weighted values, per attended position
};

AttentionCounts mla_counts(const AttentionConfig& a, std::int64_t d, MlaForm form) {
  const std::int64_t nh = a.n_heads, qk = a.qk_head_dim(), rope = a.qk_rope_head_dim;
  const std::int64_t kv_lora = a.kv_lora_rank, v = a.v_head_dim;
  AttentionCounts c;
  const std::int64_t q = a.q_lora_rank > 0
                             ? d * a.q_lora_rank + std::int64_t{a.q_lora_rank} * nh * qk  // W_DQ, W_UQ+W_QR
                             : d * nh * qk;                                               // W_Q
  const std::int64_t kv = d * (kv_lora + rope)                                            // W_DKV and W_KR
                          + kv_lora * nh * (a.qk_nope_head_dim + v);                      // W_UK and W_UV
  c.weights = q + kv + nh * v * d;                                                        // + W_O
  c.norm_params = a.q_lora_rank + kv_lora;
  // The projections cost the same in both forms: absorbed applies W_UK to the query and W_UV to
  // the latent output once per token, the same products as naive's decompression of the new k, v.
  // Over the context, naive scores n_h·(nope+rope)-wide keys and sums n_h·v-wide values; absorbed
  // scores n_h queries of width kv_lora+rope against the latent and sums n_h latent outputs.
  c.flops_per_position =
      form == MlaForm::naive ? 2 * nh * qk + 2 * nh * v : 2 * nh * (kv_lora + rope) + 2 * nh * kv_lora;
  return c;
}

AttentionCounts standard_counts(const AttentionConfig& a, std::int64_t d) {
  const std::int64_t q = std::int64_t{a.n_heads} * a.head_dim, kv = std::int64_t{a.n_kv_heads} * a.head_dim;
  AttentionCounts c;
  c.weights = d * q + 2 * d * kv + q * d;
  c.biases = a.qkv_bias ? q + 2 * kv : 0;
  c.norm_params = a.qk_norm ? 2 * std::int64_t{a.head_dim} : 0;  // Qwen3: one weight vector each for q, k
  c.flops_per_position = 2 * q + 2 * q;  // q·k and p·v for every query head (GQA shares k, v, not FLOPs)
  return c;
}

AttentionCounts attention_counts(const ModelConfig& m, MlaForm form) {
  return is_mla(m) ? mla_counts(m.attention, m.hidden_size, form)
                   : standard_counts(m.attention, m.hidden_size);
}

// A weight matrix (or several) that every token uses and that a decode step reads once.
ComponentCost dense_weights(std::int64_t params, std::int64_t flop_params, const Precision& weight) {
  ComponentCost c;
  c.params_total = c.params_activated = params;
  c.flops_prefill = c.flops_decode = 2.0 * static_cast<double>(flop_params);
  c.weight_bytes = c.weight_bytes_read_per_step = weight.bytes(static_cast<double>(params));
  return c;
}

ComponentCost scaled(ComponentCost c, std::int64_t n) {
  const auto k = static_cast<double>(n);
  c.params_total = checked_mul(c.params_total, n);
  c.params_activated = checked_mul(c.params_activated, n);
  c.flops_prefill *= k;
  c.flops_decode *= k;
  c.weight_bytes *= k;
  c.weight_bytes_read_per_step *= k;
  return c;
}

void add_moe(Breakdown& b, const ModelConfig& m, const CostOptions& o) {
  const MoeConfig& moe = *m.moe;
  const std::int64_t d = m.hidden_size, n_routed = moe.n_routed_experts;
  const std::int64_t expert = 3 * d * moe.expert_intermediate_size;  // SwiGLU: W1, W3 [mi, d], W2 [d, mi]
  // V3's router also stores the auxiliary-loss-free bias b_i (no FLOPs worth counting).
  const std::int64_t router_bias = moe.router == RouterKind::sigmoid ? n_routed : 0;
  b[Component::router] = dense_weights(d * n_routed + router_bias, d * n_routed, o.weight);
  // Qwen2-MoE's shared expert has its own width and a gate: sigmoid(h . w), w of d weights, a
  // one-row matrix product whose 2d FLOPs count like the router's.
  const std::int64_t shared = moe.n_shared_experts * 3 * d * moe.shared_expert_width();
  const std::int64_t gate = moe.shared_expert_gate ? d : 0;
  b[Component::shared_experts] = dense_weights(shared + gate, shared + gate, o.weight);

  ComponentCost& routed = b[Component::routed_experts];
  routed.params_total = n_routed * expert;
  routed.params_activated = moe.top_k * expert;
  routed.flops_prefill = routed.flops_decode = 2.0 * static_cast<double>(routed.params_activated);
  routed.weight_bytes = o.weight.bytes(static_cast<double>(routed.params_total));
  routed.weight_bytes_read_per_step = expected_distinct_experts(moe.n_routed_experts, moe.top_k, o.batch) *
                                      o.weight.bytes(static_cast<double>(expert));
}

Breakdown model_breakdown(const ModelConfig& m, const CostOptions& o) {
  Breakdown b;
  const Breakdown dense = m.num_dense_layers() > 0 ? layer_cost(m, false, o) : Breakdown{};
  const Breakdown moe = m.num_moe_layers() > 0 ? layer_cost(m, true, o) : Breakdown{};
  for (std::size_t i = 0; i < b.parts.size(); ++i) {
    b.parts[i] = scaled(dense.parts[i], m.num_dense_layers());
    b.parts[i] += scaled(moe.parts[i], m.num_moe_layers());
  }

  const std::int64_t d = m.hidden_size, vd = std::int64_t{m.vocab_size} * d;
  b[Component::norms] += dense_weights(d, 0, o.weight);  // the final norm

  ComponentCost& embedding = b[Component::embedding];
  embedding.params_total = vd;
  // A tied LM head multiplies by the whole matrix, so all of it is activated then.
  embedding.params_activated = m.tie_word_embeddings || o.embeddings == EmbeddingCount::all ? vd : d;
  embedding.weight_bytes = o.weight.bytes(static_cast<double>(vd));
  embedding.weight_bytes_read_per_step =
      o.weight.bytes(static_cast<double>(std::min<std::int64_t>(o.batch, m.vocab_size) * d));

  ComponentCost& head = b[Component::lm_head];
  head = dense_weights(m.tie_word_embeddings ? 0 : vd, vd, o.weight);
  head.weight_bytes_read_per_step = o.weight.bytes(static_cast<double>(vd));
  return b;
}

Roofline decode_step(const ModelConfig& m, const CostOptions& o, double flops_per_token,
                     double kv_bytes_per_token) {
  const Breakdown b = model_breakdown(m, o);
  const double kv_per_token = kv_bytes_per_token * static_cast<double>(o.context + 1);  // read L, write 1
  const double bytes = b.total().weight_bytes_read_per_step + static_cast<double>(o.batch) * kv_per_token;
  return roofline(static_cast<double>(o.batch) * flops_per_token, bytes, o.batch, o.bandwidth_gbs,
                  o.peak_gflops);
}

MemoryFit memory_fit(const ModelConfig& m, const CostOptions& o, double weight_bytes, double flops_decode,
                     double kv_bytes_per_token) {
  MemoryFit fit;
  fit.budget_bytes = o.memory_budget_gib * kGiB;
  fit.weight_bytes = weight_bytes;
  const double free_bytes = fit.budget_bytes - weight_bytes;
  if (free_bytes <= 0) return fit;
  // Capped well inside int64 for absurd budgets (the cast of a larger double is undefined).
  fit.max_cached_tokens =
      static_cast<std::int64_t>(std::min(std::floor(free_bytes / kv_bytes_per_token), 1e18));
  // The batch a report can name is bounded like --batch, however large the budget.
  fit.max_batch = std::min(fit.max_cached_tokens / o.context, kMaxTokens);
  if (fit.max_batch == 0) return fit;
  CostOptions at_max = o;
  at_max.batch = fit.max_batch;
  fit.decode = decode_step(m, at_max, flops_decode, kv_bytes_per_token);
  return fit;
}

void require(bool ok, const std::string& message) {
  if (!ok) throw ConfigError(message);
}

}  // namespace

Precision precision_from_bits(double bits, std::string_view field) {
  require(std::isfinite(bits) && bits > 0 && bits <= 64,
          fmt::format("{}: {} bits per element is out of range (0, 64]", field, bits));
  return Precision{fmt::format("{:g}-bit", bits), bits};
}

Precision parse_precision(std::string_view text, std::string_view field) {
  struct Named {
    std::string_view name;
    double bits;
  };
  static constexpr Named kNamed[] = {{"fp32", 32}, {"f32", 32}, {"bf16", 16}, {"fp16", 16}, {"f16", 16},
                                     {"fp8", 8},   {"e4m3", 8}, {"e5m2", 8},  {"int8", 8},  {"int4", 4}};
  for (const Named& n : kNamed)
    if (text == n.name) return Precision{std::string(n.name), n.bits};
  double bits = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), bits);
  require(ec == std::errc{} && end == text.data() + text.size() && !text.empty(),
          fmt::format("{}: '{}' is not fp32, bf16, fp16, fp8, int8, int4 or a number of bits", field, text));
  return precision_from_bits(bits, field);
}

std::string_view to_string(EmbeddingCount count) {
  switch (count) {
    case EmbeddingCount::none:
      return "none";
    case EmbeddingCount::touched:
      return "touched";
    case EmbeddingCount::all:
      return "all";
  }
  return "?";
}

EmbeddingCount parse_embedding_count(std::string_view text) {
  for (EmbeddingCount c : {EmbeddingCount::none, EmbeddingCount::touched, EmbeddingCount::all})
    if (text == to_string(c)) return c;
  throw ConfigError(fmt::format("count-embeddings: '{}' is not none, touched or all", text));
}

std::string_view mla_form_name(MlaForm form) { return form == MlaForm::naive ? "naive" : "absorbed"; }

namespace {

// The JSON key and the table label of each component, in kComponents order.
struct ComponentName {
  std::string_view key, label;
};
constexpr std::array<ComponentName, kComponents.size()> kComponentNames = {{
    {"attention_projections", "attention projections"},
    {"attention_context", "attention over context"},
    {"router", "router"},
    {"shared_experts", "shared experts"},
    {"routed_experts", "routed experts"},
    {"dense_ffn", "dense FFN"},
    {"norms", "norms"},
    {"embedding", "embedding"},
    {"lm_head", "LM head"},
}};

}  // namespace

std::string_view to_string(Component component) {
  return kComponentNames[static_cast<std::size_t>(component)].key;
}

std::string_view label(Component component) {
  return kComponentNames[static_cast<std::size_t>(component)].label;
}

void validate(const CostOptions& o) {
  // Bounded so that L x B and every count stay exact in 64 bits.
  require(o.context >= 1 && o.context <= kMaxTokens,
          fmt::format("context: {} tokens; must be in [1, {}]", o.context, kMaxTokens));
  require(o.batch >= 1 && o.batch <= kMaxTokens,
          fmt::format("batch: {}; must be in [1, {}]", o.batch, kMaxTokens));
  precision_from_bits(o.weight.bits, "weight precision");
  precision_from_bits(o.kv.bits, "kv precision");
  require(o.bandwidth_gbs > 0 && std::isfinite(o.bandwidth_gbs),
          fmt::format("bandwidth-gbs: {}; must be positive", o.bandwidth_gbs));
  require(o.peak_gflops > 0 && std::isfinite(o.peak_gflops),
          fmt::format("peak-gflops: {}; must be positive", o.peak_gflops));
  require(o.memory_budget_gib > 0 && std::isfinite(o.memory_budget_gib),
          fmt::format("memory-budget-gib: {}; must be positive", o.memory_budget_gib));
}

ComponentCost& ComponentCost::operator+=(const ComponentCost& other) {
  params_total = checked_add(params_total, other.params_total);
  params_activated = checked_add(params_activated, other.params_activated);
  flops_prefill += other.flops_prefill;
  flops_decode += other.flops_decode;
  weight_bytes += other.weight_bytes;
  weight_bytes_read_per_step += other.weight_bytes_read_per_step;
  return *this;
}

ComponentCost Breakdown::total() const {
  ComponentCost sum;
  for (const ComponentCost& c : parts) sum += c;
  return sum;
}

std::int64_t kv_elements_per_token_per_layer(const AttentionConfig& a, MlaForm form) {
  if (a.kind != AttentionKind::mla) return 2 * std::int64_t{a.n_kv_heads} * a.head_dim;
  if (form == MlaForm::absorbed) return std::int64_t{a.kv_lora_rank} + a.qk_rope_head_dim;
  return std::int64_t{a.n_heads} * (a.qk_head_dim() + a.v_head_dim);
}

double expected_distinct_experts(int n_routed, int top_k, std::int64_t batch) {
  const double e = n_routed;
  return e * (1.0 - std::pow(1.0 - top_k / e, static_cast<double>(batch)));
}

Breakdown layer_cost(const ModelConfig& m, bool moe_layer, const CostOptions& o) {
  Breakdown b;
  const std::int64_t d = m.hidden_size;
  const AttentionCounts att = attention_counts(m, o.mla_form);
  b[Component::attention_projections] = dense_weights(att.weights + att.biases, att.weights, o.weight);
  // Prefill token t attends to t positions: L(L+1)/2 in all, (L+1)/2 per token. Decode attends to L.
  const auto per_position = static_cast<double>(att.flops_per_position), L = static_cast<double>(o.context);
  b[Component::attention_context].flops_prefill = per_position * (L + 1) / 2;
  b[Component::attention_context].flops_decode = per_position * L;
  b[Component::norms] = dense_weights(2 * d + att.norm_params, 0, o.weight);
  if (moe_layer)
    add_moe(b, m, o);
  else
    b[Component::dense_ffn] =
        dense_weights(3 * d * m.intermediate_size, 3 * d * m.intermediate_size, o.weight);
  return b;
}

Roofline roofline(double flops, double bytes, std::int64_t batch, double bandwidth_gbs, double peak_gflops) {
  Roofline r;
  r.flops = flops;
  r.bytes = bytes;
  r.compute_s = flops / (peak_gflops * 1e9);
  r.memory_s = bytes / (bandwidth_gbs * 1e9);
  r.memory_bound = r.memory_s >= r.compute_s;
  r.time_s = std::max(r.compute_s, r.memory_s);
  r.tokens_per_s = static_cast<double>(batch) / r.time_s;
  return r;
}

// The report of a validated model and options (estimate_cost names the model in its refusals).
static CostReport estimate_model_cost(const ModelConfig& m, const CostOptions& o);

CostReport estimate_cost(const ModelConfig& m, const CostOptions& o) {
  validate(m);
  validate(o);
  try {
    return estimate_model_cost(m, o);
  } catch (const Unrepresentable& e) {
    throw ConfigError(fmt::format("{}: {}", m.name, e.what()));
  }
}

static CostReport estimate_model_cost(const ModelConfig& m, const CostOptions& o) {
  CostReport r;
  r.model = m;
  r.options = o;
  r.total = model_breakdown(m, o);
  if (m.num_dense_layers() > 0) r.dense_layer = layer_cost(m, false, o);
  if (m.num_moe_layers() > 0) r.moe_layer = layer_cost(m, true, o);

  for (Component c : kComponents) {
    const bool embedding = c == Component::embedding || c == Component::lm_head;
    if (embedding && o.embeddings == EmbeddingCount::none) continue;
    r.params_total = checked_add(r.params_total, r.total[c].params_total);
    r.params_activated = checked_add(r.params_activated, r.total[c].params_activated);
  }
  const ComponentCost sum = r.total.total();
  r.weight_bytes = sum.weight_bytes;

  r.kv_elements_per_token_per_layer = kv_elements_per_token_per_layer(m.attention, o.mla_form);
  r.kv_bytes_per_token_per_layer = o.kv.bytes(static_cast<double>(r.kv_elements_per_token_per_layer));
  r.kv_bytes_per_token = r.kv_bytes_per_token_per_layer * m.num_layers;
  r.kv_bytes_at_context_and_batch = r.kv_bytes_per_token * static_cast<double>(o.context * o.batch);

  r.flops_prefill_per_token = sum.flops_prefill;
  r.flops_prefill_sequence = sum.flops_prefill * static_cast<double>(o.context);
  r.flops_decode_per_token = sum.flops_decode;
  // Training computes MLA in its naive form (decompressed k, v), whatever form decode uses.
  CostOptions naive = o;
  naive.mla_form = MlaForm::naive;
  r.flops_training_per_token =
      3 * (is_mla(m) ? model_breakdown(m, naive).total().flops_prefill : sum.flops_prefill);

  const auto batch = static_cast<double>(o.batch);
  r.decode_traffic.weight_bytes_read = sum.weight_bytes_read_per_step / batch;
  r.decode_traffic.kv_bytes_read = r.kv_bytes_per_token * static_cast<double>(o.context);
  r.decode_traffic.kv_bytes_written = r.kv_bytes_per_token;
  r.arithmetic_intensity = r.flops_decode_per_token / r.decode_traffic.total();
  r.decode = decode_step(m, o, r.flops_decode_per_token, r.kv_bytes_per_token);
  r.fit = memory_fit(m, o, r.weight_bytes, r.flops_decode_per_token, r.kv_bytes_per_token);
  return r;
}

std::vector<std::string> cost_warnings(const CostReport& r) {
  std::vector<std::string> warnings;
  if (r.options.context > r.model.max_position_embeddings)
    warnings.push_back(fmt::format("{}: context {} is above max_position_embeddings = {}: the model was not "
                                   "trained for it, so the figures describe a use it does not support",
                                   r.model.name, r.options.context, r.model.max_position_embeddings));
  return warnings;
}

const std::vector<std::string>& cost_conventions() {
  static const std::vector<std::string> conventions = {
      "A FLOP is one multiply or one add: a multiply-add counts 2.",
      "FLOPs count the matrix products: projections, experts, router, LM head, attention scores and the "
      "weighted sum of values. The LM head counts for every token, prefill included (as training needs; "
      "serving a prompt needs only its last token's logits). Elementwise work (norms, RoPE, softmax, SiLU, "
      "gates, biases, residual adds) is not counted: a few FLOPs per element, O(d + n_h*L) per token per "
      "layer.",
      "Decode at context L: each sequence holds L tokens in its cache, the new one included; the new token "
      "attends to all L, reads L cached rows and writes its own once.",
      "Prefill of length L is causal: token t attends to t positions, L(L+1)/2 in all; per-token prefill "
      "figures are the sequence's total divided by L.",
      "Training FLOPs per token = 3 x the forward (prefill at length L, MLA in its naive form as training "
      "computes it): the backward pass costs twice the forward, i.e. 6 FLOPs per activated matrix parameter "
      "per token.",
      "Activated parameters are those a token's forward pass uses: all but the routed experts it is not sent "
      "to (the router, the shared experts and the top-k routed experts count).",
      "Embeddings (--count-embeddings): 'touched' (default) counts the embedding and LM head in the totals, "
      "and as activated the LM head and the one embedding row a token looks up; 'all' counts the whole "
      "embedding as activated (Mistral's convention); 'none' leaves both out. A tied LM head is the "
      "embedding matrix, counted once and wholly activated.",
      "Weight bytes: every parameter at the weight precision (bits / 8 bytes, fractions allowed), embeddings "
      "always included: that is what memory holds. KV elements at the KV precision.",
      "MLA absorbed caches c_KV and k_R: kv_lora_rank + qk_rope_head_dim elements per token per layer; MLA "
      "naive caches the decompressed k and v: n_h*(qk_nope + qk_rope + v_head_dim).",
      "Bytes per decode token = the step's weight reads / B + KV read + KV written. Activations and their "
      "traffic are not counted.",
      "MoE at batch B: each MoE layer reads the shared experts and E*(1 - (1 - k/E)^B) distinct routed "
      "experts, the expectation when every token picks its k experts uniformly and independently (the "
      "balanced load the routing losses aim for); at B = 1 exactly k.",
      "Roofline: a decode step takes max(FLOPs / peak FLOP rate, bytes / bandwidth). Both rates and the "
      "memory budget are inputs; the defaults are 8 GPUs at NVIDIA's H100 SXM figures (3.35 TB/s, 989.5 "
      "TFLOP/s dense BF16, 80 GB), standing in for the 8 x H800 node of DeepSeek's claims, for which "
      "DeepSeek gives no memory or FLOP figures. infercost's harness measures this machine's.",
      "Memory budget: weights + B x L x KV bytes per token must fit; activations, framework overhead and "
      "fragmentation are not counted, so the largest batch is an upper bound.",
      "Units: KiB, MiB, GiB, TiB are powers of 1024; GB/s, GFLOP/s, B (billions of parameters) powers of "
      "1000. JSON gives raw bytes, FLOPs, seconds and parameter counts.",
  };
  return conventions;
}

namespace {

nlohmann::json component_json(const ComponentCost& c) {
  return {{"params_total", c.params_total},
          {"params_activated", c.params_activated},
          {"weight_bytes", c.weight_bytes},
          {"flops_prefill_per_token", c.flops_prefill},
          {"flops_decode_per_token", c.flops_decode},
          {"weight_bytes_read_per_decode_step", c.weight_bytes_read_per_step}};
}

nlohmann::json breakdown_json(const Breakdown& b) {
  nlohmann::json j = nlohmann::json::object();
  for (Component c : kComponents) j[std::string(to_string(c))] = component_json(b[c]);
  return j;
}

nlohmann::json roofline_json(const Roofline& r, std::int64_t batch) {
  return {{"batch", batch},
          {"flops_per_step", r.flops},
          {"bytes_per_step", r.bytes},
          {"compute_time_per_step_s", r.compute_s},
          {"memory_time_per_step_s", r.memory_s},
          {"time_per_step_s", r.time_s},
          {"bound", r.memory_bound ? "memory" : "compute"},
          {"tokens_per_s", r.tokens_per_s}};
}

// The figures that depend on the MLA form (for any model, the ones that depend on the KV cache).
nlohmann::json form_json(const CostReport& r) {
  const MemoryFit& fit = r.fit;
  nlohmann::json max_batch = {{"memory_budget_bytes", fit.budget_bytes},
                              {"weight_bytes", fit.weight_bytes},
                              {"max_cached_tokens", fit.max_cached_tokens},
                              {"max_batch_at_context", fit.max_batch}};
  if (fit.max_batch > 0) max_batch["decode"] = roofline_json(fit.decode, fit.max_batch);
  return {{"kv_cache_elements_per_token_per_layer", r.kv_elements_per_token_per_layer},
          {"kv_cache_bytes_per_token_per_layer", r.kv_bytes_per_token_per_layer},
          {"kv_cache_bytes_per_token", r.kv_bytes_per_token},
          {"kv_cache_bytes_at_context_and_batch", r.kv_bytes_at_context_and_batch},
          {"flops_prefill_per_token", r.flops_prefill_per_token},
          {"flops_prefill_sequence", r.flops_prefill_sequence},
          {"flops_decode_per_token", r.flops_decode_per_token},
          {"flops_training_per_token", r.flops_training_per_token},
          {"decode_bytes_per_token",
           {{"weights_read", r.decode_traffic.weight_bytes_read},
            {"kv_read", r.decode_traffic.kv_bytes_read},
            {"kv_written", r.decode_traffic.kv_bytes_written},
            {"total", r.decode_traffic.total()}}},
          {"arithmetic_intensity_flops_per_byte", r.arithmetic_intensity},
          {"decode", roofline_json(r.decode, r.options.batch)},
          {"max_batch_in_memory_budget", max_batch}};
}

nlohmann::json precision_json(const Precision& p) { return {{"name", p.name}, {"bits", p.bits}}; }

}  // namespace

nlohmann::json report_to_json(const CostReport& r) {
  const ModelConfig& m = r.model;
  const CostOptions& o = r.options;
  nlohmann::json j = {
      {"conventions", cost_conventions()},
      {"model",
       {{"name", m.name},
        {"attention", to_string(m.attention.kind)},
        {"num_layers", m.num_layers},
        {"dense_layers", m.num_dense_layers()},
        {"moe_layers", m.num_moe_layers()},
        {"hidden_size", m.hidden_size},
        {"vocab_size", m.vocab_size},
        {"tie_word_embeddings", m.tie_word_embeddings}}},
      {"options",
       {{"context_tokens", o.context},
        {"batch", o.batch},
        {"weight_precision", precision_json(o.weight)},
        {"kv_precision", precision_json(o.kv)},
        {"mla_form", is_mla(m) ? nlohmann::json(mla_form_name(o.mla_form)) : nlohmann::json(nullptr)},
        {"count_embeddings", to_string(o.embeddings)},
        {"bandwidth_gb_per_s", o.bandwidth_gbs},
        {"peak_gflop_per_s", o.peak_gflops},
        {"memory_budget_gib", o.memory_budget_gib}}},
      {"params_total", r.params_total},
      {"params_activated", r.params_activated},
      {"weight_bytes", r.weight_bytes},
  };
  j.update(form_json(r));
  j["components"] = breakdown_json(r.total);
  j["per_layer"] = nlohmann::json::object();
  if (m.num_dense_layers() > 0)
    j["per_layer"]["dense"] = {{"layers", m.num_dense_layers()},
                               {"components", breakdown_json(r.dense_layer)}};
  if (m.num_moe_layers() > 0)
    j["per_layer"]["moe"] = {{"layers", m.num_moe_layers()}, {"components", breakdown_json(r.moe_layer)}};
  if (is_mla(m)) {
    // Both forms side by side: they share parameters and projection FLOPs, not cache or context FLOPs.
    j["mla_forms"] = nlohmann::json::object();
    for (MlaForm form : {MlaForm::absorbed, MlaForm::naive}) {
      CostOptions other = o;
      other.mla_form = form;
      j["mla_forms"][std::string(mla_form_name(form))] =
          form_json(form == o.mla_form ? r : estimate_cost(m, other));
    }
  }
  return j;
}

}  // namespace infercost
