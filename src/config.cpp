// Validation and loading of model configs. Field names in messages are those of the public
// HuggingFace config.json files, so a user can find the line to fix.
#include "infercost/config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace infercost {

std::string_view to_string(AttentionKind kind) {
  switch (kind) {
    case AttentionKind::mha: return "MHA";
    case AttentionKind::gqa: return "GQA";
    case AttentionKind::mqa: return "MQA";
    case AttentionKind::mla: return "MLA";
  }
  return "?";
}

AttentionKind standard_attention_kind(int n_heads, int n_kv_heads) {
  return n_kv_heads == n_heads ? AttentionKind::mha : n_kv_heads == 1 ? AttentionKind::mqa : AttentionKind::gqa;
}

std::string_view to_string(RouterKind kind) { return kind == RouterKind::softmax ? "softmax" : "sigmoid"; }

namespace {

// Upper bounds far above any published model, low enough that sizes multiplied together cannot
// overflow 64 bits before the memory check refuses them.
constexpr int kMaxWidth = 1 << 18;
constexpr int kMaxLayers = 1 << 12;
constexpr int kMaxHeads = 1 << 12;
constexpr int kMaxExperts = 1 << 14;
constexpr int kMaxVocab = 1 << 24;

void require_range(const char* field, long long value, long long lo, long long hi) {
  if (value < lo || value > hi)
    throw ConfigError(fmt::format("{} = {}: must be in [{}, {}]", field, value, lo, hi));
}

void require_positive(const char* field, double value) {
  if (!(value > 0.0) || value > std::numeric_limits<double>::max())
    throw ConfigError(fmt::format("{} = {}: must be a finite number > 0", field, value));
}

void require_even(const char* field, int value) {
  if (value % 2 != 0)
    throw ConfigError(fmt::format("{} = {}: must be even (RoPE rotates pairs of dimensions)", field, value));
}

}  // namespace

void validate(const AttentionConfig& a) {
  require_range("num_attention_heads", a.n_heads, 1, kMaxHeads);
  if (a.kind == AttentionKind::mla) {
    require_range("q_lora_rank", a.q_lora_rank, 0, kMaxWidth);
    require_range("kv_lora_rank", a.kv_lora_rank, 1, kMaxWidth);
    require_range("qk_nope_head_dim", a.qk_nope_head_dim, 1, kMaxWidth);
    require_range("qk_rope_head_dim", a.qk_rope_head_dim, 2, kMaxWidth);
    require_even("qk_rope_head_dim", a.qk_rope_head_dim);
    require_range("v_head_dim", a.v_head_dim, 1, kMaxWidth);
    return;
  }
  require_range("num_key_value_heads", a.n_kv_heads, 1, a.n_heads);
  if (a.n_heads % a.n_kv_heads != 0)
    throw ConfigError(fmt::format("num_key_value_heads = {}: must divide num_attention_heads = {}", a.n_kv_heads,
                                  a.n_heads));
  require_range("head_dim", a.head_dim, 2, kMaxWidth);
  require_even("head_dim", a.head_dim);
  const AttentionKind expected = standard_attention_kind(a.n_heads, a.n_kv_heads);
  // MQA with a single head is also MHA; accept either name there.
  if (a.kind != expected && !(a.n_heads == 1 && a.kind == AttentionKind::mqa))
    throw ConfigError(fmt::format("attention kind {} does not match num_attention_heads = {} and "
                                  "num_key_value_heads = {} (that is {})",
                                  to_string(a.kind), a.n_heads, a.n_kv_heads, to_string(expected)));
}

