// Configs: presets, loading the public config.json files, and every refusal.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <algorithm>
#include <string>

#include <nlohmann/json.hpp>

#include "infercost/config.hpp"
#include "support/cli.hpp"

namespace infercost {
namespace {

const std::filesystem::path kData = INFERCOST_TEST_DATA_DIR;

// Expects `f` to throw a ConfigError whose message contains every one of `needles`.
void expect_refused(const std::function<void()>& f, std::initializer_list<std::string> needles) {
  try {
    f();
    ADD_FAILURE() << "accepted a config that should be refused";
  } catch (const ConfigError& e) {
    for (const auto& needle : needles)
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << "message: " << e.what() << "\nmissing: " << needle;
  }
}

ModelConfig preset(const char* name) {
  auto c = find_preset(name);
  if (!c) throw std::runtime_error(std::string("no preset ") + name);
  return *c;
}

// ---------------------------------------------------------------------------------------------
// Presets and the public files.

TEST(Config, EveryPresetValidates) {
  const auto names = preset_names();
  EXPECT_GE(names.size(), 12u);
  for (const auto& name : names) EXPECT_NO_THROW(validate(preset(name.c_str()))) << name;
}

TEST(Config, RequiredPresetsExist) {
  for (const char* name : {"deepseek-v2", "deepseek-v2-lite", "deepseek-v3", "deepseek-llm-67b", "llama-3.1-8b",
                           "llama-3.1-70b", "llama-3.1-405b", "qwen2.5-72b", "mixtral-8x7b", "tiny", "small-mla",
                           "small-gqa"})
    EXPECT_TRUE(find_preset(name).has_value()) << name;
  EXPECT_FALSE(find_preset("no-such-model").has_value());
}

class PublicConfig : public ::testing::TestWithParam<const char*> {};

// Each committed copy of a public config.json (tests/data/SOURCES.md says where from) loads to
// exactly the preset of the same name.
TEST_P(PublicConfig, LoadsToItsPreset) {
  const std::string name = GetParam();
  ModelConfig loaded = load_model_config(kData / (name + ".json"));
  EXPECT_EQ(loaded.name, name);
  EXPECT_TRUE(loaded == preset(name.c_str())) << name << " differs from its preset";
}

INSTANTIATE_TEST_SUITE_P(Presets, PublicConfig,
                         ::testing::Values("deepseek-v2", "deepseek-v3", "llama-3.1-8b", "llama-3.1-70b",
                                           "llama-3.1-405b", "qwen2.5-72b", "mixtral-8x7b"),
                         [](const auto& param_info) {
                           std::string s = param_info.param;
                           for (char& ch : s)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return s;
                         });

TEST(Config, ReadsTheFieldsThatMatter) {
  const ModelConfig v3 = load_model_config(kData / "deepseek-v3.json");
  EXPECT_EQ(v3.attention.kind, AttentionKind::mla);
  EXPECT_EQ(v3.attention.kv_lora_rank, 512);
  ASSERT_TRUE(v3.moe);
  EXPECT_EQ(v3.moe->router, RouterKind::sigmoid);
  EXPECT_EQ(v3.num_moe_layers(), 58);
  const ModelConfig mixtral = load_model_config(kData / "mixtral-8x7b.json");
  ASSERT_TRUE(mixtral.moe);
  EXPECT_EQ(mixtral.moe->n_shared_experts, 0);
  EXPECT_EQ(mixtral.moe->expert_intermediate_size, 14336);
  EXPECT_EQ(mixtral.num_dense_layers(), 0);
  const ModelConfig llama = load_model_config(kData / "llama-3.1-8b.json");
  EXPECT_EQ(llama.attention.kind, AttentionKind::gqa);
  EXPECT_EQ(llama.attention.head_dim, 128);
  EXPECT_FALSE(llama.moe);
}

TEST(Config, ResolveTakesPresetOrPath) {
  EXPECT_EQ(resolve_model("tiny").name, "tiny");
  EXPECT_EQ(resolve_model((kData / "llama-3.1-8b.json").string()).hidden_size, 4096);
  expect_refused([] { resolve_model("gpt-5"); }, {"gpt-5", "deepseek-v3"});
}

// ---------------------------------------------------------------------------------------------
// Malformed files: the line and the field.

TEST(ConfigFile, MalformedJsonNamesTheLine) {
  expect_refused([] { parse_model_config("{\n  \"hidden_size\": 64,\n  \"num_hidden_layers\": ,\n}", "bad.json"); },
                 {"bad.json:3", "malformed JSON"});
}

TEST(ConfigFile, WrongTypeNamesFieldAndLine) {
  expect_refused(
      [] {
        parse_model_config("{\n  \"hidden_size\": \"4096\",\n  \"num_hidden_layers\": 2\n}", "typed.json");
      },
      {"typed.json:2", "hidden_size", "integer"});
}

TEST(ConfigFile, MissingRequiredField) {
  expect_refused([] { parse_model_config(R"({"hidden_size": 64, "num_hidden_layers": 2})", "m.json"); },
                 {"vocab_size", "required"});
}

TEST(ConfigFile, MissingFileIsRefused) {
  expect_refused([] { load_model_config("/nonexistent/config.json"); }, {"/nonexistent/config.json", "cannot open"});
}

TEST(ConfigFile, UnknownFieldsAreIgnored) {
  const auto c = parse_model_config(
      R"({"hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 10, "num_attention_heads": 4,
          "intermediate_size": 96, "some_future_field": {"x": [1, 2]}})");
  EXPECT_EQ(c.attention.head_dim, 16);
  EXPECT_EQ(c.attention.kind, AttentionKind::mha);
}

// A small valid file, edited one field at a time below.
std::string llama_like(const std::string& extra) {
  return R"({"hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 10, "num_attention_heads": 4,
             "num_key_value_heads": 2, "intermediate_size": 96)" +
         extra + "}";
}

