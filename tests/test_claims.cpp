// The claims catalogue: stable ids, figures recomputed here by hand, verdicts that follow the
// inputs, and the `infercost claims` command.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "infercost/claims.hpp"
#include "infercost/config.hpp"
#include "support/cli.hpp"

namespace infercost {
namespace {

const Claim& find(const std::vector<Claim>& claims, std::string_view id) {
  const auto it = std::find_if(claims.begin(), claims.end(), [&](const Claim& c) { return c.id == id; });
  if (it == claims.end()) throw std::runtime_error("no claim " + std::string(id));
  return *it;
}

double figure(const Claim& claim, std::string_view name) {
  for (const ClaimFigure& f : claim.figures)
    if (f.name == name) return f.value;
  throw std::runtime_error("no figure " + std::string(name) + " in " + claim.id);
}

std::vector<Claim> evaluate_with(std::string_view name, double value) {
  Assumptions a = default_assumptions();
  set_assumption(a, name, value);
  return evaluate_claims(a);
}

TEST(Claims, IdsAreStableAndInTheOrderOfClaimsMd) {
  const std::vector<std::string> expected = {
      "press.inference-13x", "press.training-5.6M", "press.query-energy-10x", "press.laptop",
      "v2.kv-93.3",          "v2.throughput-5.76x", "v2.training-42.5",       "v2.params",
      "v3.params",           "v3.gpu-hours"};
  const std::vector<Claim> claims = evaluate_claims();
  ASSERT_EQ(claims.size(), expected.size());
  for (std::size_t i = 0; i < claims.size(); ++i) EXPECT_EQ(claims[i].id, expected[i]);
}

TEST(Claims, EveryClaimIsComplete) {
  const Assumptions assumptions = default_assumptions();
  for (const Claim& c : evaluate_claims(assumptions)) {
    SCOPED_TRACE(c.id);
    for (const std::string* text : {&c.claim, &c.source, &c.published, &c.formula, &c.value, &c.finding})
      EXPECT_FALSE(text->empty());
    EXPECT_FALSE(c.figures.empty());
    for (const ClaimFigure& f : c.figures) EXPECT_TRUE(std::isfinite(f.value)) << f.name;
    for (const std::string& name : c.inputs) EXPECT_TRUE(assumptions.contains(name)) << name;
  }
}

TEST(Claims, KvReductionReproducesUnderTheSixBitAssumption) {
  // 67B: 95 layers × 2 × 8 KV heads × 128; V2: 60 layers × (512 + 64).
  const double e67 = 95.0 * 2 * 8 * 128, ev2 = 60.0 * (512 + 64);
  const Claim c = find(evaluate_claims(), "v2.kv-93.3");
  EXPECT_EQ(c.verdict, Verdict::reproduced_under_assumption);
  EXPECT_NEAR(figure(c, "kv_reduction"), 100 * (1 - ev2 * 6 / (e67 * 16)), 1e-9);
  EXPECT_NEAR(figure(c, "kv_reduction"), 93.3, 0.05);
  EXPECT_NEAR(figure(c, "kv_reduction_at_equal_precision"), 100 * (1 - ev2 / e67), 1e-9);
  EXPECT_NEAR(figure(c, "kv_reduction_at_equal_precision"), 82.2, 0.05);
  EXPECT_NEAR(figure(c, "v2_bits_per_element_for_93.3"), 16 * 0.067 * e67 / ev2, 1e-9);

  // At equal precision the published figure does not follow: the verdict says so.
  const Claim equal = find(evaluate_with("deepseek-v2.kv-bits", 16), "v2.kv-93.3");
  EXPECT_EQ(equal.verdict, Verdict::contradicted);
  EXPECT_NEAR(figure(equal, "kv_reduction"), 82.24, 0.01);
}

TEST(Claims, TrainingBudgetIsGpuHoursTimesPrice) {
  const Claim c = find(evaluate_claims(), "press.training-5.6M");
  EXPECT_EQ(c.verdict, Verdict::reproduced_under_assumption);
  EXPECT_NEAR(figure(c, "cost"), (2664e3 + 119e3 + 5e3) * 2 / 1e6, 1e-12);
  EXPECT_NEAR(figure(c, "pre_training_cost"), 5.328, 1e-12);
  const Claim cheaper = find(evaluate_with("gpu.usd-per-hour", 1.5), "press.training-5.6M");
  EXPECT_NEAR(figure(cheaper, "cost"), 4.182, 1e-12);
  EXPECT_EQ(cheaper.verdict, Verdict::contradicted);
}

TEST(Claims, V3GpuHoursCrossCheckFollowsTheMfuInput) {
  const Claim c = find(evaluate_claims(), "v3.gpu-hours");
  EXPECT_EQ(c.verdict, Verdict::reproduced_under_assumption);
  EXPECT_NEAR(figure(c, "reported_total_gpu_hours"), 2.788, 1e-12);
  // Hours scale as 1 / MFU; the implied MFU does not depend on the input.
  const double predicted = figure(c, "predicted_pre_training_gpu_hours");
  const Claim low = find(evaluate_with("training.mfu", 0.2), "v3.gpu-hours");
  EXPECT_NEAR(figure(low, "predicted_pre_training_gpu_hours"), 2 * predicted, 1e-9);
  EXPECT_EQ(low.verdict, Verdict::not_derivable);
  EXPECT_DOUBLE_EQ(figure(low, "implied_mfu"), figure(c, "implied_mfu"));
  // 6·N for the matrix products alone is a floor on the per-token training FLOPs.
  EXPECT_GT(figure(c, "training_flops_per_token"), 6 * 36.6);
}

TEST(Claims, TrainingSavingPublishedIsGpuHoursNotFlops) {
  const Claim c = find(evaluate_claims(), "v2.training-42.5");
  EXPECT_EQ(c.verdict, Verdict::not_derivable);
  EXPECT_NEAR(figure(c, "gpu_hour_saving"), 100 * (1 - 172.8 / 300.6), 1e-9);
  EXPECT_NEAR(figure(c, "gpu_hour_saving"), 42.5, 0.05);
  // Fewer FLOPs than GPU-hours saved would mean V2 trained more efficiently than a dense model.
  EXPECT_GT(figure(c, "flop_saving"), figure(c, "gpu_hour_saving"));

  // 3 × the forward at L = 4096 from the public shapes, in GFLOP: 2 per matrix weight a token uses
  // (LM head included), plus causal attention, (L + 1) / 2 positions per token on average.
  const double L = 4096, V = 102400, avg = (L + 1) / 2;
  // DeepSeek 67B: 95 GQA layers (64 heads, 8 KV heads, d_h 128), SwiGLU 22016.
  const double d67 = 8192, q67 = 64 * 128, kv67 = 8 * 128;
  const double f67 = 3 * (2 * (95 * (2 * d67 * q67 + 2 * d67 * kv67 + 3 * d67 * 22016) + V * d67) +
                          95 * 4 * q67 * avg);
  // DeepSeek-V2: 60 MLA layers (128 heads, q_lora 1536, kv_lora 512, nope 128, rope 64, v 128), one
  // dense layer (SwiGLU 12288), 59 MoE layers (router over 160, 2 shared + 6 routed experts of 1536).
  // Training runs MLA naive: scores over nope + rope, values of width v, per head.
  const double d = 5120, nh = 128;
  const double mla = d * 1536 + 1536 * nh * 192 + d * 576 + 512 * nh * 256 + nh * 128 * d;
  const double fv2 = 3 * (2 * (60 * mla + 3 * d * 12288 + 59 * (d * 160 + 8 * 3 * d * 1536) + V * d) +
                          60 * (2 * nh * 192 + 2 * nh * 128) * avg);
  EXPECT_NEAR(figure(c, "training_flops_per_token_deepseek_67b"), f67 / 1e9, 1e-9 * f67);
  EXPECT_NEAR(figure(c, "training_flops_per_token_deepseek_v2"), fv2 / 1e9, 1e-9 * fv2);
  EXPECT_NEAR(figure(c, "flop_saving"), 100 * (1 - fv2 / f67), 1e-9);
}

TEST(Claims, InferenceRatiosFollowThePublicShapes) {
  const Claim c = find(evaluate_claims(), "press.inference-13x");
  EXPECT_EQ(c.verdict, Verdict::needs_measurement);
  // Llama-3.1-405B: 126 layers × 2 × 8 × 128; DeepSeek-V3: 61 layers × (512 + 64); same precision.
  EXPECT_NEAR(figure(c, "kv_bytes_per_token_ratio"), (126.0 * 2 * 8 * 128) / (61.0 * 576), 1e-9);
  EXPECT_LT(figure(c, "decode_bytes_per_token_ratio_batch_1"), 13);
}

TEST(Claims, ParameterClaimsReproduce) {
  const std::vector<Claim> claims = evaluate_claims();
  const Claim& v2 = find(claims, "v2.params");
  // V2-Lite's 2.451B activated matches the card's 2.4B only when cut, not rounded: an assumption.
  EXPECT_EQ(v2.verdict, Verdict::reproduced_under_assumption);
  EXPECT_NEAR(figure(v2, "deepseek_v2_params_total"), 236, 2.36);
  EXPECT_NEAR(figure(v2, "deepseek_v2_params_activated"), 21, 0.21);
  const Claim& v3 = find(claims, "v3.params");
  EXPECT_EQ(v3.verdict, Verdict::reproduced);
  EXPECT_NEAR(figure(v3, "params_total"), 671, 6.71);
  // The HF card's 685B is the main model plus the MTP module as stored: one MoE block, the 2d -> d
  // projection, three norms, and copies of the embedding and LM head.
  const double d = 7168, vd = 129280 * d;
  const double mla = d * 1536 + 1536 + 1536 * 128 * 192 + d * 576 + 512 + 512 * 128 * 256 + 128 * 128 * d;
  const double moe_block = mla + 2 * d + (d * 256 + 256) + (1 + 256) * 3 * d * 2048;
  EXPECT_NEAR(figure(v3, "mtp_module_params"), (moe_block + 2 * d * d + 3 * d + 2 * vd) / 1e9, 1e-9);
  EXPECT_NEAR(figure(v3, "params_with_mtp"), 685, 1);
}

TEST(Claims, ThroughputIsPredictedAndAwaitsAMeasurement) {
  const Claim c = find(evaluate_claims(), "v2.throughput-5.76x");
  EXPECT_EQ(c.verdict, Verdict::needs_measurement);
  EXPECT_GT(figure(c, "predicted_max_throughput_ratio"), 1);
  // The 67B's largest batch by hand: 640 GiB less its bf16 weights (67,425,001,472 parameters), over
  // a 4096-token bf16 cache of 95 × 2 × 8 × 128 elements per token.
  const double free_bytes = 640.0 * 1024 * 1024 * 1024 - 2.0 * 67'425'001'472;
  EXPECT_EQ(figure(c, "deepseek_67b_max_batch"), std::floor(free_bytes / (2.0 * 95 * 2 * 8 * 128 * 4096)));
  EXPECT_NEAR(figure(c, "kv_bytes_per_token_ratio"), (95.0 * 2 * 8 * 128 * 16) / (60.0 * 576 * 6), 1e-9);
  // A larger context favours the smaller cache; the crossing context lies between.
  const double short_ratio =
      figure(find(evaluate_with("throughput.context", 2048), c.id), "predicted_max_throughput_ratio");
  const double long_ratio =
      figure(find(evaluate_with("throughput.context", 8192), c.id), "predicted_max_throughput_ratio");
  EXPECT_LT(short_ratio, long_ratio);
  const double crossing = figure(c, "context_where_prediction_is_5.76x");
  EXPECT_GT(crossing, 2048);
  EXPECT_LT(crossing, 8192);
  const double at_crossing =
      figure(find(evaluate_with("throughput.context", crossing), c.id), "predicted_max_throughput_ratio");
  EXPECT_NEAR(at_crossing, 5.76, 0.01);
}

TEST(Claims, EnergyAndLaptopFollowTheirInputs) {
  const std::vector<Claim> claims = evaluate_claims();
  const Claim& energy = find(claims, "press.query-energy-10x");
  EXPECT_EQ(energy.verdict, Verdict::needs_measurement);
  EXPECT_NEAR(figure(energy, "implied_energy_per_token"), 10 * 0.3 * 3600 / 500, 1e-12);
  EXPECT_GT(figure(energy, "roofline_floor_energy_per_token"), 0);

  // Llama-3.1-8B at 4.5 bits per weight + a bf16 cache of 8192 tokens (32 layers × 2 × 8 × 128).
  const double gib = 1024.0 * 1024 * 1024;
  const double need = (8'030'261'248 * 4.5 / 8 + 8192.0 * 32 * 2 * 8 * 128 * 2) / gib;
  const Claim& laptop = find(claims, "press.laptop");
  EXPECT_EQ(laptop.verdict, Verdict::reproduced_under_assumption);
  EXPECT_NEAR(figure(laptop, "memory_needed"), need, 1e-9);
  EXPECT_EQ(find(evaluate_with("laptop.ram-gib", 4), "press.laptop").verdict, Verdict::contradicted);
}

TEST(Claims, InputsAreValidated) {
  Assumptions a = default_assumptions();
  EXPECT_THROW(set_assumption(a, "no.such-input", 1), ConfigError);
  EXPECT_THROW(set_assumption(a, "gpu.watts", -5), ConfigError);
  EXPECT_THROW(set_assumption(a, "gpu.watts", std::nan("")), ConfigError);
  EXPECT_THROW(set_assumption(a, "throughput.context", 0.5), ConfigError);  // tokens come whole
  EXPECT_THROW(set_assumption(a, "throughput.gpus", 0.5), ConfigError);
  EXPECT_THROW(set_assumption(a, "training.mfu", 1.5), ConfigError);  // a fraction
  // GPUs and tokens are whole numbers (before, 1.5 GPUs and a context of 2.5 were taken).
  for (const char* name : {"inference.gpus", "inference.context"})
    try {
      set_assumption(a, name, std::string_view(name) == "inference.gpus" ? 1.5 : 2.5);
      ADD_FAILURE() << name << " took a fraction";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("whole number"), std::string::npos) << e.what();
    }
  EXPECT_NO_THROW(set_assumption(a, "inference.gpus", 2));
  set_assumption(a, "gpu.watts", 350);
  EXPECT_DOUBLE_EQ(a.at("gpu.watts").value, 350);
}

TEST(Claims, JsonHasStableFields) {
  const Assumptions a = default_assumptions();
  const nlohmann::json j = claims_to_json(evaluate_claims(a), a);
  const std::set<std::string> verdicts = {"reproduced", "reproduced_under_assumption", "not_derivable",
                                          "contradicted", "needs_measurement"};
  ASSERT_EQ(j["claims"].size(), 10u);
  for (const nlohmann::json& c : j["claims"]) {
    for (const char* key : {"id", "claim", "source", "published", "formula", "inputs", "value", "figures",
                            "verdict", "verdict_text", "finding"})
      EXPECT_TRUE(c.contains(key)) << key;
    EXPECT_TRUE(verdicts.contains(c["verdict"].get<std::string>()));
    for (const nlohmann::json& input : c["inputs"])
      for (const char* key : {"name", "value", "unit", "source"}) EXPECT_TRUE(input.contains(key)) << key;
  }
  EXPECT_EQ(j["claims"][4]["id"], "v2.kv-93.3");
  EXPECT_EQ(j["claims"][4]["verdict"], "reproduced_under_assumption");
}

TEST(Claims, WrapTextKeepsWidthAndWords) {
  const std::string text = "one two three four five six seven eight nine ten eleven twelve";
  const std::string wrapped = wrap_text(text, 20, "> ", "  ");
  std::istringstream lines(wrapped);
  std::string line, words;
  while (std::getline(lines, line)) {
    EXPECT_LE(line.size(), 20u) << line;
    words += line.substr(2) + " ";
  }
  EXPECT_EQ(words, text + " ");
}

// docs/claims.md documents every claim under a heading "### <id>: ...", in the catalogue's order:
// a claim added, removed or renamed in the code without its documentation fails here.
TEST(Claims, DocumentationHasEveryClaimInOrder) {
  const std::filesystem::path doc = std::filesystem::path(INFERCOST_RESULTS_DIR).parent_path() / "docs" / "claims.md";
  std::ifstream in(doc);
  ASSERT_TRUE(in) << "cannot open " << doc;
  std::vector<std::string> documented;
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("### ")) documented.push_back(line.substr(4, line.find(':') - 4));
  std::vector<std::string> ids;
  for (const Claim& c : evaluate_claims()) ids.push_back(c.id);
  EXPECT_EQ(documented, ids);
}

// The command: fits 100 columns, JSON parses, --set changes a verdict, bad input exits 2.
using testing::run_cli;
using testing::CommandResult;

TEST(ClaimsCommand, TableFitsAndJsonFollowsSettings) {
  const CommandResult table = run_cli("claims");
  ASSERT_EQ(table.status, 0) << table.output;
  std::istringstream lines(table.output);
  std::string line;
  while (std::getline(lines, line)) EXPECT_LE(line.size(), 100u) << line;
  EXPECT_NE(table.output.find("v2.kv-93.3"), std::string::npos);
  // The header points the reader to the catalogue's documentation, inside the repository.
  EXPECT_NE(table.output.find("docs/claims.md"), std::string::npos) << table.output;

  const CommandResult json = run_cli("claims --json --id v2.kv-93.3 --set deepseek-v2.kv-bits=16");
  ASSERT_EQ(json.status, 0) << json.output;
  const nlohmann::json j = nlohmann::json::parse(json.stdout_text);
  ASSERT_EQ(j["claims"].size(), 1u);
  EXPECT_EQ(j["claims"][0]["verdict"], "contradicted");

  EXPECT_EQ(run_cli("claims --set bogus=1").status, 2);
  EXPECT_EQ(run_cli("claims --set inference.gpus=1.5").status, 2);
  EXPECT_EQ(run_cli("claims --set inference.context=2.5").status, 2);
  EXPECT_EQ(run_cli("claims --set gpu.watts=abc").status, 2);
  EXPECT_EQ(run_cli("claims --id no.such.claim").status, 2);
  EXPECT_EQ(run_cli("claims --bogus").status, 2);
  EXPECT_EQ(run_cli("claims --inputs").status, 0);
}

}  // namespace
}  // namespace infercost