void validate(const MoeConfig& m) {
  require_range("n_routed_experts", m.n_routed_experts, 1, kMaxExperts);
  require_range("n_shared_experts", m.n_shared_experts, 0, kMaxExperts);
  require_range("num_experts_per_tok", m.top_k, 1, m.n_routed_experts);
  require_range("moe_intermediate_size", m.expert_intermediate_size, 1, kMaxWidth);
  require_range("n_group", m.n_group, 1, m.n_routed_experts);
  if (m.n_routed_experts % m.n_group != 0)
    throw ConfigError(fmt::format("n_group = {}: must divide n_routed_experts = {} (experts split into equal groups)",
                                  m.n_group, m.n_routed_experts));
  require_range("topk_group", m.topk_group, 1, m.n_group);
  const int selectable = m.topk_group * m.experts_per_group();
  if (m.top_k > selectable)
    throw ConfigError(fmt::format("num_experts_per_tok = {}: must be in [1, {}], the experts in topk_group = {} "
                                  "groups of {}",
                                  m.top_k, selectable, m.topk_group, m.experts_per_group()));
  // The V3 group score is the sum of each group's two best experts.
  if (m.router == RouterKind::sigmoid && m.n_group > 1 && m.experts_per_group() < 2)
    throw ConfigError(fmt::format("n_group = {}: sigmoid routing ranks groups by their two best experts, so "
                                  "each group needs >= 2 experts (n_group in [1, {}])",
                                  m.n_group, m.n_routed_experts / 2));
  require_positive("routed_scaling_factor", m.routed_scaling_factor);
  require_range("shared_expert_intermediate_size", m.shared_expert_intermediate_size, 0, kMaxWidth);
  if (m.shared_expert_gate && m.n_shared_experts != 1)
    throw ConfigError(fmt::format("n_shared_experts = {}: a gated shared expert (Qwen2-MoE) is one expert",
                                  m.n_shared_experts));
}

void validate(const ModelConfig& c) {
  require_range("hidden_size", c.hidden_size, 1, kMaxWidth);
  require_range("num_hidden_layers", c.num_layers, 1, kMaxLayers);
  require_range("vocab_size", c.vocab_size, 1, kMaxVocab);
  require_range("max_position_embeddings", c.max_position_embeddings, 1, std::numeric_limits<int>::max());
  require_positive("rms_norm_eps", c.rms_norm_eps);
  require_positive("rope_theta", c.rope_theta);
  validate(c.attention);
  if (c.moe) {
    validate(*c.moe);
    require_range("first_k_dense_replace", c.first_k_dense_replace, 0, c.num_layers);
  } else if (c.first_k_dense_replace != 0) {
    throw ConfigError(fmt::format("first_k_dense_replace = {}: must be 0 for a model without experts",
                                  c.first_k_dense_replace));
  }
  if (c.num_dense_layers() > 0) require_range("intermediate_size", c.intermediate_size, 1, kMaxWidth);
}

// ---------------------------------------------------------------------------------------------
// Loading a HuggingFace config.json.

namespace {

using nlohmann::json;

// 1-based line of byte offset `pos` in `text`.
std::size_t line_of(std::string_view text, std::size_t pos) {
  pos = std::min(pos, text.size());
  return 1 + static_cast<std::size_t>(std::count(text.begin(), text.begin() + static_cast<long>(pos), '\n'));
}

// "source:line" for the first occurrence of "field" in the text, or just the source.
std::string where(std::string_view text, const std::string& source, std::string_view field) {
  const std::size_t at = text.find(fmt::format("\"{}\"", field));
  return at == std::string_view::npos ? source : fmt::format("{}:{}", source, line_of(text, at));
}

// Reads the fields of one JSON object, naming the source, the field and its line in every error,
// and remembering every field it was asked for, so that the fields nobody read can be checked.
class FieldReader {
 public:
  FieldReader(const json& object, std::string_view text, const std::string& source)
      : object_(object), text_(text), source_(source) {}

  bool has(const char* field) const { return object_.contains(field) && !object_.at(field).is_null(); }
  // Present, possibly null (DeepSeek-V2-Lite's "q_lora_rank": null means no query compression).
  bool present(const char* field) const {
    read_.insert(field);
    return object_.contains(field);
  }

  int integer(const char* field) const {
    const json& v = need(field);
    if (!v.is_number_integer()) fail(field, fmt::format("= {}: must be an integer (a whole number)", v.dump()));
    // A value above 2^63 is stored unsigned: reading it as signed would wrap it (to -1 for 2^64 - 1).
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > std::uint64_t{std::numeric_limits<int>::max()})
      fail(field, fmt::format("= {}: too large, must be at most {}", v.dump(), std::numeric_limits<int>::max()));
    const auto value = v.get<long long>();
    if (value < std::numeric_limits<int>::min() || value > std::numeric_limits<int>::max())
      fail(field, fmt::format("= {}: out of range, must be in [{}, {}]", value, std::numeric_limits<int>::min(),
                              std::numeric_limits<int>::max()));
    return static_cast<int>(value);
  }
  int integer(const char* field, int fallback) const { return has(field) ? integer(field) : mark(field, fallback); }

