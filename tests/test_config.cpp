// Configs: presets, loading the public config.json files, and every refusal.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "infercost/config.hpp"

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

}  // namespace
}  // namespace infercost
