// One layer's key/value cache: per token, one row in each of its streams ("k" and "v" for
// MHA/GQA/MQA, "latent" and "k_rope" for absorbed MLA), stored in the cache's dtype.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

#include "infercost/weights.hpp"

namespace infercost {

struct KvStream {
  std::string name;
  std::size_t width;  // elements per token
};

class KvCache {
 public:
  KvCache() = default;
  // Allocates room for `capacity` tokens up front, as a serving engine would.
  KvCache(std::vector<KvStream> streams, DType dtype, std::size_t capacity);

  DType dtype() const { return dtype_; }
  std::size_t size() const { return size_; }          // tokens stored
  std::size_t capacity() const { return capacity_; }
  const std::vector<KvStream>& streams() const { return streams_; }
  std::size_t elements_per_token() const;
  std::size_t bytes_per_token() const { return elements_per_token() * size_of(dtype_); }
  std::size_t allocated_bytes() const;               // capacity × bytes_per_token

  // Refuses a cache a layer cannot use, before the layer touches it: std::invalid_argument when the
  // streams are not `layout` (same names and widths, in order), std::length_error when there is no
  // room for `tokens` more.
  void check(const std::vector<KvStream>& layout, std::size_t tokens) const;
  // Appends `tokens` tokens; rows[s] points to their rows of stream s, [tokens, width of s]. Throws
  // std::length_error, having stored nothing, when they do not fit.
  void append(std::initializer_list<const float*> rows, std::size_t tokens);
  // Forgets the tokens from `tokens` on (no-op when it holds fewer): lets a benchmark decode again
  // and again at one depth.
  void truncate(std::size_t tokens) { size_ = std::min(size_, tokens); }
  // Fills the first `tokens` rows of every stream with values uniform in ±1 from `seed` and makes
  // them the cache's content: a benchmark reaches depth 32k this way, not by a slow prefill.
  // Throws std::length_error when `tokens` exceeds the capacity.
  void fill_random(std::size_t tokens, std::uint64_t seed);
  // Stores (rounded to the cache dtype) / loads as fp32 the row of `stream` for `token`.
  void write(std::size_t stream, std::size_t token, const float* row);
  void read(std::size_t stream, std::size_t token, float* row) const;
  // The first `tokens` rows of `stream` as fp32, [tokens, width]: prefill reads its keys and values
  // back from here so that it sees exactly what decode will (bf16-rounded in a bf16 cache).
  std::vector<float> rows(std::size_t stream, std::size_t tokens) const;
  // The raw storage of a stream: [capacity, width] in the cache dtype, for kernels.
  const Matrix& storage(std::size_t stream) const { return data_[stream]; }

 private:
  std::vector<KvStream> streams_;
  DType dtype_ = DType::f32;
  std::size_t capacity_ = 0, size_ = 0;
  std::vector<Matrix> data_;
};

}  // namespace infercost
