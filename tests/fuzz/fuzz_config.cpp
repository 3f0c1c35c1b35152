// libFuzzer target for the config loader: parse_model_config must either return a config or throw
// ConfigError naming the problem. Any other exception escaping it, a crash, a leak or undefined
// behaviour is a bug (libFuzzer reports an escaping exception as a deadly signal from abort()).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.hpp"
#include "infercost/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const infercost::ModelConfig config = infercost::parse_model_config(text, "fuzz.json");
    // What the loader returns has passed validation; validating it again must agree.
    infercost::validate(config);
    infercost_fuzz::require(config.num_moe_layers() + config.num_dense_layers() == config.num_layers,
                            "MoE and dense layers add up to num_hidden_layers");
  } catch (const infercost::ConfigError&) {
    // The documented refusal of a bad config.
  }
  return 0;
}
