// Software prefetch into L2 that the compiler keeps.
//
// GCC 12 counts __builtin_prefetch as free of side effects, so its interprocedural analysis can
// find a helper made only of prefetch loops `const` and delete every call to it: objdump of the
// AVX2 gemm object showed no prefetcht1 at all where its panel prefetch was meant to issue
// thousands per call, and a template version of the decode attention's helper lost all of its
// own. An asm statement marked volatile stays where it is written.
//
// Internal linkage, like everything the instruction-set translation units include (scratch.hpp).
#pragma once

namespace infercost {
namespace {

// Requests the cache line holding `p` into L2 (and L3): never faults, whatever p points at.
inline void prefetch_l2(const void* p) {
#if defined(__x86_64__) || defined(__i386__)
  asm volatile("prefetcht1 %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p, 0, 2);
#endif
}

}  // namespace
}  // namespace infercost
