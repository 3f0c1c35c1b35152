#include "infercost/isa.hpp"

#include <fmt/format.h>

#include <array>
#include <cstdlib>
#include <stdexcept>

namespace infercost {

namespace {

constexpr std::array kIsaNames{std::pair{Isa::portable, "portable"}, std::pair{Isa::avx2, "avx2"},
                               std::pair{Isa::avx512, "avx512"}, std::pair{Isa::avx512_bf16, "avx512_bf16"}};

Isa detect() {
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  if (avx512 && __builtin_cpu_supports("avx512bf16")) return Isa::avx512_bf16;
  if (avx512) return Isa::avx512;
  if (avx2) return Isa::avx2;
  return Isa::portable;
}

Isa cap_from_environment() {
  const Isa detected = detected_isa();
  const char* env = std::getenv("INFERCOST_MAX_ISA");
  if (env == nullptr || *env == '\0') return detected;
  Isa cap;
  try {
    cap = parse_isa(env);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(fmt::format("INFERCOST_MAX_ISA: {}", e.what()));
  }
  return cap < detected ? cap : detected;
}

Isa& current_cap() {
  static Isa cap = cap_from_environment();
  return cap;
}

}  // namespace

std::string_view to_string(Isa isa) {
  for (const auto& [value, name] : kIsaNames)
    if (value == isa) return name;
  return "unknown";
}

Isa parse_isa(std::string_view name) {
  for (const auto& [value, text] : kIsaNames)
    if (name == text) return value;
  throw std::invalid_argument(
      fmt::format("unknown instruction set '{}': expected portable, avx2, avx512 or avx512_bf16", name));
}

const std::vector<Isa>& all_isas() {
  static const std::vector<Isa> isas{Isa::portable, Isa::avx2, Isa::avx512, Isa::avx512_bf16};
  return isas;
}

Isa detected_isa() {
  static const Isa isa = detect();
  return isa;
}

Isa max_isa() { return current_cap(); }

void set_max_isa(Isa cap) { current_cap() = cap < detected_isa() ? cap : detected_isa(); }

bool isa_available(Isa isa) { return isa <= max_isa(); }

std::vector<std::string> cpu_isa_flags() {
  __builtin_cpu_init();
  std::vector<std::string> flags;
  const auto add = [&](const char* name, bool present) {
    if (present) flags.emplace_back(name);
  };
  add("sse4.2", __builtin_cpu_supports("sse4.2"));
  add("avx", __builtin_cpu_supports("avx"));
  add("avx2", __builtin_cpu_supports("avx2"));
  add("fma", __builtin_cpu_supports("fma"));
  add("avx512f", __builtin_cpu_supports("avx512f"));
  add("avx512bw", __builtin_cpu_supports("avx512bw"));
  add("avx512dq", __builtin_cpu_supports("avx512dq"));
  add("avx512vl", __builtin_cpu_supports("avx512vl"));
  add("avx512vnni", __builtin_cpu_supports("avx512vnni"));
  add("avx512bf16", __builtin_cpu_supports("avx512bf16"));
  add("avx512fp16", __builtin_cpu_supports("avx512fp16"));
  add("amx-tile", __builtin_cpu_supports("amx-tile"));
  return flags;
}

}  // namespace infercost
