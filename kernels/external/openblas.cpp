// OpenBLAS sgemm behind the gemm interface, for comparison (fp32 weights only: OpenBLAS has no
// fp32 × bf16 product).
#include <cblas.h>

#include <algorithm>
#include <stdexcept>

#include "infercost/external.hpp"
#include "infercost/kernels.hpp"

namespace infercost::openblas {

// y[M, N] = x[M, K] · W[N, K]ᵀ: W row-major is Wᵀ column-major, hence CblasTrans.
void gemm(const float* x, std::size_t M, const Matrix& W, float* y) {
  if (W.dtype() != DType::f32) throw std::invalid_argument("openblas gemm takes fp32 weights only");
  const auto m = static_cast<blasint>(M), n = static_cast<blasint>(W.rows()), k = static_cast<blasint>(W.cols());
  // Leading dimensions must be >= 1 even when a dimension is 0 (then y = 0, as beta = 0).
  const blasint ld_xw = std::max<blasint>(k, 1), ld_y = std::max<blasint>(n, 1);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, x, ld_xw, W.f32(), ld_xw, 0.0f, y, ld_y);
}

}  // namespace infercost::openblas

namespace infercost {
std::string openblas_core_name() { return openblas_get_corename(); }
}  // namespace infercost
