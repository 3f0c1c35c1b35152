// Aligned, zero-initialised storage for weights, activations and caches. Every allocation is
// counted, so the harness can report the bytes the kernels actually hold beside the cost model.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <optional>
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

// Memory this process can still be given, and the limit that decides it: the smallest of
// MemAvailable (/proc/meminfo), the room left under its memory cgroup's limit (cgroup v2
// memory.max - memory.current, v1 memory.limit_in_bytes - memory.usage_in_bytes, on the cgroup and
// every ancestor; the inactive page cache counted as free, as the kernel reclaims it first) and
// the room left under its address-space limit (ulimit -v minus the VmSize it already has).
struct AvailableMemory {
  std::size_t bytes = 0;
  std::string limited_by;  // "MemAvailable", "cgroup memory limit" or "address-space limit (ulimit -v)"
};
AvailableMemory available_memory();
std::size_t available_memory_bytes();  // available_memory().bytes

// The room left under the memory cgroup limits of the process whose /proc/<pid>/cgroup reads
// `proc_cgroup`, with the cgroup file systems mounted under `cgroup_root` (v2 at the root or at
// <root>/unified, v1 at <root>/memory); nothing when no ancestor has a limit.
std::optional<std::size_t> cgroup_memory_room(const std::string& proc_cgroup, const std::filesystem::path& cgroup_root);

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
