// What the comparison libraries report about themselves, recorded beside their results.
#pragma once

#include <string>

namespace infercost {

#ifdef INFERCOST_HAVE_OPENBLAS
// The kernel family OpenBLAS picked for this CPU ("SkylakeX", "Haswell", "Prescott", ...). Debian 12's
// OpenBLAS 0.3.21 does not know some newer CPUs and falls back to its generic "Prescott" (SSE3)
// kernels unless OPENBLAS_CORETYPE names one (see docs/benchmarking.md).
std::string openblas_core_name();
#endif

#ifdef INFERCOST_HAVE_ONEDNN
std::string onednn_version();
#endif

}  // namespace infercost
