#include "infercost/ops/gemm.hpp"

namespace infercost::reference {

void gemm(const float* x, std::size_t M, const Matrix& W, float* y) {
  const std::size_t N = W.rows(), K = W.cols();
  for (std::size_t m = 0; m < M; ++m) {
    for (std::size_t n = 0; n < N; ++n) {
      double acc = 0.0;
      for (std::size_t k = 0; k < K; ++k) acc += static_cast<double>(x[m * K + k]) * W.at(n, k);
      y[m * N + n] = static_cast<float>(acc);
    }
  }
}

}  // namespace infercost::reference
