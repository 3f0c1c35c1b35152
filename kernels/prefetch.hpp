// Software prefetch into L2 that the compiler keeps.
//
// GCC 12 counts __builtin_prefetch as free of side effects, so its interprocedural analysis finds
// a helper made only of prefetch loops `const` and deletes every call to it: objdump of the AVX2
// gemm and decode attention objects showed no prefetcht1 at all, where their helpers were meant
// to issue thousands per call. An asm statement marked volatile stays where it is written.
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
