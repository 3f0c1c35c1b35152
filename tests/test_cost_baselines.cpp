// The exact regression gate (docs/design.md, "Regression gates"): the cost model's output for every
// published preset equals the committed results/cost/<preset>.json. Analytic figures do not depend
// on the machine, so any difference is a real change: make it on purpose with
// scripts/update_cost_baselines.sh.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "infercost/cost_model.hpp"

namespace infercost {
namespace {

const std::filesystem::path kBaselines = INFERCOST_RESULTS_DIR "/cost";

// Reports every difference between `got` and `want` below `path`; numbers may differ by the
// last bits a different compiler could print.
void expect_same(const nlohmann::json& got, const nlohmann::json& want, const std::string& path) {
  if (got.is_number() && want.is_number()) {
    const double g = got.get<double>(), w = want.get<double>();
    EXPECT_LE(std::abs(g - w), 1e-12 * std::max(std::abs(w), 1.0)) << path << ": " << g << " vs baseline " << w;
    return;
  }
  ASSERT_EQ(got.type(), want.type()) << path;
  if (got.is_object()) {
    for (const auto& [key, value] : want.items()) {
      if (!got.contains(key)) {
        ADD_FAILURE() << path << "/" << key << " is in the baseline but no longer computed";
        continue;
      }
      expect_same(got.at(key), value, path + "/" + key);
    }
    for (const auto& [key, value] : got.items())
      EXPECT_TRUE(want.contains(key)) << path << "/" << key << " is new: update the baseline";
  } else if (got.is_array()) {
    ASSERT_EQ(got.size(), want.size()) << path;
    for (std::size_t i = 0; i < got.size(); ++i) expect_same(got[i], want[i], path + "/" + std::to_string(i));
  } else {
    EXPECT_EQ(got, want) << path;
  }
}

TEST(CostBaselines, EveryPublishedPresetMatchesItsCommittedFile) {
  std::size_t checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kBaselines)) {
    if (entry.path().extension() != ".json") continue;
    const std::string name = entry.path().stem().string();
    SCOPED_TRACE(name + " (regenerate with scripts/update_cost_baselines.sh if the change is meant)");
    const auto preset = find_preset(name);
    ASSERT_TRUE(preset.has_value()) << entry.path() << " names no preset";
    std::ifstream in(entry.path());
    const nlohmann::json want = nlohmann::json::parse(in);
    expect_same(report_to_json(estimate_cost(*preset)), want, name);
    ++checked;
  }
  EXPECT_GE(checked, 11u) << "baselines missing in " << kBaselines;
}

}  // namespace
}  // namespace infercost