  double number(const char* field, double fallback) const {
    if (!has(field)) return mark(field, fallback);
    const json& v = need(field);
    if (!v.is_number()) fail(field, "must be a number");
    return v.get<double>();
  }

  bool boolean(const char* field, bool fallback) const {
    if (!has(field)) return mark(field, fallback);
    const json& v = need(field);
    if (!v.is_boolean()) fail(field, "must be true or false");
    return v.get<bool>();
  }

  std::string string(const char* field, const std::string& fallback) const {
    if (!has(field)) return mark(field, fallback);
    const json& v = need(field);
    if (!v.is_string()) fail(field, "must be a string");
    return v.get<std::string>();
  }

  // A list of whole numbers (Qwen-MoE's mlp_only_layers); empty when absent.
  std::vector<int> integers(const char* field) const {
    read_.insert(field);
    if (!has(field)) return {};
    const json& v = object_.at(field);
    if (!v.is_array()) fail(field, "must be a list of whole numbers");
    std::vector<int> out;
    for (const json& e : v) {
      if (!e.is_number_integer()) fail(field, "must be a list of whole numbers");
      out.push_back(e.get<int>());
    }
    return out;
  }

  [[noreturn]] void fail(const char* field, const std::string& what) const {
    throw ConfigError(fmt::format("{}: field {} {}", where(text_, source_, field), field, what));
  }

  // The non-null fields of the object that nobody asked for.
  std::vector<std::string> unread() const {
    std::vector<std::string> out;
    for (const auto& [key, value] : object_.items())
      if (!value.is_null() && !read_.contains(key)) out.push_back(key);
    return out;
  }

 private:
  template <class T>
  T mark(const char* field, T fallback) const {
    read_.insert(field);
    return fallback;
  }

  const json& need(const char* field) const {
    read_.insert(field);
    if (!has(field)) fail(field, "is required");
    return object_.at(field);
  }

  const json& object_;
  std::string_view text_;
  const std::string& source_;
  mutable std::set<std::string, std::less<>> read_;
};

// The families infercost reads, by model_type and by the class name in "architectures", with the
// fields that define each one's shape: a config naming the family must carry all of them.
struct Family {
  std::string_view model_type;
  std::string_view architecture;
  std::string_view design;
  std::vector<const char*> shape_fields;
};

const std::vector<Family>& families() {
  static const std::vector<const char*> dense = {"hidden_size", "num_hidden_layers", "num_attention_heads",
                                                 "intermediate_size", "vocab_size"};
  const auto with = [](std::vector<const char*> more) {
    std::vector<const char*> all = dense;
    all.insert(all.end(), more.begin(), more.end());
    return all;
  };
  static const std::vector<Family> list = {
      {"llama", "LlamaForCausalLM", "MHA/GQA attention, dense SwiGLU FFN", dense},
      {"mistral", "MistralForCausalLM", "MHA/GQA attention, dense SwiGLU FFN", dense},
      {"qwen2", "Qwen2ForCausalLM", "MHA/GQA attention with q, k, v biases, dense SwiGLU FFN", dense},
      {"qwen3", "Qwen3ForCausalLM", "MHA/GQA attention with q/k RMSNorm, dense SwiGLU FFN", with({"head_dim"})},
      {"mixtral", "MixtralForCausalLM", "MHA/GQA attention, routed experts (no shared expert)",
       with({"num_local_experts", "num_experts_per_tok"})},
      {"deepseek_v2", "DeepseekV2ForCausalLM", "MLA attention, DeepSeekMoE (shared + routed experts)",
       with({"kv_lora_rank", "q_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim",
             "n_routed_experts", "n_shared_experts", "num_experts_per_tok", "moe_intermediate_size",
             "first_k_dense_replace"})},
      {"deepseek_v3", "DeepseekV3ForCausalLM", "MLA attention, DeepSeekMoE (shared + routed experts)",
       with({"kv_lora_rank", "q_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim",
             "n_routed_experts", "n_shared_experts", "num_experts_per_tok", "moe_intermediate_size",
             "first_k_dense_replace"})},
      {"qwen2_moe", "Qwen2MoeForCausalLM",
       "MHA/GQA attention with q, k, v biases, routed experts + one shared expert of its own width behind a "
       "sigmoid gate",
       with({"num_experts", "num_experts_per_tok", "moe_intermediate_size", "shared_expert_intermediate_size"})},
      {"qwen3_moe", "Qwen3MoeForCausalLM", "MHA/GQA attention with q/k RMSNorm, routed experts (no shared expert)",
       with({"head_dim", "num_experts", "num_experts_per_tok", "moe_intermediate_size"})},
  };
  return list;
}

