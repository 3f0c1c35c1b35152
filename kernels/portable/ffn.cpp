// The SwiGLU FFN composed from the dispatched kernels: three GEMMs (whichever gemm is fastest here)
// and the SwiGLU activation applied once, in place, on the gate projection's output.
#include <algorithm>
#include <cstddef>

#include "infercost/kernels.hpp"
#include "scratch.hpp"

namespace infercost::fused {

namespace {

// Prefill runs in chunks of this many tokens so that the gate and up outputs of a chunk
// ([chunk, inter] each: 5.8 MB at inter 11264) stay near the cache between the GEMM that writes
// them, the activation and the GEMM that reads them, instead of making a round trip to DRAM.
// At 64 rows a GEMM is already compute-bound (64 rows x 2 FLOP per weight element loaded), so
// reading the weights once per chunk costs no time.
constexpr std::size_t kChunkTokens = 64;

}  // namespace

// x: [M, d]; w.w1, w.w3: [inter, d]; w.w2: [d, inter]; y: [M, d].
void swiglu_ffn(const float* x, std::size_t M, const SwigluWeights& w, float* y) {
  const std::size_t d = w.w1.cols(), inter = w.w1.rows();
  const std::size_t chunk = std::min(M, kChunkTokens);
  Scratch gate(chunk * inter), up(chunk * inter);
  for (std::size_t m0 = 0; m0 < M; m0 += chunk) {
    const std::size_t rows = std::min(chunk, M - m0);
    kernels::gemm(x + m0 * d, rows, w.w1, gate.data());
    kernels::gemm(x + m0 * d, rows, w.w3, up.data());
    kernels::swiglu(gate.data(), up.data(), rows * inter, gate.data());  // element-wise: may alias
    kernels::gemm(gate.data(), rows, w.w2, y + m0 * d);
  }
}

}  // namespace infercost::fused
