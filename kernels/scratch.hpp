// Working memory for the kernels compiled with instruction-set flags (kernels/avx2/, kernels/avx512/).
//
// Those translation units must not instantiate templates or inline functions that other code also
// instantiates (std::vector, Buffer<T>, std::sort, ...): the linker keeps one copy of each such
// function, and if it kept the one compiled with AVX-512 flags, portable code would run AVX-512
// instructions on a CPU without them. So they include intrinsics, <cstddef>/<cstdint>/<cmath> and
// infercost headers of plain structs, and take memory from here, whose members live in a portable
// translation unit.
#pragma once

#include <cstddef>

namespace infercost {

class Scratch {
 public:
  explicit Scratch(std::size_t floats);  // uninitialised, aligned as detail::allocate_pages gives it
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  float* data() const { return data_; }

 private:
  float* data_;
};

}  // namespace infercost
