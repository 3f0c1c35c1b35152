#include "infercost/kv_cache.hpp"

#include <fmt/format.h>

namespace infercost {

KvCache::KvCache(std::vector<KvStream> streams, DType dtype, std::size_t capacity)
    : streams_(std::move(streams)), dtype_(dtype), capacity_(capacity) {
  ensure_fits_in_memory(static_cast<double>(capacity) * static_cast<double>(bytes_per_token()),
                        fmt::format("a KV cache of {} tokens × {} bytes per token", capacity, bytes_per_token()));
  for (const auto& s : streams_) data_.emplace_back(capacity, s.width, dtype);
}

std::size_t KvCache::elements_per_token() const {
  std::size_t n = 0;
  for (const auto& s : streams_) n += s.width;
  return n;
}

std::size_t KvCache::allocated_bytes() const {
  std::size_t n = 0;
  for (const auto& m : data_) n += m.bytes();
  return n;
}

std::size_t KvCache::push() {
  if (size_ == capacity_)
    throw std::length_error("KV cache full: capacity " + std::to_string(capacity_) + " tokens");
  return size_++;
}

void KvCache::write(std::size_t stream, std::size_t token, const float* row) {
  Matrix& m = data_[stream];
  for (std::size_t i = 0; i < m.cols(); ++i) m.set(token, i, row[i]);
}

void KvCache::read(std::size_t stream, std::size_t token, float* row) const {
  const Matrix& m = data_[stream];
  for (std::size_t i = 0; i < m.cols(); ++i) row[i] = m.at(token, i);
}

}  // namespace infercost
