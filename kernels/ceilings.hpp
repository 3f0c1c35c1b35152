// The probes behind machine.hpp's ceilings: a register-only FMA loop and the two bandwidth loops
// (sum, triad), one set per instruction set. They are measuring instruments, not operators, so they
// are not in the kernels.inc registry; src/machine.cpp picks the set max_isa() allows.
//
// Each set lives in kernels/<isa>/ceilings.cpp, compiled with that instruction set's flags (see
// kernels/scratch.hpp for what those files may contain): plain functions on raw pointers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "infercost/isa.hpp"

namespace infercost::ceilings {

// Independent FMA chains the probes keep in registers: an FMA has 4 cycles of latency and two
// ports issue one each per cycle, so at least 8 chains are needed to fill the pipes; 12 leaves
// margin and still fits the 16 ymm registers of AVX2 with the two constant operands.
inline constexpr int kFmaChains = 12;

// FLOP each probe does per iteration: chains × lanes × 2 (a multiply and an add).
inline constexpr double kFmaFlopsPerIterationAvx512 = kFmaChains * 16 * 2;
inline constexpr double kFmaFlopsPerIterationAvx2 = kFmaChains * 8 * 2;
// The portable probe runs the same arithmetic on 4-float (SSE2) vectors, a multiply then an add.
inline constexpr double kFmaFlopsPerIterationPortable = kFmaChains * 4 * 2;

// Runs `iterations` rounds of kFmaChains independent multiply-adds acc = acc·m + a, on the calling
// thread, all operands in registers. Returns a checksum of the accumulators so the work is kept.
float fma_avx512(std::int64_t iterations);
float fma_avx2(std::int64_t iterations);
float fma_portable(std::int64_t iterations);

// The sum of x[0, n): the read-bandwidth loop (several accumulators, so the adds' latency does not
// bound it).
float sum_avx512(const float* x, std::size_t n);
float sum_avx2(const float* x, std::size_t n);
float sum_portable(const float* x, std::size_t n);

// a[i] = b[i] + s·c[i] for i in [0, n): the triad bandwidth loop (ordinary stores, as STREAM).
void triad_avx512(float* a, const float* b, const float* c, float s, std::size_t n);
void triad_avx2(float* a, const float* b, const float* c, float s, std::size_t n);
void triad_portable(float* a, const float* b, const float* c, float s, std::size_t n);

// One instruction set's probes, with what the FMA probe does per iteration.
struct ProbeSet {
  const char* name;
  Isa isa;  // what the CPU must support to run them
  int lanes;
  double fma_flops_per_iteration;
  float (*fma)(std::int64_t);
  float (*sum)(const float*, std::size_t);
  void (*triad)(float*, const float*, const float*, float, std::size_t);
};

// Every probe set compiled in, lowest instruction set first.
inline constexpr ProbeSet kProbeSets[] = {
    {"portable", Isa::portable, 4, kFmaFlopsPerIterationPortable, fma_portable, sum_portable, triad_portable},
    {"avx2", Isa::avx2, 8, kFmaFlopsPerIterationAvx2, fma_avx2, sum_avx2, triad_avx2},
    {"avx512", Isa::avx512, 16, kFmaFlopsPerIterationAvx512, fma_avx512, sum_avx512, triad_avx512},
};

// The highest probe set `isa` allows (an instruction set above AVX-512 runs the AVX-512 probes).
// Defined in src/machine.cpp: an inline function here would be compiled with each ISA's flags.
const ProbeSet& best_probes(Isa isa);

}  // namespace infercost::ceilings
