// The RoPE driver shared by kernels/{portable,avx2,avx512}/norm_rope.cpp, which differ only in how
// they compute one row's cos/sin table and rotate one head. Internal linkage: each instruction set
// compiles its own copy (kernels/scratch.hpp says why nothing may be shared between them).
#pragma once

#include <cmath>
#include <cstddef>

#include "infercost/ops/norm_rope.hpp"
#include "scratch.hpp"

namespace infercost {
namespace {

// The argument reduction and polynomials of the vectorised sincos (avx2 and avx512 norm_rope.cpp,
// over their double vectors D: reg, set1, mul, fmadd, fnmadd, round). Returns the quadrant
// q = round(a · 2/π) and, for r = a - q·π/2 (π/2 in three parts, fdlibm's split: exact for
// |q| < 2^20, i.e. angles up to 1.6e6 rad), sin_r and cos_r from Taylor polynomials on [-π/4, π/4]
// to degree 15 / 14 (error < 1e-13). The caller swaps and negates the pair by the quadrant.
template <class D>
typename D::reg reduced_sincos(typename D::reg a, typename D::reg& sin_r, typename D::reg& cos_r) {
  using reg = typename D::reg;
  const reg q = D::round(D::mul(a, D::set1(0.63661977236758134308)));
  reg r = D::fnmadd(q, D::set1(1.57079632673412561417e+00), a);
  r = D::fnmadd(q, D::set1(6.07710050630396597660e-11), r);
  r = D::fnmadd(q, D::set1(2.02226624879595063154e-21), r);
  const reg r2 = D::mul(r, r);
  reg s = D::set1(1.0 / 1307674368000.0);  // 1/15!
  s = D::fmadd(s, r2, D::set1(-1.0 / 6227020800.0));
  s = D::fmadd(s, r2, D::set1(1.0 / 39916800.0));
  s = D::fmadd(s, r2, D::set1(-1.0 / 362880.0));
  s = D::fmadd(s, r2, D::set1(1.0 / 5040.0));
  s = D::fmadd(s, r2, D::set1(-1.0 / 120.0));
  s = D::fmadd(s, r2, D::set1(1.0 / 6.0));
  sin_r = D::fnmadd(D::mul(s, r2), r, r);  // r - r³(1/6 - ...)
  reg c = D::set1(1.0 / 87178291200.0);  // 1/14!
  c = D::fmadd(c, r2, D::set1(-1.0 / 479001600.0));
  c = D::fmadd(c, r2, D::set1(1.0 / 3628800.0));
  c = D::fmadd(c, r2, D::set1(-1.0 / 40320.0));
  c = D::fmadd(c, r2, D::set1(1.0 / 720.0));
  c = D::fmadd(c, r2, D::set1(-1.0 / 24.0));
  c = D::fmadd(c, r2, D::set1(0.5));
  cos_r = D::fnmadd(c, r2, D::set1(1.0));  // 1 - r²(1/2 - ...)
  return q;
}

// x: [M, row_stride], head h of row m at x + m*row_stride + h*head_stride; positions: [M].
// The frequencies are computed once in double; per row, `angles(position, freq, pairs, cos, sin)`
// fills the table once for every head (angles in double: position × frequency reaches 1e5 rad at
// long contexts), and `rotate(head, pairs, cos, sin)` turns each head with its pairing. The table
// has room for `table_pad`-rounded pairs, for vector stores.
template <typename Angles, typename Rotate>
void rope_rows(float* x, std::size_t M, std::size_t row_stride, std::size_t n_heads, std::size_t head_stride,
               std::size_t rot_dim, const int* positions, double theta, RopePairing pairing,
               std::size_t parallel_elements, std::size_t table_pad, Angles angles, Rotate rotate_interleaved,
               Rotate rotate_halves) {
  const std::size_t pairs = rot_dim / 2;
  if (pairs == 0) return;
  const std::size_t padded = (pairs + table_pad - 1) / table_pad * table_pad;
  Scratch freq_storage(2 * pairs);  // doubles
  auto* freq = reinterpret_cast<double*>(freq_storage.data());
  for (std::size_t i = 0; i < pairs; ++i)
    freq[i] = std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(rot_dim));
  const Rotate rotate = pairing == RopePairing::interleaved ? rotate_interleaved : rotate_halves;
  const auto rows = static_cast<long long>(M);
#pragma omp parallel if (M * n_heads * rot_dim >= parallel_elements)
  {
    Scratch table(2 * padded);
    float* cos_t = table.data();
    float* sin_t = table.data() + padded;
#pragma omp for schedule(static)
    for (long long m = 0; m < rows; ++m) {
      angles(positions[m], freq, pairs, cos_t, sin_t);
      for (std::size_t h = 0; h < n_heads; ++h)
        rotate(x + static_cast<std::size_t>(m) * row_stride + h * head_stride, pairs, cos_t, sin_t);
    }
  }
}

}  // namespace
}  // namespace infercost
