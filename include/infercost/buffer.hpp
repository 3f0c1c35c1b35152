// Aligned, zero-initialised storage for weights, activations and caches. Every allocation is
// counted, so the harness can report the bytes the kernels actually hold beside the cost model.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>
#include <string>
#include <type_traits>
#include <utility>

namespace infercost {

// Bytes currently held by all Buffers, and the most they ever held at once.
struct AllocationStats {
  std::size_t current_bytes;
  std::size_t peak_bytes;
};
AllocationStats allocation_stats();

// Memory the system can give without swapping (MemAvailable of /proc/meminfo).
std::size_t available_memory_bytes();
// Refuses, with a ConfigError naming `what` and both figures, an allocation of `bytes` that would
// not fit in available memory: called before allocating anything.
void ensure_fits_in_memory(double bytes, const std::string& what);

namespace detail {
// Uninitialised memory for `bytes` (> 0), released with std::free. 64-byte aligned; from 2 MiB
// up, aligned to 2 MiB and advised into transparent huge pages, which Debian enables only on
// request (madvise): on 4 KiB pages, GEMV read 15–25% fewer bytes per second here (bench_gemm,
// M = 1). Throws std::bad_alloc.
void* allocate_pages(std::size_t bytes);
void* allocate_counted(std::size_t bytes);
void free_counted(void* p, std::size_t bytes) noexcept;
}  // namespace detail

// A fixed-size array of T, aligned to 64 bytes (a cache line, a zmm register).
template <typename T>
class Buffer {
  static_assert(std::is_trivially_copyable_v<T>, "Buffer holds plain numbers");

 public:
  Buffer() = default;
  explicit Buffer(std::size_t n) : data_(static_cast<T*>(detail::allocate_counted(n * sizeof(T)))), size_(n) {}
  Buffer(const Buffer& other) : Buffer(other.size_) {
    for (std::size_t i = 0; i < size_; ++i) data_[i] = other.data_[i];
  }
  Buffer(Buffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  Buffer& operator=(Buffer other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    return *this;
  }
  ~Buffer() { detail::free_counted(data_, size_ * sizeof(T)); }

  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return size_; }
  std::size_t bytes() const { return size_ * sizeof(T); }
  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }
  T* begin() { return data_; }
  T* end() { return data_ + size_; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace infercost
