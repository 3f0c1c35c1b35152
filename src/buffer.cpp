#include "infercost/buffer.hpp"

#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>

#include "infercost/config.hpp"

namespace infercost {
namespace {
constexpr std::size_t kAlignment = 64;
constexpr std::size_t kHugePage = std::size_t{2} << 20;
std::atomic<std::size_t> g_current{0};
std::atomic<std::size_t> g_peak{0};
}  // namespace

AllocationStats allocation_stats() { return {g_current.load(), g_peak.load()}; }

std::size_t available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  std::size_t kib = 0;
  while (meminfo >> key >> kib) {
    if (key == "MemAvailable:") return kib * 1024;
    meminfo.ignore(64, '\n');
  }
  // No /proc: fall back on the free physical pages.
  return static_cast<std::size_t>(sysconf(_SC_AVPHYS_PAGES)) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

void ensure_fits_in_memory(double bytes, const std::string& what) {
  const double available = static_cast<double>(available_memory_bytes());
  if (bytes > available)
    throw ConfigError(fmt::format("{} needs {:.2f} GiB, more than the {:.2f} GiB this machine has available "
                                  "(MemAvailable); allowed: at most {:.2f} GiB",
                                  what, bytes / (1 << 30), available / (1 << 30), available / (1 << 30)));
}

namespace detail {

void* allocate_pages(std::size_t bytes) {
  const std::size_t align = bytes >= kHugePage ? kHugePage : kAlignment;
  const std::size_t rounded = (bytes + align - 1) / align * align;
  void* p = std::aligned_alloc(align, rounded);
  if (p == nullptr) throw std::bad_alloc();
  // Only the whole huge pages: the tail stays on 4 KiB pages, so no more than `bytes` (rounded up
  // to 4 KiB) becomes resident. A hint, ignored where transparent huge pages are off.
  if (align == kHugePage) madvise(p, bytes / kHugePage * kHugePage, MADV_HUGEPAGE);
  return p;
}

void* allocate_counted(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  void* p = allocate_pages(bytes);
  std::memset(p, 0, bytes);  // touch every page: what is allocated is resident
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
