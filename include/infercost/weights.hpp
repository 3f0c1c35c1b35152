// Weight matrices and their seeded random initialisation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "infercost/buffer.hpp"
#include "infercost/dtype.hpp"

namespace infercost {

// A weight W of shape [rows = out_features, cols = in_features], row-major, applied as y = x Wᵀ
// (the layout of PyTorch and the public checkpoints). Stored in fp32, bf16 or fp8 (E4M3).
class Matrix {
 public:
  Matrix() = default;
  Matrix(std::size_t rows, std::size_t cols, DType dtype);

  std::size_t rows() const { return rows_; }
  std::size_t cols() const { return cols_; }
  DType dtype() const { return dtype_; }
  std::size_t bytes() const { return f32_.bytes() + bf16_.bytes() + f8_.bytes(); }
  bool empty() const { return rows_ == 0; }

  const float* f32() const { return f32_.data(); }       // valid when dtype() == f32
  const bf16_t* bf16() const { return bf16_.data(); }    // valid when dtype() == bf16
  const f8_t* f8() const { return f8_.data(); }          // valid when dtype() == f8
  float* f32() { return f32_.data(); }
  bf16_t* bf16() { return bf16_.data(); }
  f8_t* f8() { return f8_.data(); }
  float at(std::size_t row, std::size_t col) const;       // element as fp32, whatever the storage
  void set(std::size_t row, std::size_t col, float value);  // rounds to the storage type

 private:
  std::size_t rows_ = 0, cols_ = 0;
  DType dtype_ = DType::f32;
  Buffer<float> f32_;
  Buffer<bf16_t> bf16_;
  Buffer<f8_t> f8_;
};

// Reproducible random numbers: element i of stream `seed` is a pure function of (seed, i), so
// the same bytes come out on every run and at every thread count.
std::uint64_t mix_seed(std::uint64_t seed, std::string_view name);  // a named sub-stream
float uniform(std::uint64_t seed, std::uint64_t index);             // in [-1, 1)

// Fills with uniform values of variance 1/cols (range ±sqrt(3/cols)), so y = x Wᵀ keeps
// activations O(1) when x is O(1).
void fill_random(Matrix& w, std::uint64_t seed);
// dst[i] = scale · uniform(seed, i) for i < n: values in [-scale, scale).
void fill_uniform(float* dst, std::size_t n, std::uint64_t seed, float scale);

// A matrix of the given shape filled by fill_random from the named sub-stream of `seed`.
Matrix random_matrix(std::size_t rows, std::size_t cols, DType dtype, std::uint64_t seed,
                     std::string_view name);

// An RMSNorm gain [1, n] from the named sub-stream of `seed`: values uniform in [0.75, 1.25),
// around the 1 of a fresh checkpoint rather than equal to it, so a norm that ignores or swaps its
// gains changes the output a test sees.
Matrix random_gain(std::size_t n, DType dtype, std::uint64_t seed, std::string_view name);

}  // namespace infercost
