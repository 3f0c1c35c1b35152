// The analytic cost model: what a model should cost (parameters, weight and KV-cache bytes, FLOPs
// and bytes moved per token, the roofline and the largest batch a memory budget holds) for any
// ModelConfig, without running anything. Every convention it follows is in cost_conventions(),
// which the command line prints in `infercost cost --help` and in its JSON.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "infercost/config.hpp"

namespace infercost {

// A storage precision: bits per element, any positive number (4.5 for 4-bit weights with one
// 16-bit scale per 32 of them). `name` is how it was asked for.
struct Precision {
  std::string name = "bf16";
  double bits = 16;

  double bytes(double elements) const { return elements * bits / 8; }
};

// "fp32", "bf16", "fp16", "fp8", "int8", "int4", or a number of bits ("6", "4.5").
// Throws ConfigError naming `field` when the text is none of these or the bits are not in (0, 64].
Precision parse_precision(std::string_view text, std::string_view field = "precision");
Precision precision_from_bits(double bits, std::string_view field = "bits");

// Which embedding parameters the parameter counts include.
enum class EmbeddingCount {
  none,     // neither the embedding nor the LM head ("non-embedding" parameters)
  touched,  // totals count both; activated counts the LM head and the one embedding row a token looks up
  all,      // as touched, but the whole embedding matrix counts as activated (Mistral's convention)
};
std::string_view to_string(EmbeddingCount count);
EmbeddingCount parse_embedding_count(std::string_view text);  // throws ConfigError

std::string_view mla_form_name(MlaForm form);  // "naive" or "absorbed"

enum class Component {
  attention_projections,  // q, k, v, o (MLA: down/up projections, decoupled RoPE) and their biases
  attention_context,      // scores against the cached keys and the weighted sum of values
  router,
  shared_experts,  // Qwen2-MoE's: one of its own width, with its [d] sigmoid gate
  routed_experts,
  dense_ffn,
  norms,  // every RMSNorm weight (MLA's latent norms and Qwen3's q/k norms included)
  embedding,
  lm_head,
};
inline constexpr std::array<Component, 9> kComponents = {Component::attention_projections,
                                                         Component::attention_context,
                                                         Component::router,
                                                         Component::shared_experts,
                                                         Component::routed_experts,
                                                         Component::dense_ffn,
                                                         Component::norms,
                                                         Component::embedding,
                                                         Component::lm_head};
std::string_view to_string(Component component);  // snake_case, stable: the JSON keys
std::string_view label(Component component);      // for tables

// The most tokens per sequence (context) and sequences per step (batch) the cost model takes, so
// that L x B and every count stay exact in 64 bits; the largest batch a budget holds is capped too.
inline constexpr std::int64_t kMaxCostTokens = std::int64_t{1} << 30;

struct CostOptions {
  std::int64_t context = 4096;  // L: tokens in each sequence's cache at decode; prefill length
  std::int64_t batch = 1;       // B: sequences decoded together
  Precision weight{"bf16", 16};
  Precision kv{"bf16", 16};
  MlaForm mla_form = MlaForm::absorbed;
  EmbeddingCount embeddings = EmbeddingCount::touched;
  // Roofline inputs. Defaults: 8 GPUs at NVIDIA's published H100 SXM figures (3.35 TB/s HBM3,
  // 989.5 TFLOP/s dense BF16, 80 GB, read as 80 GiB). They stand in for the 8 × H800 node of the
  // DeepSeek-V2/V3 claims: DeepSeek's reports give no H800 memory or FLOP figures, and the H800 is
  // reported to differ from the H100 SXM in its interconnect, not in these.
  double bandwidth_gbs = 8 * 3350.0;
  double peak_gflops = 8 * 989.5e3;
  double memory_budget_gib = 8 * 80.0;
};
void validate(const CostOptions& options);  // throws ConfigError naming the field

// One component's cost, per token unless named otherwise.
struct ComponentCost {
  std::int64_t params_total = 0;
  std::int64_t params_activated = 0;
  double flops_prefill = 0;  // forward FLOPs per token, averaged over a causal prefill of length L
  double flops_decode = 0;   // forward FLOPs of one token decoded at context L
  double weight_bytes = 0;   // params_total at the weight precision
  double weight_bytes_read_per_step = 0;  // one decode step of the whole batch

