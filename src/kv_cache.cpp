#include "infercost/kv_cache.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

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

namespace {
std::string describe(const std::vector<KvStream>& layout) {
  std::vector<std::string> parts;
  for (const KvStream& s : layout) parts.push_back(fmt::format("{}[{}]", s.name, s.width));
  return fmt::format("{}", fmt::join(parts, ", "));
}
}  // namespace

void KvCache::check(const std::vector<KvStream>& layout, std::size_t tokens) const {
  const auto same = [](const KvStream& a, const KvStream& b) {
    return a.name == b.name && a.width == b.width;
  };
  if (!std::equal(streams_.begin(), streams_.end(), layout.begin(), layout.end(), same))
    throw std::invalid_argument(fmt::format("KV cache layout {} does not match the layer's {}",
                                            describe(streams_), describe(layout)));
  if (size_ + tokens > capacity_)
    throw std::length_error(
        fmt::format("KV cache full: {} + {} tokens exceed capacity {}", size_, tokens, capacity_));
}

void KvCache::append(std::initializer_list<const float*> rows, std::size_t tokens) {
  if (rows.size() != streams_.size())
    throw std::invalid_argument(
        fmt::format("append: {} row pointers for {} streams", rows.size(), streams_.size()));
  check(streams_, tokens);
  for (std::size_t t = 0; t < tokens; ++t, ++size_)
    for (std::size_t s = 0; s < streams_.size(); ++s)
      write(s, size_, rows.begin()[s] + t * streams_[s].width);
}

void KvCache::write(std::size_t stream, std::size_t token, const float* row) {
  Matrix& m = data_[stream];
  for (std::size_t i = 0; i < m.cols(); ++i) m.set(token, i, row[i]);
}

void KvCache::fill_random(std::size_t tokens, std::uint64_t seed) {
  if (tokens > capacity_)
    throw std::length_error(fmt::format("fill_random: {} tokens exceed capacity {}", tokens, capacity_));
  for (std::size_t s = 0; s < streams_.size(); ++s) {
    Matrix& m = data_[s];
    const std::uint64_t stream_seed = mix_seed(seed, streams_[s].name);
    const std::size_t n = tokens * m.cols();
#pragma omp parallel for schedule(static) if (n >= (1u << 16))
    for (std::size_t i = 0; i < n; ++i) m.set(i / m.cols(), i % m.cols(), uniform(stream_seed, i));
  }
  size_ = tokens;
}

void KvCache::read(std::size_t stream, std::size_t token, float* row) const {
  const Matrix& m = data_[stream];
  for (std::size_t i = 0; i < m.cols(); ++i) row[i] = m.at(token, i);
}

std::vector<float> KvCache::rows(std::size_t stream, std::size_t tokens) const {
  const std::size_t width = streams_[stream].width;
  std::vector<float> out(tokens * width);
  for (std::size_t t = 0; t < tokens; ++t) read(stream, t, out.data() + t * width);
  return out;
}

}  // namespace infercost
