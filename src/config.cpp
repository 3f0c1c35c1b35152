// Validation and loading of model configs. Field names in messages are those of the public
// HuggingFace config.json files, so a user can find the line to fix.
#include "infercost/config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
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

// Reads the fields of one JSON object, naming the source, the field and its line in every error.
class FieldReader {
 public:
  FieldReader(const json& object, std::string_view text, const std::string& source)
      : object_(object), text_(text), source_(source) {}

  bool has(const char* field) const { return object_.contains(field) && !object_.at(field).is_null(); }

  int integer(const char* field) const {
    const json& v = need(field);
    if (!v.is_number_integer()) fail(field, "must be an integer");
    const auto value = v.get<long long>();
    if (value < std::numeric_limits<int>::min() || value > std::numeric_limits<int>::max())
      fail(field, "is out of the range of a 32-bit integer");
    return static_cast<int>(value);
  }
  int integer(const char* field, int fallback) const { return has(field) ? integer(field) : fallback; }

  double number(const char* field, double fallback) const {
    if (!has(field)) return fallback;
    const json& v = object_.at(field);
    if (!v.is_number()) fail(field, "must be a number");
    return v.get<double>();
  }

  bool boolean(const char* field, bool fallback) const {
    if (!has(field)) return fallback;
    const json& v = object_.at(field);
    if (!v.is_boolean()) fail(field, "must be true or false");
    return v.get<bool>();
  }

  std::string string(const char* field, const std::string& fallback) const {
    if (!has(field)) return fallback;
    const json& v = object_.at(field);
    if (!v.is_string()) fail(field, "must be a string");
    return v.get<std::string>();
  }

  [[noreturn]] void fail(const char* field, const std::string& what) const {
    const std::string key = fmt::format("\"{}\"", field);
    const std::size_t at = text_.find(key);
    const std::string where =
        at == std::string_view::npos ? source_ : fmt::format("{}:{}", source_, line_of(text_, at));
    throw ConfigError(fmt::format("{}: field {} {}", where, field, what));
  }

 private:
  const json& need(const char* field) const {
    if (!has(field)) fail(field, "is required");
    return object_.at(field);
  }

  const json& object_;
  std::string_view text_;
  const std::string& source_;
};

AttentionConfig read_attention(const FieldReader& f, int hidden_size, const std::string& model_type) {
  AttentionConfig a;
  a.n_heads = f.integer("num_attention_heads");
  a.n_kv_heads = f.integer("num_key_value_heads", a.n_heads);
  if (f.has("kv_lora_rank")) {
    a.kind = AttentionKind::mla;
    a.n_kv_heads = a.n_heads;  // every head has its own (decompressed) key and value
    a.q_lora_rank = f.integer("q_lora_rank", 0);
    a.kv_lora_rank = f.integer("kv_lora_rank");
    a.qk_nope_head_dim = f.integer("qk_nope_head_dim");
    a.qk_rope_head_dim = f.integer("qk_rope_head_dim");
    a.v_head_dim = f.integer("v_head_dim");
    return a;
  }
  a.kind = standard_attention_kind(a.n_heads, a.n_kv_heads);
  if (f.has("head_dim")) {
    a.head_dim = f.integer("head_dim");
  } else {
    if (a.n_heads < 1) f.fail("num_attention_heads", fmt::format("= {}: must be in [1, {}]", a.n_heads, kMaxHeads));
    if (hidden_size % a.n_heads != 0)
      f.fail("num_attention_heads", fmt::format("= {} must divide hidden_size = {} when no head_dim is given",
                                                a.n_heads, hidden_size));
    a.head_dim = hidden_size / a.n_heads;
  }
  // Qwen2 has a bias on its q, k, v projections without saying so in config.json.
  a.qkv_bias = f.boolean("attention_bias", model_type == "qwen2");
  return a;
}

std::optional<MoeConfig> read_moe(const FieldReader& f, int intermediate_size) {
  MoeConfig m;
  if (f.has("n_routed_experts")) {  // DeepSeekMoE (V2, V3)
    m.n_routed_experts = f.integer("n_routed_experts");
    m.n_shared_experts = f.integer("n_shared_experts", 0);
    m.top_k = f.integer("num_experts_per_tok");
    m.expert_intermediate_size = f.integer("moe_intermediate_size");
    const std::string method = f.string("topk_method", "greedy");
    const bool grouped = method != "greedy";  // "group_limited_greedy" (V2) or "noaux_tc" (V3)
    m.n_group = grouped ? f.integer("n_group", 1) : 1;
    m.topk_group = grouped ? f.integer("topk_group", 1) : 1;
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
  if (f.has("num_local_experts")) {  // Mixtral: routed experts only, softmax then renormalised
    m.n_routed_experts = f.integer("num_local_experts");
    m.top_k = f.integer("num_experts_per_tok");
    m.expert_intermediate_size = intermediate_size;
    m.norm_topk_prob = true;
    return m;
  }
  return std::nullopt;
}

}  // namespace

ModelConfig parse_model_config(std::string_view text, const std::string& source) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw ConfigError(fmt::format("{}:{}: malformed JSON: {}", source, line_of(text, e.byte == 0 ? 0 : e.byte - 1),
                                  e.what()));
  }
  if (!j.is_object()) throw ConfigError(fmt::format("{}: expected a JSON object", source));
  const FieldReader f(j, text, source);

  ModelConfig c;
  c.name = source;
  c.hidden_size = f.integer("hidden_size");
  c.num_layers = f.integer("num_hidden_layers");
  c.vocab_size = f.integer("vocab_size");
  c.max_position_embeddings = f.integer("max_position_embeddings", 4096);
  c.rms_norm_eps = f.number("rms_norm_eps", 1e-6);
  c.rope_theta = f.number("rope_theta", 10000.0);
  c.tie_word_embeddings = f.boolean("tie_word_embeddings", false);
  c.intermediate_size = f.integer("intermediate_size", 0);
  c.attention = read_attention(f, c.hidden_size, f.string("model_type", ""));
  c.moe = read_moe(f, c.intermediate_size);
  if (c.moe) c.first_k_dense_replace = f.integer("first_k_dense_replace", 0);
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
