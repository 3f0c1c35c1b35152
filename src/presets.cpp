// The built-in model shapes. Each published preset copies the architecture fields of the model's
// public HuggingFace config.json (source in the comment above it); tests/data holds copies of
// some of those files, and a test checks that each loads to its preset.
#include <algorithm>

#include "infercost/config.hpp"

namespace infercost {
namespace {

AttentionConfig standard_attention(int n_heads, int n_kv_heads, int head_dim) {
  AttentionConfig a;
  a.kind = standard_attention_kind(n_heads, n_kv_heads);
  a.n_heads = n_heads;
  a.n_kv_heads = n_kv_heads;
  a.head_dim = head_dim;
  return a;
}

AttentionConfig mla_attention(int n_heads, int q_lora_rank, int kv_lora_rank, int qk_nope, int qk_rope, int v_dim) {
  AttentionConfig a;
  a.kind = AttentionKind::mla;
  a.n_heads = a.n_kv_heads = n_heads;
  a.q_lora_rank = q_lora_rank;
  a.kv_lora_rank = kv_lora_rank;
  a.qk_nope_head_dim = qk_nope;
  a.qk_rope_head_dim = qk_rope;
  a.v_head_dim = v_dim;
  return a;
}

// Llama-architecture dense models (Llama 3.1, Qwen2.5, DeepSeek LLM).
ModelConfig dense_model(std::string name, int hidden, int layers, int heads, int kv_heads, int intermediate,
                        int vocab, int max_positions, double eps, double theta) {
  ModelConfig c;
  c.name = std::move(name);
  c.family = "llama";
  c.hidden_size = hidden;
  c.num_layers = layers;
  c.vocab_size = vocab;
  c.max_position_embeddings = max_positions;
  c.rms_norm_eps = eps;
  c.rope_theta = theta;
  c.attention = standard_attention(heads, kv_heads, hidden / heads);
  c.intermediate_size = intermediate;
  return c;
}

std::vector<ModelConfig> build_presets() {
  std::vector<ModelConfig> presets;

  // deepseek-ai/DeepSeek-V3 config.json (copy: tests/data/deepseek-v3.json). topk_method
  // "noaux_tc": sigmoid scores, selection bias, groups ranked by their two best experts.
  {
    ModelConfig c;
    c.name = "deepseek-v3";
    c.family = "deepseek_v3";
    c.hidden_size = 7168;
    c.num_layers = 61;
    c.vocab_size = 129280;
    c.max_position_embeddings = 163840;
    c.rms_norm_eps = 1e-6;
    c.rope_theta = 10000;
    c.attention = mla_attention(128, 1536, 512, 128, 64, 128);
    c.intermediate_size = 18432;
    c.moe = MoeConfig{.n_routed_experts = 256, .n_shared_experts = 1, .top_k = 8, .expert_intermediate_size = 2048,
                      .n_group = 8, .topk_group = 4, .router = RouterKind::sigmoid, .norm_topk_prob = true,
                      .routed_scaling_factor = 2.5};
    c.first_k_dense_replace = 3;
    presets.push_back(c);
  }
  // deepseek-ai/DeepSeek-V2 config.json (copy: tests/data/deepseek-v2.json). topk_method
  // "group_limited_greedy": softmax scores, groups ranked by their best expert.
  {
    ModelConfig c;
    c.name = "deepseek-v2";
    c.family = "deepseek_v2";
    c.hidden_size = 5120;
    c.num_layers = 60;
    c.vocab_size = 102400;
    c.max_position_embeddings = 163840;
    c.rms_norm_eps = 1e-6;
    c.rope_theta = 10000;
    c.attention = mla_attention(128, 1536, 512, 128, 64, 128);
    c.intermediate_size = 12288;
    c.moe = MoeConfig{.n_routed_experts = 160, .n_shared_experts = 2, .top_k = 6, .expert_intermediate_size = 1536,
                      .n_group = 8, .topk_group = 3, .router = RouterKind::softmax, .norm_topk_prob = false,
                      .routed_scaling_factor = 16.0};
    c.first_k_dense_replace = 1;
    presets.push_back(c);
  }
  // deepseek-ai/DeepSeek-V2-Lite config.json: no query compression (q_lora_rank null), 64 routed
  // experts, topk_method "greedy" (no group limit). The same fields appear in Megatron-Bridge's
  // DeepSeek-V2-Lite recipe; no verbatim copy of the file was found (tests/data/SOURCES.md).
  {
    ModelConfig c;
    c.name = "deepseek-v2-lite";
    c.family = "deepseek_v2";
    c.hidden_size = 2048;
    c.num_layers = 27;
    c.vocab_size = 102400;
    c.max_position_embeddings = 163840;
    c.rms_norm_eps = 1e-6;
    c.rope_theta = 10000;
    c.attention = mla_attention(16, 0, 512, 128, 64, 128);
    c.intermediate_size = 10944;
    c.moe = MoeConfig{.n_routed_experts = 64, .n_shared_experts = 2, .top_k = 6, .expert_intermediate_size = 1408,
                      .n_group = 1, .topk_group = 1, .router = RouterKind::softmax, .norm_topk_prob = false,
                      .routed_scaling_factor = 1.0};
    c.first_k_dense_replace = 1;
    presets.push_back(c);
  }
  // deepseek-ai/deepseek-llm-67b-base config.json (LlamaForCausalLM): 95 layers, GQA with 8 KV
  // heads; the DeepSeek LLM paper (arXiv 2401.02954, Table 2) gives the same shape. The baseline
  // of DeepSeek-V2's "93.3% smaller KV cache".
  presets.push_back(dense_model("deepseek-llm-67b", 8192, 95, 64, 8, 22016, 102400, 4096, 1e-6, 10000));
  // meta-llama/Meta-Llama-3.1-{8B,70B,405B} config.json (copies: tests/data/llama-3.1-*.json).
  presets.push_back(dense_model("llama-3.1-8b", 4096, 32, 32, 8, 14336, 128256, 131072, 1e-5, 500000));
  presets.push_back(dense_model("llama-3.1-70b", 8192, 80, 64, 8, 28672, 128256, 131072, 1e-5, 500000));
  presets.push_back(dense_model("llama-3.1-405b", 16384, 126, 128, 8, 53248, 128256, 131072, 1e-5, 500000));
  // Qwen/Qwen2.5-72B config.json (copy: tests/data/qwen2.5-72b.json); q, k, v carry a bias.
  {
    ModelConfig c = dense_model("qwen2.5-72b", 8192, 80, 64, 8, 29568, 152064, 131072, 1e-5, 1000000);
    c.family = "qwen2";
    c.attention.qkv_bias = true;
    presets.push_back(c);
  }
  // mistralai/Mixtral-8x7B-v0.1 config.json (copy: tests/data/mixtral-8x7b.json): 8 experts
  // of width intermediate_size, top-2, softmax renormalised over the two, no shared expert.
  {
    ModelConfig c = dense_model("mixtral-8x7b", 4096, 32, 32, 8, 14336, 32000, 32768, 1e-5, 1000000);
    c.family = "mixtral";
    c.moe = MoeConfig{.n_routed_experts = 8, .n_shared_experts = 0, .top_k = 2, .expert_intermediate_size = 14336,
                      .n_group = 1, .topk_group = 1, .router = RouterKind::softmax, .norm_topk_prob = true,
                      .routed_scaling_factor = 1.0};
    presets.push_back(c);
  }

  // The default pair, whose blocks run here in seconds (the harness measures one block and scales
  // by the depth). "small-mla" is DeepSeek-V2-Lite itself, the DeepSeek design (MLA + DeepSeekMoE);
  // "small-gqa" is the classic design at the same width, depth and vocabulary: GQA with Llama 3's
  // 4 query heads per KV head and, in every layer, the dense SwiGLU FFN of V2-Lite's first layer
  // (width 10944, close to the 8 × 1408 = 11264 its MoE activates: 2 shared + 6 routed experts).
  {
    ModelConfig c = presets[2];  // deepseek-v2-lite
    c.name = "small-mla";
    presets.push_back(c);
    presets.push_back(dense_model("small-gqa", 2048, 27, 16, 4, 10944, 102400, 163840, 1e-6, 10000));
  }
  // "tiny": a two-layer DeepSeek-V3-style model (one dense layer, then MLA + sigmoid-routed,
  // group-limited MoE) with odd widths, for tests.
  {
    ModelConfig c;
    c.name = "tiny";
    c.hidden_size = 40;
    c.num_layers = 2;
    c.vocab_size = 97;
    c.max_position_embeddings = 256;
    c.rms_norm_eps = 1e-6;
    c.rope_theta = 10000;
    c.attention = mla_attention(4, 12, 10, 6, 4, 7);
    c.intermediate_size = 52;
    c.moe = MoeConfig{.n_routed_experts = 8, .n_shared_experts = 1, .top_k = 3, .expert_intermediate_size = 13,
                      .n_group = 4, .topk_group = 2, .router = RouterKind::sigmoid, .norm_topk_prob = true,
                      .routed_scaling_factor = 2.5};
    c.first_k_dense_replace = 1;
    presets.push_back(c);
    // "tiny-gqa": the same with GQA attention (4 query heads over 2 KV heads of 10), to pair
    // the classic attention with either FFN in tests and benches.
    c.name = "tiny-gqa";
    c.attention = standard_attention(4, 2, 10);
    presets.push_back(c);
  }
  return presets;
}

const std::vector<ModelConfig>& presets() {
  static const std::vector<ModelConfig> all = [] {
    auto p = build_presets();
    for (const auto& c : p) validate(c);
    return p;
  }();
  return all;
}

}  // namespace

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const auto& c : presets()) names.push_back(c.name);
  return names;
}

std::optional<ModelConfig> find_preset(std::string_view name) {
  const auto& all = presets();
  const auto it = std::find_if(all.begin(), all.end(), [&](const ModelConfig& c) { return c.name == name; });
  if (it == all.end()) return std::nullopt;
  return *it;
}

}  // namespace infercost
