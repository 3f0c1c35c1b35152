#include "scratch.hpp"

#include <cstdlib>
#include <new>

namespace infercost {

Scratch::Scratch(std::size_t floats) {
  const std::size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
  data_ = static_cast<float*>(std::aligned_alloc(64, bytes == 0 ? 64 : bytes));
  if (data_ == nullptr) throw std::bad_alloc();
}

Scratch::~Scratch() { std::free(data_); }

}  // namespace infercost