const Family* find_family(std::string_view model_type) {
  for (const Family& f : families())
    if (f.model_type == model_type) return &f;
  return nullptr;
}

// Fields whose names speak of the model's shape but which infercost may leave unread, each with
// the reason it does not change what the cost model or the harness computes.
const std::set<std::string, std::less<>>& harmless_shape_fields() {
  static const std::set<std::string, std::less<>> fields = {
      "ep_size",                   // DeepSeek: expert-parallel degree of a deployment, not the model
      "num_nextn_predict_layers",  // DeepSeek-V3: the multi-token-prediction module, outside the 671B
      "max_window_layers",         // Qwen: layers that would use the sliding window when it is on
  };
  return fields;
}

// True when a field's name says it shapes the model: experts, heads, ranks, widths, layers.
bool shapes_the_model(std::string_view field) {
  for (std::string_view word : {"expert", "head", "rank", "size", "width", "dim", "lora", "moe", "group", "layer",
                                "sparse", "shared", "window", "intermediate", "hidden", "topk", "top_k", "kv",
                                "bias", "norm"})
    if (field.find(word) != std::string_view::npos) return true;
  return false;
}

AttentionConfig read_mla(const FieldReader& f) {
  AttentionConfig a;
  a.kind = AttentionKind::mla;
  a.n_heads = f.integer("num_attention_heads");
  f.integer("num_key_value_heads", a.n_heads);  // equal to the heads in DeepSeek's files; MLA ignores it
  a.n_kv_heads = a.n_heads;                     // every head has its own (decompressed) key and value
  a.q_lora_rank = f.integer("q_lora_rank", 0);
  a.kv_lora_rank = f.integer("kv_lora_rank");
  a.qk_nope_head_dim = f.integer("qk_nope_head_dim");
  a.qk_rope_head_dim = f.integer("qk_rope_head_dim");
  a.v_head_dim = f.integer("v_head_dim");
  if (f.boolean("attention_bias", false)) f.fail("attention_bias", "= true: MLA has no projection biases here");
  return a;
}

AttentionConfig read_standard(const FieldReader& f, int hidden_size, bool qkv_bias_by_default) {
  AttentionConfig a;
  a.n_heads = f.integer("num_attention_heads");
  a.n_kv_heads = f.integer("num_key_value_heads", a.n_heads);
  a.kind = standard_attention_kind(a.n_heads, a.n_kv_heads);
  if (f.has("head_dim")) {
    a.head_dim = f.integer("head_dim");
  } else {
    f.present("head_dim");
    if (a.n_heads < 1) f.fail("num_attention_heads", fmt::format("= {}: must be in [1, {}]", a.n_heads, kMaxHeads));
    if (hidden_size % a.n_heads != 0)
      f.fail("num_attention_heads", fmt::format("= {} must divide hidden_size = {} when no head_dim is given",
                                                a.n_heads, hidden_size));
    a.head_dim = hidden_size / a.n_heads;
  }
  // Qwen2 (and Qwen2-MoE) has a bias on its q, k, v projections without saying so in config.json.
  a.qkv_bias = f.boolean("attention_bias", qkv_bias_by_default);
  return a;
}

