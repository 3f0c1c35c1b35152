#include "infercost/weights.hpp"

#include <cmath>

namespace infercost {

Matrix::Matrix(std::size_t rows, std::size_t cols, DType dtype) : rows_(rows), cols_(cols), dtype_(dtype) {
  switch (dtype) {
    case DType::f32: f32_ = Buffer<float>(rows * cols); break;
    case DType::bf16: bf16_ = Buffer<bf16_t>(rows * cols); break;
    case DType::f8: f8_ = Buffer<f8_t>(rows * cols); break;
  }
}

float Matrix::at(std::size_t row, std::size_t col) const {
  const std::size_t i = row * cols_ + col;
  switch (dtype_) {
    case DType::f32: return f32_[i];
    case DType::bf16: return from_bf16(bf16_[i]);
    case DType::f8: return from_f8(f8_[i]);
  }
  return 0.0f;
}

void Matrix::set(std::size_t row, std::size_t col, float value) {
  const std::size_t i = row * cols_ + col;
  switch (dtype_) {
    case DType::f32: f32_[i] = value; break;
    case DType::bf16: bf16_[i] = to_bf16(value); break;
    case DType::f8: f8_[i] = to_f8(value); break;
  }
}

namespace {
// splitmix64 finaliser: a strong 64-bit mix, cheap enough to call once per element.
std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
}  // namespace

std::uint64_t mix_seed(std::uint64_t seed, std::string_view name) {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a over the name
  for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  return splitmix64(seed ^ h);
}

float uniform(std::uint64_t seed, std::uint64_t index) {
  const std::uint64_t bits = splitmix64(seed ^ splitmix64(index));
  return static_cast<float>(static_cast<double>(bits >> 40) * 0x1.0p-23 - 1.0);  // 24 bits -> [-1, 1)
}

void fill_uniform(float* dst, std::size_t n, std::uint64_t seed, float scale) {
#pragma omp parallel for schedule(static) if (n >= (1u << 16))
  for (std::size_t i = 0; i < n; ++i) dst[i] = scale * uniform(seed, i);
}

void fill_random(Matrix& w, std::uint64_t seed) {
  const float scale = std::sqrt(3.0f / static_cast<float>(w.cols()));
  const std::size_t n = w.rows() * w.cols();
  switch (w.dtype()) {
    case DType::f32: fill_uniform(w.f32(), n, seed, scale); break;
    case DType::bf16: {
      bf16_t* dst = w.bf16();
#pragma omp parallel for schedule(static) if (n >= (1u << 16))
      for (std::size_t i = 0; i < n; ++i) dst[i] = to_bf16(scale * uniform(seed, i));
      break;
    }
    case DType::f8: {
      f8_t* dst = w.f8();
#pragma omp parallel for schedule(static) if (n >= (1u << 16))
      for (std::size_t i = 0; i < n; ++i) dst[i] = to_f8(scale * uniform(seed, i));
      break;
    }
  }
}

Matrix random_matrix(std::size_t rows, std::size_t cols, DType dtype, std::uint64_t seed,
                     std::string_view name) {
  Matrix w(rows, cols, dtype);
  fill_random(w, mix_seed(seed, name));
  return w;
}

Matrix random_gain(std::size_t n, DType dtype, std::uint64_t seed, std::string_view name) {
  Matrix gain(1, n, dtype);
  const std::uint64_t stream = mix_seed(seed, name);
  for (std::size_t i = 0; i < n; ++i) gain.set(0, i, 1.0f + 0.25f * uniform(stream, i));
  return gain;
}

}  // namespace infercost
