// A check that stays on in release builds (assert does not): a failed property aborts, which
// libFuzzer and the replay test both report as a failure with this message.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace infercost_fuzz {

inline void require(bool holds, const char* property) {
  if (holds) return;
  std::fprintf(stderr, "fuzz property violated: %s\n", property);
  std::abort();
}

}  // namespace infercost_fuzz
