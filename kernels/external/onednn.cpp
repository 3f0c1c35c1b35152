// oneDNN's sgemm behind the gemm interface, for comparison (fp32 weights only).
#include <oneapi/dnnl/dnnl.h>

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "infercost/external.hpp"
#include "infercost/kernels.hpp"

namespace infercost::onednn {

// dnnl_sgemm is row-major: C[M, N] = A[M, K] · B with B = Wᵀ, W stored [N, K] ('T').
void gemm(const float* x, std::size_t M, const Matrix& W, float* y) {
  if (W.dtype() != DType::f32) throw std::invalid_argument("onednn gemm takes fp32 weights only");
  const auto m = static_cast<dnnl_dim_t>(M), n = static_cast<dnnl_dim_t>(W.rows()),
             k = static_cast<dnnl_dim_t>(W.cols());
  if (k == 0) {  // an empty W has no storage, and dnnl_sgemm refuses a null pointer
    std::fill(y, y + M * W.rows(), 0.0f);
    return;
  }
  if (dnnl_sgemm('N', 'T', m, n, k, 1.0f, x, k, W.f32(), k, 0.0f, y, n) != dnnl_success)
    throw std::runtime_error("dnnl_sgemm failed");
}

}  // namespace infercost::onednn

namespace infercost {
std::string onednn_version() {
  const dnnl_version_t* v = dnnl_version();
  return fmt::format("{}.{}.{} (cpu runtime {})", v->major, v->minor, v->patch, v->cpu_runtime);
}
}  // namespace infercost