  ComponentCost& operator+=(const ComponentCost& other);
};

// Costs split by component; index with a Component.
struct Breakdown {
  std::array<ComponentCost, kComponents.size()> parts{};

  ComponentCost& operator[](Component c) { return parts[static_cast<std::size_t>(c)]; }
  const ComponentCost& operator[](Component c) const { return parts[static_cast<std::size_t>(c)]; }
  ComponentCost total() const;
};

// KV-cache elements per token per layer: 2·n_kv·d_h (MHA/GQA/MQA); MLA absorbed:
// kv_lora_rank + qk_rope_head_dim; MLA naive: n_h·(qk_nope + qk_rope + v_head_dim).
std::int64_t kv_elements_per_token_per_layer(const AttentionConfig& attention, MlaForm form);

// Expected number of distinct routed experts B tokens select when each picks top_k of n_routed
// uniformly and independently: E·(1 − (1 − k/E)^B).
double expected_distinct_experts(int n_routed, int top_k, std::int64_t batch);

// One layer (dense FFN or MoE), every component per token; embedding and LM head are zero.
Breakdown layer_cost(const ModelConfig& model, bool moe_layer, const CostOptions& options);

// A step bounded by a FLOP rate and a bandwidth.
struct Roofline {
  double flops = 0, bytes = 0;  // per step
  double compute_s = 0, memory_s = 0, time_s = 0;
  bool memory_bound = false;
  double tokens_per_s = 0;  // batch / time_s
};
Roofline roofline(double flops, double bytes, std::int64_t batch, double bandwidth_gbs, double peak_gflops);

// Traffic of one decode token at context L and batch B.
struct DecodeTraffic {
  double weight_bytes_read = 0;  // the step's weight reads shared by the B tokens: step / B
  double kv_bytes_read = 0;      // L tokens of this sequence's cache
  double kv_bytes_written = 0;   // the new token's row
  double total() const { return weight_bytes_read + kv_bytes_read + kv_bytes_written; }
};

// The largest batch at context L whose weights and KV cache fit the memory budget.
struct MemoryFit {
  double budget_bytes = 0, weight_bytes = 0;
  std::int64_t max_cached_tokens = 0;  // batch × context
  std::int64_t max_batch = 0;          // at context L; 0 when not even one sequence fits
  Roofline decode;                     // a decode step at max_batch (zero when max_batch is 0)
};

struct CostReport {
  ModelConfig model;
  CostOptions options;
  Breakdown total;        // the whole model
  Breakdown dense_layer;  // one layer of each kind (all zero when the model has none)
  Breakdown moe_layer;
  std::int64_t params_total = 0;      // under options.embeddings
  std::int64_t params_activated = 0;  // per token, under options.embeddings
  double weight_bytes = 0;            // every parameter, embeddings included: what memory holds
  std::int64_t kv_elements_per_token_per_layer = 0;
  double kv_bytes_per_token_per_layer = 0;
  double kv_bytes_per_token = 0;             // all layers
  double kv_bytes_at_context_and_batch = 0;  // L × B tokens
  double flops_prefill_per_token = 0;
  double flops_prefill_sequence = 0;  // the whole prefill of L tokens
  double flops_decode_per_token = 0;
  double flops_training_per_token = 0;  // 3 × forward prefill at length L
  DecodeTraffic decode_traffic;
  double arithmetic_intensity = 0;  // decode FLOPs per byte moved
  Roofline decode;                  // a decode step at batch B
  MemoryFit fit;
};

// Throws ConfigError for a model or options out of range, and for a model whose parameter count
// exceeds 2^63 - 1 (possible at the validation limits), rather than report a wrapped figure.
CostReport estimate_cost(const ModelConfig& model, const CostOptions& options = {});

// What a reader should know about the inputs: a context above the model's max_position_embeddings.
std::vector<std::string> cost_warnings(const CostReport& report);

// The conventions every figure follows, one sentence each.
const std::vector<std::string>& cost_conventions();

// Stable field names, units in the names (bytes, flops, s, per_token, ...).
nlohmann::json report_to_json(const CostReport& report);

}  // namespace infercost