// DeepSeekMoE (V2, V3): shared experts as wide as the routed ones, group-limited routing.
MoeConfig read_deepseek_moe(const FieldReader& f) {
  MoeConfig m;
  m.n_routed_experts = f.integer("n_routed_experts");
  m.n_shared_experts = f.integer("n_shared_experts", 0);
  m.top_k = f.integer("num_experts_per_tok");
  m.expert_intermediate_size = f.integer("moe_intermediate_size");
  const std::string method = f.string("topk_method", "greedy");
  const bool grouped = method != "greedy";  // "group_limited_greedy" (V2) or "noaux_tc" (V3)
  // Plain greedy routing ignores the group fields (V2-Lite's files give n_group 1 anyway).
  const int n_group = f.integer("n_group", 1), topk_group = f.integer("topk_group", 1);
  m.n_group = grouped ? n_group : 1;
  m.topk_group = grouped ? topk_group : 1;
  const std::string scoring = f.string("scoring_func", "softmax");
  if (scoring == "softmax")
    m.router = RouterKind::softmax;
  else if (scoring == "sigmoid")
    m.router = RouterKind::sigmoid;
  else
    f.fail("scoring_func", fmt::format("= \"{}\": must be one of \"softmax\", \"sigmoid\"", scoring));
  m.norm_topk_prob = f.boolean("norm_topk_prob", false);
  m.routed_scaling_factor = f.number("routed_scaling_factor", 1.0);
  if (f.integer("moe_layer_freq", 1) != 1)
    f.fail("moe_layer_freq", "must be 1: every layer from first_k_dense_replace on is an MoE layer");
  return m;
}

// Mixtral: routed experts of width intermediate_size, softmax then renormalised, no shared expert.
MoeConfig read_mixtral_moe(const FieldReader& f, int intermediate_size) {
  MoeConfig m;
  m.n_routed_experts = f.integer("num_local_experts");
  m.top_k = f.integer("num_experts_per_tok");
  m.expert_intermediate_size = intermediate_size;
  m.norm_topk_prob = true;
  return m;
}

// Qwen2-MoE and Qwen3-MoE: softmax over num_experts, top-k; Qwen2-MoE adds one shared expert of
// width shared_expert_intermediate_size whose output a sigmoid gate scales. Every layer is MoE
// when decoder_sparse_step is 1 and mlp_only_layers is empty, the only layouts infercost models.
MoeConfig read_qwen_moe(const FieldReader& f) {
  MoeConfig m;
  m.n_routed_experts = f.integer("num_experts");
  m.top_k = f.integer("num_experts_per_tok");
  m.expert_intermediate_size = f.integer("moe_intermediate_size");
  m.norm_topk_prob = f.boolean("norm_topk_prob", false);
  if (f.has("shared_expert_intermediate_size")) {
    m.n_shared_experts = 1;
    m.shared_expert_intermediate_size = f.integer("shared_expert_intermediate_size");
    m.shared_expert_gate = true;
  } else {
    f.present("shared_expert_intermediate_size");
  }
  const int step = f.integer("decoder_sparse_step", 1);
  if (step != 1)
    f.fail("decoder_sparse_step", fmt::format("= {}: must be 1; infercost models a model whose every layer is MoE "
                                              "(or whose first layers are dense), not every {}th",
                                              step, step));
  if (!f.integers("mlp_only_layers").empty())
    f.fail("mlp_only_layers", "must be empty: infercost does not model dense layers among the MoE layers");
  return m;
}

// The MoE of a config that names no family (or an unknown one), by the fields it has.
std::optional<MoeConfig> read_moe_by_fields(const FieldReader& f, int intermediate_size) {
  if (f.has("n_routed_experts")) return read_deepseek_moe(f);
  if (f.has("num_local_experts")) return read_mixtral_moe(f, intermediate_size);
  if (f.has("num_experts")) return read_qwen_moe(f);
  return std::nullopt;
}

// The family's model_type, from "model_type" or else from the first class of "architectures";
// empty when the config names neither.
std::string named_family(const FieldReader& f, const json& j) {
  const std::string model_type = f.string("model_type", "");
  f.present("architectures");
  if (!model_type.empty() || !j.contains("architectures")) return model_type;
  const json& arch = j.at("architectures");
  if (!arch.is_array() || arch.empty() || !arch.front().is_string())
    f.fail("architectures", "must be a list of class names");
  const std::string name = arch.front().get<std::string>();
  for (const Family& fam : families())
    if (fam.architecture == name) return std::string(fam.model_type);
  return name;
}

