// Model configurations: attention, feed-forward and whole-model shapes, their validation,
// loading from a HuggingFace config.json, and the built-in presets.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace infercost {

// Thrown for any config that cannot work; what() names the field and the allowed range.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class AttentionKind { mha, gqa, mqa, mla };
std::string_view to_string(AttentionKind kind);
// The name of attention with n_kv_heads key/value heads for n_heads query heads: MHA when they are
// equal, MQA with one, GQA otherwise.
AttentionKind standard_attention_kind(int n_heads, int n_kv_heads);

// One attention layer. MHA/GQA/MQA use n_heads, n_kv_heads, head_dim; MLA uses the lora ranks
// and the per-head dimensions (DeepSeek-V2 §2.1), with n_kv_heads == n_heads by convention.
struct AttentionConfig {
  AttentionKind kind = AttentionKind::mha;
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;         // MHA/GQA/MQA: d_h
  bool qkv_bias = false;    // Qwen2 carries a bias on the q, k, v projections
  bool qk_norm = false;     // Qwen3: an RMSNorm of width head_dim on every query and key head
  // MLA only.
  int q_lora_rank = 0;      // 0: no query compression (q = W_Q h), as in DeepSeek-V2-Lite
  int kv_lora_rank = 0;
  int qk_nope_head_dim = 0;
  int qk_rope_head_dim = 0;
  int v_head_dim = 0;

  int qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }  // MLA

  bool operator==(const AttentionConfig&) const = default;
};

// Which MLA computation to run (docs/design.md, "Multi-head latent attention"): both compute the
// same function from the same weights.
enum class MlaForm {
  naive,     // decompress k_C, k_R, v per head into the cache; then ordinary attention
  absorbed,  // cache (c_KV, k_R) only; W_UK folded into the query, W_UV applied after
};

enum class RouterKind {
  softmax,  // DeepSeek-V2 and Mixtral: s = softmax(u·e); group-limited by each group's best score
  sigmoid,  // DeepSeek-V3: s = sigmoid(u·e), selection by s + bias, groups by sum of best two
};
std::string_view to_string(RouterKind kind);

// DeepSeekMoE (and Mixtral, which is the special case of no shared experts).
struct MoeConfig {
  int n_routed_experts = 0;
  int n_shared_experts = 0;
  int top_k = 0;                      // num_experts_per_tok
  int expert_intermediate_size = 0;   // moe_intermediate_size; each expert is a SwiGLU FFN
  int n_group = 1;                    // group-limited routing: experts split into n_group groups
  int topk_group = 1;                 // ... of which the best topk_group are kept
  RouterKind router = RouterKind::softmax;
  bool norm_topk_prob = false;        // renormalise the selected gates to sum 1
  double routed_scaling_factor = 1.0;
  // Qwen2-MoE: the shared expert has its own width (0: each shared expert is as wide as a routed
  // one, as in DeepSeekMoE) and its output is scaled by sigmoid(h . w_gate), a [d] gate vector.
  int shared_expert_intermediate_size = 0;
  bool shared_expert_gate = false;

  int experts_per_group() const { return n_routed_experts / n_group; }
  int shared_expert_width() const {
    return shared_expert_intermediate_size > 0 ? shared_expert_intermediate_size : expert_intermediate_size;
  }

  bool operator==(const MoeConfig&) const = default;
};

// A whole decoder-only model. Layers [0, first_k_dense_replace) use a dense SwiGLU FFN of width
// intermediate_size; the others use the MoE when there is one.
struct ModelConfig {
  std::string name;
  // The family the config.json names (its model_type, or the one its architectures imply); empty
  // when it names none and was read by the fields it has.
  std::string family;
  int hidden_size = 0;
  int num_layers = 0;
  int vocab_size = 0;
  int max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = false;
  AttentionConfig attention;
  int intermediate_size = 0;          // dense SwiGLU width (unused when every layer is MoE)
  std::optional<MoeConfig> moe;
  int first_k_dense_replace = 0;

  bool is_moe_layer(int layer) const { return moe.has_value() && layer >= first_k_dense_replace; }
  int num_moe_layers() const { return moe ? num_layers - first_k_dense_replace : 0; }
  int num_dense_layers() const { return num_layers - num_moe_layers(); }

  bool operator==(const ModelConfig&) const = default;
};

// Checks every field; throws ConfigError naming the first field out of range.
void validate(const AttentionConfig& attention);
void validate(const MoeConfig& moe);
void validate(const ModelConfig& model);

// Parses the text of a HuggingFace config.json (field names as in the public files). A config that
// names a family infercost knows (known_families()) must carry the fields that define that family's
// shape; one that names no family is read by the fields it has; one of an unknown family is read
// that way only when every field that shapes the model is understood. A field about experts, heads,
// ranks, widths or layers that infercost does not read is refused, never ignored; other unknown
// fields (token ids, dtypes, dropout) are ignored. `source` names the file in error messages. The
// result is validated.
ModelConfig parse_model_config(std::string_view json_text, const std::string& source = "config");
ModelConfig load_model_config(const std::filesystem::path& path);

// The model_type values infercost reads (llama, qwen2, deepseek_v3, qwen2_moe, ...).
std::vector<std::string> known_families();
// One line naming the design a config was read as, e.g. "deepseek_v3: MLA attention, DeepSeekMoE
// (shared + routed experts)", or "no model_type: read by its fields as ...".
std::string design_summary(const ModelConfig& model);
// Throws ConfigError when `infercost run`'s layers cannot compute this model as it is (a gated
// shared expert of its own width, Qwen3's q/k norms), so that run never measures another model.
void require_runnable(const ModelConfig& model);

// Built-in presets, each copied from the model's public config.json (sources in presets.cpp).
std::vector<std::string> preset_names();
std::optional<ModelConfig> find_preset(std::string_view name);
// A preset name or a path to a config.json; throws ConfigError when neither.
ModelConfig resolve_model(const std::string& name_or_path);

}  // namespace infercost
