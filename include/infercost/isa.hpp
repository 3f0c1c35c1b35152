// Instruction-set levels the fast kernels are compiled for, what this CPU supports, and the cap a
// user can put on them (INFERCOST_MAX_ISA), so that a lower path runs and is tested on a CPU that
// has a higher one.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace infercost {

// Ordered: each level includes the ones below it.
enum class Isa {
  portable,     // plain C++ the compiler vectorises for the baseline x86-64 target
  avx2,         // AVX2 + FMA + F16C (Haswell and later)
  avx512,       // AVX-512 F, BW, DQ, VL (Skylake-SP and later)
  avx512_bf16,  // AVX-512 plus AVX512-BF16 (Cooper Lake, Sapphire Rapids, Zen 4)
};

std::string_view to_string(Isa isa);
// Throws std::invalid_argument naming the allowed values when `name` is not one of them.
Isa parse_isa(std::string_view name);
const std::vector<Isa>& all_isas();

// The highest level this CPU (and its OS) supports, from cpuid.
Isa detected_isa();
// detected_isa(), capped by the environment variable INFERCOST_MAX_ISA when it is set (read once;
// an unknown value is an error naming the allowed ones) or by set_max_isa().
Isa max_isa();
void set_max_isa(Isa cap);  // for tests and the CLI: caps again, never above detected_isa()
bool isa_available(Isa isa);  // isa <= max_isa()

// The CPU's instruction-set flags that matter to infercost, as cpuid reports them, e.g.
// {"avx2", "fma", "f16c", "avx512f", "avx512bf16", ...}.
std::vector<std::string> cpu_isa_flags();

}  // namespace infercost
