#include "infercost/buffer.hpp"

#include <cstring>

namespace infercost {
namespace {
constexpr std::size_t kAlignment = 64;
std::atomic<std::size_t> g_current{0};
std::atomic<std::size_t> g_peak{0};
}  // namespace

AllocationStats allocation_stats() { return {g_current.load(), g_peak.load()}; }
void reset_allocation_peak() { g_peak.store(g_current.load()); }

namespace detail {

void* allocate_counted(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  const std::size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  void* p = std::aligned_alloc(kAlignment, rounded);
  if (p == nullptr) throw std::bad_alloc();
  std::memset(p, 0, rounded);  // touch every page: what is allocated is resident
  const std::size_t now = g_current.fetch_add(bytes) + bytes;
  std::size_t peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
  return p;
}

void free_counted(void* p, std::size_t bytes) noexcept {
  if (p == nullptr) return;
  g_current.fetch_sub(bytes);
  std::free(p);
}

}  // namespace detail
}  // namespace infercost
