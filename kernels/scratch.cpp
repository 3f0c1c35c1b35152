#include "scratch.hpp"

#include <cstdlib>

#include "infercost/buffer.hpp"

namespace infercost {

Scratch::Scratch(std::size_t floats) {
  data_ = static_cast<float*>(detail::allocate_pages(floats == 0 ? 64 : floats * sizeof(float)));
}

Scratch::~Scratch() { std::free(data_); }

}  // namespace infercost
