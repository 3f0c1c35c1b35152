// Matrix multiply y = x Wᵀ, the projection every layer is made of.
#pragma once

#include <cstddef>

#include "infercost/weights.hpp"

namespace infercost::reference {

// x: [M, W.cols()], y: [M, W.rows()]. Accumulates in double. W is fp32 or bf16.
void gemm(const float* x, std::size_t M, const Matrix& W, float* y);

}  // namespace infercost::reference