void require_family_fields(const FieldReader& f, const Family& family) {
  for (const char* field : family.shape_fields) {
    const bool nullable = std::string_view(field) == "q_lora_rank";  // null: no query compression
    if (nullable ? !f.present(field) : !f.has(field))
      f.fail(field, fmt::format("is required: model_type \"{}\" ({}) is defined by it; without it the "
                                "config would be read as another model",
                                family.model_type, family.design));
  }
}

void read_layers(const FieldReader& f, const Family* family, ModelConfig& c) {
  const std::string_view type = family ? family->model_type : "";
  const bool qwen2_like = type == "qwen2" || type == "qwen2_moe";
  const bool qwen3_like = type == "qwen3" || type == "qwen3_moe";
  if (type == "deepseek_v2" || type == "deepseek_v3" || (!family && f.has("kv_lora_rank")))
    c.attention = read_mla(f);
  else
    c.attention = read_standard(f, c.hidden_size, qwen2_like);
  c.attention.qk_norm = qwen3_like;
  if (type == "deepseek_v2" || type == "deepseek_v3")
    c.moe = read_deepseek_moe(f);
  else if (type == "mixtral")
    c.moe = read_mixtral_moe(f, c.intermediate_size);
  else if (type == "qwen2_moe" || type == "qwen3_moe")
    c.moe = read_qwen_moe(f);
  else if (!family)
    c.moe = read_moe_by_fields(f, c.intermediate_size);
  c.first_k_dense_replace = c.moe ? f.integer("first_k_dense_replace", 0) : 0;
}

// Sliding-window attention bounds the cache, which the cost model does not model: accepted only
// when it is off (Qwen's use_sliding_window false) or absent (null).
void require_no_sliding_window(const FieldReader& f) {
  const bool on = f.boolean("use_sliding_window", true);
  if (on && f.has("sliding_window"))
    f.fail("sliding_window", "is set: infercost does not model sliding-window attention (its cache stops "
                             "growing at the window)");
  f.present("sliding_window");
  const std::string act = f.string("hidden_act", "silu");
  if (act != "silu") f.fail("hidden_act", fmt::format("= \"{}\": the FFN is SwiGLU, so it must be \"silu\"", act));
  if (f.boolean("mlp_bias", false)) f.fail("mlp_bias", "= true: infercost's SwiGLU FFN has no biases");
}

// A field about the model's shape that nothing read: refused, naming it, since ignoring it would
// make the config another model.
void refuse_unread_shape_fields(const FieldReader& f, const std::string& family, bool known) {
  std::vector<std::string> unread;
  for (const std::string& field : f.unread())
    if (shapes_the_model(field) && !harmless_shape_fields().contains(field)) unread.push_back(field);
  if (unread.empty()) return;
  if (!family.empty() && !known)
    f.fail(unread.front().c_str(),
           fmt::format("shapes the model but is not understood, and model_type \"{}\" is not a family infercost "
                       "knows ({}); fields not understood: {}",
                       family, fmt::join(known_families(), ", "), fmt::join(unread, ", ")));
  f.fail(unread.front().c_str(),
         fmt::format("shapes the model but infercost does not read it{}; fields not understood: {}",
                     family.empty() ? "" : fmt::format(" for model_type \"{}\"", family), fmt::join(unread, ", ")));
}

// The JSON library refuses a number it cannot hold (1e400) with an out_of_range error naming the
// number only: find it in the text and name the field it belongs to.
std::string field_of_literal(std::string_view text, std::string_view literal) {
  const std::size_t at = text.find(literal);
  if (literal.empty() || at == std::string_view::npos) return {};
  const std::size_t colon = text.rfind(':', at);
  if (colon == std::string_view::npos) return {};
  const std::size_t close = text.rfind('"', colon);
  if (close == std::string_view::npos || close == 0) return {};
  const std::size_t open = text.rfind('"', close - 1);
  return open == std::string_view::npos ? std::string() : std::string(text.substr(open + 1, close - open - 1));
}

