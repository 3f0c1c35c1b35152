#include "infercost/buffer.hpp"

#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstring>
#include <algorithm>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>

#include "infercost/config.hpp"

namespace infercost {
namespace {
constexpr std::size_t kAlignment = 64;
constexpr std::size_t kHugePage = std::size_t{2} << 20;
std::atomic<std::size_t> g_current{0};
std::atomic<std::size_t> g_peak{0};
}  // namespace

AllocationStats allocation_stats() { return {g_current.load(), g_peak.load()}; }

namespace {

// A "Key: value kB" line of a /proc file, in bytes (other lines, such as "Name: infercost", skipped).
std::optional<std::size_t> proc_kib_field(const char* file, std::string_view wanted) {
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(wanted) || line.size() <= wanted.size() || line[wanted.size()] != ':') continue;
    std::istringstream value(line.substr(wanted.size() + 1));
    std::size_t kib = 0;
    if (value >> kib) return kib * 1024;
  }
  return std::nullopt;
}

std::optional<std::size_t> read_number(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::size_t value = 0;
  if (in >> value) return value;
  return std::nullopt;  // absent, or "max" (cgroup v2: no limit)
}

std::size_t stat_field(const std::filesystem::path& file, std::string_view wanted) {
  std::ifstream in(file);
  std::string key;
  std::size_t value = 0;
  while (in >> key >> value)
    if (key == wanted) return value;
  return 0;
}

// The room under one cgroup directory's limit, when it has one.
std::optional<std::size_t> room_in(const std::filesystem::path& dir, bool v2) {
  // v1 reports "no limit" as a huge page-aligned number (2^63 rounded down).
  constexpr std::size_t kNoLimit = std::size_t{1} << 62;
  const auto limit = read_number(dir / (v2 ? "memory.max" : "memory.limit_in_bytes"));
  if (!limit || *limit >= kNoLimit) return std::nullopt;
  const std::size_t usage = read_number(dir / (v2 ? "memory.current" : "memory.usage_in_bytes")).value_or(0);
  const std::size_t reclaimable = stat_field(dir / "memory.stat", v2 ? "inactive_file" : "total_inactive_file");
  const std::size_t used = usage > reclaimable ? usage - reclaimable : 0;
  return *limit > used ? *limit - used : 0;
}

// The smallest room under the cgroup `relative` (a path in the hierarchy mounted at `mount`) and
// each of its ancestors: a parent's limit binds its children too.
std::optional<std::size_t> room_up_to(const std::filesystem::path& mount, const std::string& relative, bool v2) {
  std::optional<std::size_t> room = room_in(mount, v2);
  std::filesystem::path dir = mount;
  for (const std::filesystem::path& part : std::filesystem::path(relative).relative_path()) {
    if (part == "..") return room;
    dir /= part;
    if (const auto r = room_in(dir, v2)) room = std::min(room.value_or(*r), *r);
  }
  return room;
}

}  // namespace

std::optional<std::size_t> cgroup_memory_room(const std::string& proc_cgroup,
                                              const std::filesystem::path& cgroup_root) {
  std::istringstream lines(proc_cgroup);
  std::optional<std::size_t> room;
  const auto take = [&](std::optional<std::size_t> r) {
    if (r) room = std::min(room.value_or(*r), *r);
  };
  for (std::string line; std::getline(lines, line);) {
    // "hierarchy-id:controllers:path"; v2's line is "0::path".
    const auto first = line.find(':'), second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    const std::string path = line.substr(second + 1);
    if (controllers.empty()) {
      take(room_up_to(cgroup_root, path, true));
      take(room_up_to(cgroup_root / "unified", path, true));
    } else if (("," + controllers + ",").find(",memory,") != std::string::npos) {
      take(room_up_to(cgroup_root / "memory", path, false));
    }
  }
  return room;
}

AvailableMemory available_memory() {
  AvailableMemory a;
  // No /proc: fall back on the free physical pages.
  a.bytes = proc_kib_field("/proc/meminfo", "MemAvailable")
                .value_or(static_cast<std::size_t>(sysconf(_SC_AVPHYS_PAGES)) *
                          static_cast<std::size_t>(sysconf(_SC_PAGESIZE)));
  a.limited_by = "MemAvailable";
  std::ifstream self("/proc/self/cgroup");
  const std::string cgroups((std::istreambuf_iterator<char>(self)), std::istreambuf_iterator<char>());
  if (const auto room = cgroup_memory_room(cgroups, "/sys/fs/cgroup"); room && *room < a.bytes) {
    a.bytes = *room;
    a.limited_by = "cgroup memory limit";
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_AS, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    // Each thread a run starts later maps address space that is never resident: its stack and
    // glibc's malloc arena (64 MiB reserved per arena on 64-bit).
    constexpr std::size_t kPerThread = (std::size_t{64} + 8) << 20;
    const std::size_t threads = static_cast<std::size_t>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
    const std::size_t mapped = proc_kib_field("/proc/self/status", "VmSize").value_or(0) + threads * kPerThread;
    const std::size_t room = limit.rlim_cur > mapped ? limit.rlim_cur - mapped : 0;
    if (room < a.bytes) {
      a.bytes = room;
      a.limited_by = "address-space limit (ulimit -v)";
    }
  }
  return a;
}

std::size_t available_memory_bytes() { return available_memory().bytes; }

void ensure_fits_in_memory(double bytes, const std::string& what) {
  const AvailableMemory a = available_memory();
  const double available = static_cast<double>(a.bytes);
  if (bytes > available)
    throw ConfigError(fmt::format("{} needs {:.2f} GiB, more than the {:.2f} GiB this process has available "
                                  "({}); allowed: at most {:.2f} GiB",
                                  what, bytes / (1 << 30), available / (1 << 30), a.limited_by,
                                  available / (1 << 30)));
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