TEST(ConfigFile, HeadsMustDivideWidthWithoutHeadDim) {
  expect_refused([] { parse_model_config(R"({"hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 10,
                                             "num_attention_heads": 6, "intermediate_size": 96})"); },
                 {"num_attention_heads", "6", "hidden_size = 64"});
  // With an explicit head_dim the width need not divide.
  EXPECT_NO_THROW(parse_model_config(R"({"hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 10,
                                         "num_attention_heads": 6, "head_dim": 16, "intermediate_size": 96})"));
}

TEST(ConfigFile, UnknownScoringFunction) {
  expect_refused(
      [] {
        parse_model_config(llama_like(R"(, "n_routed_experts": 8, "num_experts_per_tok": 2,
                                         "moe_intermediate_size": 16, "scoring_func": "relu")"));
      },
      {"scoring_func", "relu", "softmax", "sigmoid"});
}

TEST(ConfigFile, ZeroOrNegativeSizes) {
  expect_refused([] { parse_model_config(llama_like(R"(, "n_routed_experts": 0, "num_experts_per_tok": 1,
                                                     "moe_intermediate_size": 16)")); },
                 {"n_routed_experts = 0", "[1, "});
  expect_refused([] { parse_model_config(R"({"hidden_size": -8, "num_hidden_layers": 2, "vocab_size": 10,
                                             "num_attention_heads": 4, "head_dim": 16, "intermediate_size": 96})"); },
                 {"hidden_size = -8", "[1,"});
}

// ---------------------------------------------------------------------------------------------
// Refusals of validate(), one per rule, each naming the field and the allowed range.

ModelConfig valid_gqa() { return preset("small-gqa"); }
ModelConfig valid_mla_moe() { return preset("tiny"); }

TEST(ConfigRefusal, ZeroHiddenSize) {
  auto c = valid_gqa();
  c.hidden_size = 0;
  expect_refused([&] { validate(c); }, {"hidden_size = 0", "[1, "});
}

TEST(ConfigRefusal, NegativeLayers) {
  auto c = valid_gqa();
  c.num_layers = -3;
  expect_refused([&] { validate(c); }, {"num_hidden_layers = -3", "[1, "});
}

TEST(ConfigRefusal, ZeroVocab) {
  auto c = valid_gqa();
  c.vocab_size = 0;
  expect_refused([&] { validate(c); }, {"vocab_size = 0"});
}

TEST(ConfigRefusal, KvHeadsMustDivideHeads) {
  auto c = valid_gqa();
  c.attention.n_kv_heads = 5;
  expect_refused([&] { validate(c); }, {"num_key_value_heads = 5", "divide num_attention_heads = 16"});
}

TEST(ConfigRefusal, KvHeadsAboveHeads) {
  auto c = valid_gqa();
  c.attention.n_kv_heads = 32;
  expect_refused([&] { validate(c); }, {"num_key_value_heads = 32", "[1, 16]"});
}

TEST(ConfigRefusal, OddHeadDim) {
  auto c = valid_gqa();
  c.attention.head_dim = 127;
  expect_refused([&] { validate(c); }, {"head_dim = 127", "even"});
}

TEST(ConfigRefusal, KindMustMatchHeads) {
  auto c = valid_gqa();
  c.attention.kind = AttentionKind::mha;
  expect_refused([&] { validate(c); }, {"MHA", "GQA"});
}

TEST(ConfigRefusal, MlaRanks) {
  auto c = valid_mla_moe();
  c.attention.kv_lora_rank = 0;
  expect_refused([&] { validate(c); }, {"kv_lora_rank = 0", "[1, "});
  c = valid_mla_moe();
  c.attention.qk_rope_head_dim = 5;
  expect_refused([&] { validate(c); }, {"qk_rope_head_dim = 5", "even"});
  c = valid_mla_moe();
  c.attention.q_lora_rank = -1;
  expect_refused([&] { validate(c); }, {"q_lora_rank = -1", "[0, "});
  c = valid_mla_moe();
  c.attention.v_head_dim = 0;
  expect_refused([&] { validate(c); }, {"v_head_dim = 0"});
}

TEST(ConfigRefusal, TopKAboveRoutedExperts) {
  auto c = valid_mla_moe();
  c.moe->top_k = 9;
  expect_refused([&] { validate(c); }, {"num_experts_per_tok = 9", "[1, 8]"});
}

TEST(ConfigRefusal, TopKAboveExpertsInKeptGroups) {
  auto c = valid_mla_moe();  // 8 experts in 4 groups of 2, 2 groups kept: at most 4 selectable
  c.moe->top_k = 5;
  expect_refused([&] { validate(c); }, {"num_experts_per_tok = 5", "[1, 4]", "topk_group = 2"});
}

TEST(ConfigRefusal, TopkGroupAboveGroups) {
  auto c = valid_mla_moe();
  c.moe->topk_group = 5;
  expect_refused([&] { validate(c); }, {"topk_group = 5", "[1, 4]"});
}

TEST(ConfigRefusal, ExpertsNotDivisibleIntoGroups) {
  auto c = valid_mla_moe();
  c.moe->n_group = 3;
  c.moe->topk_group = 1;
  expect_refused([&] { validate(c); }, {"n_group = 3", "divide n_routed_experts = 8"});
}

TEST(ConfigRefusal, SigmoidGroupsNeedTwoExperts) {
  auto c = valid_mla_moe();
  c.moe->n_group = 8;
  c.moe->topk_group = 3;
  expect_refused([&] { validate(c); }, {"n_group = 8", "two best"});
}

TEST(ConfigRefusal, ZeroExpertWidth) {
  auto c = valid_mla_moe();
  c.moe->expert_intermediate_size = 0;
  expect_refused([&] { validate(c); }, {"moe_intermediate_size = 0"});
}

TEST(ConfigRefusal, NegativeSharedExperts) {
  auto c = valid_mla_moe();
  c.moe->n_shared_experts = -1;
  expect_refused([&] { validate(c); }, {"n_shared_experts = -1", "[0, "});
}

TEST(ConfigRefusal, NonPositiveScalingFactor) {
  auto c = valid_mla_moe();
  c.moe->routed_scaling_factor = 0.0;
  expect_refused([&] { validate(c); }, {"routed_scaling_factor", "> 0"});
}

TEST(ConfigRefusal, DenseLayersAboveLayerCount) {
  auto c = valid_mla_moe();
  c.first_k_dense_replace = 3;
  expect_refused([&] { validate(c); }, {"first_k_dense_replace = 3", "[0, 2]"});
}

TEST(ConfigRefusal, DenseLayersNeedIntermediateSize) {
  auto c = valid_gqa();
  c.intermediate_size = 0;
  expect_refused([&] { validate(c); }, {"intermediate_size = 0"});
}

TEST(ConfigRefusal, NormEpsilonAndRopeTheta) {
  auto c = valid_gqa();
  c.rms_norm_eps = 0.0;
  expect_refused([&] { validate(c); }, {"rms_norm_eps"});
  c = valid_gqa();
  c.rope_theta = -1.0;
  expect_refused([&] { validate(c); }, {"rope_theta"});
}

// ---------------------------------------------------------------------------------------------
// A config can never silently become another model (issue 12).

std::string read_data(const std::string& file) {
  std::ifstream in(kData / file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The text of tests/data/`file` with the line holding "field" removed (each field of the public
// files is on a line of its own and none is the last).
std::string drop_line(const std::string& text, const std::string& field) {
  const std::size_t at = text.find("\"" + field + "\"");
  if (at == std::string::npos) throw std::runtime_error(field + " is not in the text");
  const std::size_t start = text.rfind('\n', at), end = text.find('\n', at);
  return text.substr(0, start) + text.substr(end);
}
std::string without_field(const std::string& file, const std::string& field) {
  return drop_line(read_data(file), field);
}

// Each field that defines DeepSeek-V3's shape, removed: before, the file loaded as MHA with head
// dim 56, as a dense 37.4B model, or without query compression (678.8B), all with exit 0.
TEST(ConfigFamily, DeepSeekWithoutItsShapeFieldsIsRefused) {
  for (const char* field : {"kv_lora_rank", "n_routed_experts", "q_lora_rank", "qk_rope_head_dim",
                            "moe_intermediate_size", "n_shared_experts", "first_k_dense_replace"})
    expect_refused([&] { parse_model_config(without_field("deepseek-v3.json", field), "v3.json"); },
                   {field, "required", "deepseek_v3"});
  // V2-Lite's "q_lora_rank": null (no query compression) still counts as given.
  std::string lite = read_data("deepseek-v2.json");
  lite.replace(lite.find("\"q_lora_rank\": 1536"), 19, "\"q_lora_rank\": null");
  EXPECT_EQ(parse_model_config(lite).attention.q_lora_rank, 0);
}

TEST(ConfigFamily, MixtralAndQwenMoeWithoutExpertsAreRefused) {
  expect_refused([] { parse_model_config(without_field("mixtral-8x7b.json", "num_local_experts")); },
                 {"num_local_experts", "required", "mixtral"});
  expect_refused([] { parse_model_config(without_field("qwen1.5-moe-a2.7b.json", "num_experts")); },
                 {"num_experts", "required", "qwen2_moe"});
  expect_refused(
      [] { parse_model_config(without_field("qwen1.5-moe-a2.7b.json", "shared_expert_intermediate_size")); },
      {"shared_expert_intermediate_size", "required"});
  expect_refused([] { parse_model_config(without_field("qwen3-30b-a3b.json", "moe_intermediate_size")); },
                 {"moe_intermediate_size", "required", "qwen3_moe"});
}

// Qwen1.5-MoE-A2.7B used to load as a dense 1.86B model: num_experts and the shared expert were
// ignored.
TEST(ConfigFamily, Qwen2MoeReadsItsExpertsAndGatedSharedExpert) {
  const ModelConfig c = load_model_config(kData / "qwen1.5-moe-a2.7b.json");
  EXPECT_EQ(c.family, "qwen2_moe");
  ASSERT_TRUE(c.moe);
  EXPECT_EQ(c.moe->n_routed_experts, 60);
  EXPECT_EQ(c.moe->top_k, 4);
  EXPECT_EQ(c.moe->expert_intermediate_size, 1408);
  EXPECT_EQ(c.moe->n_shared_experts, 1);
  EXPECT_EQ(c.moe->shared_expert_width(), 5632);
  EXPECT_TRUE(c.moe->shared_expert_gate);
  EXPECT_FALSE(c.moe->norm_topk_prob);
  EXPECT_EQ(c.moe->router, RouterKind::softmax);
  EXPECT_EQ(c.num_moe_layers(), 24);
  EXPECT_TRUE(c.attention.qkv_bias);  // Qwen2's q, k, v biases
  EXPECT_EQ(c.attention.kind, AttentionKind::mha);
  EXPECT_EQ(c.attention.head_dim, 128);
}

TEST(ConfigFamily, Qwen3MoeReadsHeadDimQkNormAndExperts) {
  const ModelConfig c = load_model_config(kData / "qwen3-30b-a3b.json");
  EXPECT_EQ(c.family, "qwen3_moe");
  EXPECT_EQ(c.attention.kind, AttentionKind::gqa);
  EXPECT_EQ(c.attention.head_dim, 128);  // not hidden_size / heads = 64
  EXPECT_TRUE(c.attention.qk_norm);
  EXPECT_FALSE(c.attention.qkv_bias);
  ASSERT_TRUE(c.moe);
  EXPECT_EQ(c.moe->n_routed_experts, 128);
  EXPECT_EQ(c.moe->top_k, 8);
  EXPECT_EQ(c.moe->expert_intermediate_size, 768);
  EXPECT_EQ(c.moe->n_shared_experts, 0);
  EXPECT_TRUE(c.moe->norm_topk_prob);
  EXPECT_EQ(c.num_moe_layers(), 48);
}

TEST(ConfigFamily, QwenMoeLayoutsInfercostDoesNotModelAreRefused) {
  std::string text = read_data("qwen3-30b-a3b.json");
  text.replace(text.find("\"decoder_sparse_step\": 1"), 24, "\"decoder_sparse_step\": 2");
  expect_refused([&] { parse_model_config(text); }, {"decoder_sparse_step", "= 2", "must be 1"});
  text = read_data("qwen3-30b-a3b.json");
  text.replace(text.find("\"mlp_only_layers\": []"), 21, "\"mlp_only_layers\": [0]");
  expect_refused([&] { parse_model_config(text); }, {"mlp_only_layers", "empty"});
}

// Architectures alone name the family too.
TEST(ConfigFamily, ArchitecturesNameTheFamily) {
  std::string text = without_field("deepseek-v3.json", "model_type");
  EXPECT_EQ(parse_model_config(text).family, "deepseek_v3");
  text = drop_line(text, "kv_lora_rank");
  expect_refused([&] { parse_model_config(text); }, {"kv_lora_rank", "required"});
}

TEST(ConfigFamily, UnknownFamilyIsRefusedUnlessEveryShapeFieldIsUnderstood) {
  // A family infercost does not know, with a field about experts it does not read.
  expect_refused([] { parse_model_config(llama_like(R"(, "model_type": "granitemoe", "num_local_experts": 8,
                                                     "num_experts_per_tok": 2, "expert_capacity": 4)")); },
                 {"granitemoe", "not a family infercost knows", "expert_capacity", "deepseek_v3", "qwen2_moe"});
  // One whose every shaping field is understood is read by its fields, and says so.
  const ModelConfig c = parse_model_config(llama_like(R"(, "model_type": "tinyllama2", "bos_token_id": 1)"));
  EXPECT_EQ(c.family, "tinyllama2");
  EXPECT_NE(design_summary(c).find("not a known family"), std::string::npos) << design_summary(c);
  EXPECT_NE(design_summary(c).find("read by its fields"), std::string::npos) << design_summary(c);
}

TEST(ConfigFamily, NoFamilyIsReadByItsFieldsAndSaysSo) {
  const ModelConfig c = parse_model_config(llama_like(R"(, "n_routed_experts": 8, "n_shared_experts": 1,
                                                       "num_experts_per_tok": 2, "moe_intermediate_size": 16)"));
  EXPECT_EQ(c.family, "");
  ASSERT_TRUE(c.moe);
  const std::string design = design_summary(c);
  EXPECT_NE(design.find("no model_type"), std::string::npos) << design;
  EXPECT_NE(design.find("DeepSeekMoE"), std::string::npos) << design;
  EXPECT_NE(design_summary(load_model_config(kData / "deepseek-v3.json")).find("MLA"), std::string::npos);
}

// A field about experts, heads, ranks or widths is never ignored: here a shared-expert count
// without the routed experts it would belong to, and a head count under another name.
TEST(ConfigFamily, UnreadShapeFieldsAreRefusedNamingThem) {
  expect_refused([] { parse_model_config(llama_like(R"(, "n_shared_experts": 2)")); },
                 {"n_shared_experts", "does not read"});
  expect_refused([] { parse_model_config(llama_like(R"(, "model_type": "llama", "num_kv_groups": 2)")); },
                 {"num_kv_groups", "llama"});
  expect_refused([] { parse_model_config(llama_like(R"(, "sliding_window": 4096)")); }, {"sliding_window"});
  // Fields that do not shape the model stay ignored.
  EXPECT_NO_THROW(parse_model_config(llama_like(R"(, "torch_dtype": "bfloat16", "bos_token_id": 1)")));
}

// Every known family names itself in the refusal of an unknown one.
TEST(ConfigFamily, KnownFamiliesIncludeTheMoeFamilies) {
  const auto names = known_families();
  for (const char* f : {"llama", "qwen2", "mixtral", "deepseek_v2", "deepseek_v3", "qwen2_moe", "qwen3_moe"})
    EXPECT_NE(std::find(names.begin(), names.end(), f), names.end()) << f;
}

// ---------------------------------------------------------------------------------------------
// Numbers the JSON library or a 32-bit field cannot hold: exit 2 naming the field.

TEST(ConfigNumbers, NumberBeyondDoubleNamesTheField) {
  expect_refused([] { parse_model_config(llama_like(R"(, "rope_theta": 1e400)"), "big.json"); },
                 {"big.json:2", "rope_theta", "1e400"});
}

TEST(ConfigNumbers, HugeUnsignedIsNotReadAsMinusOne) {
  expect_refused(
      [] { parse_model_config(R"({"hidden_size": 18446744073709551615, "num_hidden_layers": 2, "vocab_size": 10,
                                  "num_attention_heads": 4, "intermediate_size": 96})"); },
      {"hidden_size", "18446744073709551615", "at most 2147483647"});
  expect_refused([] { parse_model_config(llama_like(R"(, "max_position_embeddings": 4096.5)")); },
                 {"max_position_embeddings", "whole number"});
}

TEST(ConfigNumbers, CommandsExitTwoNamingTheField) {
  const std::filesystem::path path = std::filesystem::temp_directory_path() / "infercost_1e400.json";
  std::ofstream(path) << llama_like(R"(, "rms_norm_eps": 1e400)");
  const auto r = testing::run_cli("cost --model " + path.string());
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("rms_norm_eps"), std::string::npos) << r.output;
  std::filesystem::remove(path);
}

// ---------------------------------------------------------------------------------------------
// `infercost run` refuses what its layers cannot compute rather than measure another model.

TEST(ConfigRunnable, RunRefusesFeaturesItsLayersLack) {
  EXPECT_NO_THROW(require_runnable(preset("deepseek-v3")));
  EXPECT_NO_THROW(require_runnable(preset("mixtral-8x7b")));
  expect_refused([] { require_runnable(load_model_config(kData / "qwen1.5-moe-a2.7b.json")); },
                 {"shared expert", "5632", "gate"});
  expect_refused([] { require_runnable(load_model_config(kData / "qwen3-30b-a3b.json")); }, {"query and key"});
  const auto r = testing::run_cli("run --suite quick --list --model " + (kData / "qwen1.5-moe-a2.7b.json").string());
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("shared expert"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace infercost