json parse_json(std::string_view text, const std::string& source) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    throw ConfigError(fmt::format("{}:{}: malformed JSON: {}", source, line_of(text, e.byte == 0 ? 0 : e.byte - 1),
                                  e.what()));
  } catch (const json::exception& e) {
    const std::string message = e.what();
    const std::size_t open = message.find('\''), close = message.rfind('\'');
    const std::string literal = open < close ? message.substr(open + 1, close - open - 1) : std::string();
    const std::string field = field_of_literal(text, literal);
    if (field.empty()) throw ConfigError(fmt::format("{}: a number cannot be represented: {}", source, message));
    throw ConfigError(fmt::format("{}: field {} = {}: out of the range of a number (must be a finite number "
                                  "below 1.8e308)",
                                  where(text, source, field), field, literal));
  }
}

}  // namespace

std::vector<std::string> known_families() {
  std::vector<std::string> names;
  for (const Family& f : families()) names.emplace_back(f.model_type);
  return names;
}

std::string design_summary(const ModelConfig& m) {
  if (const Family* f = find_family(m.family)) return fmt::format("model_type {}: {}", m.family, f->design);
  const std::string attention = m.attention.kind == AttentionKind::mla ? "MLA attention" : "MHA/GQA attention";
  std::string ffn = "dense SwiGLU FFN";
  if (m.moe)
    ffn = m.moe->n_shared_experts == 0 ? "routed experts (no shared expert)"
          : m.moe->shared_expert_gate  ? "routed experts + a gated shared expert of its own width"
                                       : "DeepSeekMoE (shared + routed experts)";
  return fmt::format("{}: read by its fields as {}, {}",
                     m.family.empty() ? "no model_type" : fmt::format("model_type {} (not a known family)", m.family),
                     attention, ffn);
}

void require_runnable(const ModelConfig& m) {
  if (m.attention.qk_norm)
    throw ConfigError(fmt::format("{}: run cannot measure this model: its RMSNorm on every query and key head "
                                  "(Qwen3) is not in infercost's attention layers; `infercost cost` models it",
                                  m.name));
  if (m.moe && (m.moe->shared_expert_gate || m.moe->shared_expert_width() != m.moe->expert_intermediate_size))
    throw ConfigError(fmt::format("{}: run cannot measure this model: its shared expert (width {}, behind a "
                                  "sigmoid gate) is not in infercost's MoE layer, whose shared experts are as wide "
                                  "as the routed ones ({}) and ungated; `infercost cost` models it",
                                  m.name, m.moe->shared_expert_width(), m.moe->expert_intermediate_size));
}

ModelConfig parse_model_config(std::string_view text, const std::string& source) {
  const json j = parse_json(text, source);
  if (!j.is_object()) throw ConfigError(fmt::format("{}: expected a JSON object", source));
  const FieldReader f(j, text, source);

  ModelConfig c;
  c.name = source;
  c.family = named_family(f, j);
  const Family* family = find_family(c.family);
  if (family) require_family_fields(f, *family);
  c.hidden_size = f.integer("hidden_size");
  c.num_layers = f.integer("num_hidden_layers");
  c.vocab_size = f.integer("vocab_size");
  c.max_position_embeddings = f.integer("max_position_embeddings", 4096);
  c.rms_norm_eps = f.number("rms_norm_eps", 1e-6);
  c.rope_theta = f.number("rope_theta", 10000.0);
  c.tie_word_embeddings = f.boolean("tie_word_embeddings", false);
  c.intermediate_size = f.integer("intermediate_size", 0);
  read_layers(f, family, c);
  require_no_sliding_window(f);
  refuse_unread_shape_fields(f, c.family, family != nullptr);
  try {
    validate(c);
  } catch (const ConfigError& e) {
    throw ConfigError(fmt::format("{}: {}", source, e.what()));
  }
  return c;
}

ModelConfig load_model_config(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(fmt::format("{}: cannot open the file", path.string()));
  std::stringstream buffer;
  buffer << in.rdbuf();
  ModelConfig c = parse_model_config(buffer.str(), path.string());
  c.name = path.stem().string();
  return c;
}

ModelConfig resolve_model(const std::string& name_or_path) {
  if (auto preset = find_preset(name_or_path)) return *preset;
  if (std::filesystem::exists(name_or_path)) return load_model_config(name_or_path);
  throw ConfigError(fmt::format("model \"{}\" is neither a preset ({}) nor a config.json file", name_or_path,
                                fmt::join(preset_names(), ", ")));
}

}  // namespace infercost
