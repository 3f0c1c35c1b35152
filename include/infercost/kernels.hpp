// The implementations of each operator, one list for dispatch, tests and benches
// (kernels/kernels.inc). Every operator has its plain reference (kernels/reference/, the ground
// truth), fast versions per instruction set (kernels/portable/, avx2/, avx512/) and, where the
// library was found at build time, external ones (kernels/external/: OpenBLAS, oneDNN).
//
// Dispatch picks, per call, the first implementation in the list that the CPU supports (capped by
// INFERCOST_MAX_ISA), that accepts the call's element type and that is not external (external
// libraries are there to compare against); the reference comes last. INFERCOST_IMPL forces one by
// name per operator ("gemm=openblas,attention_decode=avx2"), as does `--impl` on the command line.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

#include "infercost/config.hpp"
#include "infercost/dtype.hpp"
#include "infercost/isa.hpp"
#include "infercost/ops/attention.hpp"
#include "infercost/ops/gemm.hpp"
#include "infercost/ops/mla.hpp"
#include "infercost/ops/moe.hpp"
#include "infercost/ops/norm_rope.hpp"
#include "infercost/weights.hpp"

namespace infercost {

// Whose element type selects among an operator's implementations.
enum class SelectedBy { weights, cache, fp32 };

// The operators. Each names its function type and whose element type selects its implementation:
// the weights' (gemm, swiglu_ffn, moe), the cache's (attention_decode, MLA), or none (fp32 only).
// Shapes and semantics are those of the reference declared in ops/*.hpp.
namespace op {
struct gemm {  // y = x Wᵀ: x [M, K], W [N, K], y [M, N]; prefill GEMM and decode GEMV (M = 1..16)
  static constexpr std::string_view name = "gemm";
  static constexpr SelectedBy selected_by = SelectedBy::weights;
  using Fn = void(const float* x, std::size_t M, const Matrix& W, float* y);
};
struct attention_prefill {  // causal MHA/GQA/MQA over T tokens, fp32 q, k, v
  static constexpr std::string_view name = "attention_prefill";
  static constexpr SelectedBy selected_by = SelectedBy::fp32;
  using Fn = void(const float* q, const float* k, const float* v, std::size_t T, const AttentionShape& shape,
                  float* out);
};
struct attention_decode {  // one query per head against L cached tokens
  static constexpr std::string_view name = "attention_decode";
  static constexpr SelectedBy selected_by = SelectedBy::cache;
  using Fn = void(const float* q, const Matrix& k_cache, const Matrix& v_cache, std::size_t L,
                  const AttentionShape& shape, float* out);
};
struct mla_prefill {  // absorbed MLA, causal over the first T cached tokens
  static constexpr std::string_view name = "mla_prefill";
  static constexpr SelectedBy selected_by = SelectedBy::cache;
  using Fn = void(const float* q_latent, const float* q_rope, const Matrix& latent, const Matrix& k_rope,
                  std::size_t T, const MlaShape& shape, float* out);
};
struct mla_decode {  // absorbed MLA, one query token against L cached latent rows
  static constexpr std::string_view name = "mla_decode";
  static constexpr SelectedBy selected_by = SelectedBy::cache;
  using Fn = void(const float* q_latent, const float* q_rope, const Matrix& latent, const Matrix& k_rope,
                  std::size_t L, const MlaShape& shape, float* out);
};
struct swiglu_ffn {  // y = W2 (silu(W1 x) ⊙ W3 x) over M tokens
  static constexpr std::string_view name = "swiglu_ffn";
  static constexpr SelectedBy selected_by = SelectedBy::weights;
  using Fn = void(const float* x, std::size_t M, const SwigluWeights& w, float* y);
};
struct moe {  // route, run each selected expert over its tokens, shared experts, combine
  static constexpr std::string_view name = "moe";
  static constexpr SelectedBy selected_by = SelectedBy::weights;
  using Fn = void(const float* x, std::size_t T, const MoeWeights& w, const MoeConfig& config, float* y);
};
struct rmsnorm {
  static constexpr std::string_view name = "rmsnorm";
  static constexpr SelectedBy selected_by = SelectedBy::fp32;
  using Fn = void(const float* x, std::size_t M, std::size_t n, const float* gamma, double eps, float* y);
};
struct rope {
  static constexpr std::string_view name = "rope";
  static constexpr SelectedBy selected_by = SelectedBy::fp32;
  using Fn = void(float* x, std::size_t M, std::size_t row_stride, std::size_t n_heads, std::size_t head_stride,
                  std::size_t rot_dim, const int* positions, double theta, RopePairing pairing);
};
struct swiglu {
  static constexpr std::string_view name = "swiglu";
  static constexpr SelectedBy selected_by = SelectedBy::fp32;
  using Fn = void(const float* gate, const float* up, std::size_t n, float* out);
};
}  // namespace op

// The element types an implementation accepts, as a bit set over DType.
class DTypes {
 public:
  constexpr DTypes(std::initializer_list<DType> types) {
    for (DType t : types) bits_ |= 1u << static_cast<unsigned>(t);
  }
  constexpr bool contains(DType t) const { return (bits_ >> static_cast<unsigned>(t)) & 1u; }

 private:
  unsigned bits_ = 0;
};

template <class Op>
struct Impl {
  std::string_view name;  // "reference", "portable", "avx2", "avx512", "openblas", ...
  Isa isa;                // what the CPU must support to run it
  DTypes dtypes;          // element types it accepts (see op::)
  bool external;          // a library kept for comparison: never chosen unless forced
  typename Op::Fn* fn;

  bool runnable() const { return isa_available(isa); }
};

// Every implementation of Op, in dispatch order (the reference last), whatever this CPU supports.
template <class Op>
std::span<const Impl<Op>> implementations();

// The implementation a call with elements of `dtype` runs: the forced one when INFERCOST_IMPL or
// force_implementations() names one for Op (an error if it cannot run here or does not accept
// `dtype`), else the first runnable, non-external one that accepts `dtype`.
template <class Op>
const Impl<Op>& selected(DType dtype = DType::f32);

// Parses "op=name[,op=name...]" and makes it the forced set, replacing the previous one (an empty
// spec clears it). Throws std::invalid_argument naming the unknown operator or implementation and
// listing the known ones. INFERCOST_IMPL is read the first time a kernel is selected.
void force_implementations(std::string_view spec);

// "gemm=avx512 attention_decode=avx512 ...": what each operator runs here for `dtype` weights and
// `cache` KV cache elements, for results and reports.
std::string selected_implementations(DType weights = DType::f32, DType cache = DType::f32);

// Calls through dispatch: what the layers use.
namespace kernels {
inline void gemm(const float* x, std::size_t M, const Matrix& W, float* y) {
  selected<op::gemm>(W.dtype()).fn(x, M, W, y);
}
inline void attention_prefill(const float* q, const float* k, const float* v, std::size_t T,
                              const AttentionShape& shape, float* out) {
  selected<op::attention_prefill>().fn(q, k, v, T, shape, out);
}
inline void attention_decode(const float* q, const Matrix& k_cache, const Matrix& v_cache, std::size_t L,
                             const AttentionShape& shape, float* out) {
  selected<op::attention_decode>(k_cache.dtype()).fn(q, k_cache, v_cache, L, shape, out);
}
inline void mla_prefill(const float* q_latent, const float* q_rope, const Matrix& latent, const Matrix& k_rope,
                        std::size_t T, const MlaShape& shape, float* out) {
  selected<op::mla_prefill>(latent.dtype()).fn(q_latent, q_rope, latent, k_rope, T, shape, out);
}
inline void mla_decode(const float* q_latent, const float* q_rope, const Matrix& latent, const Matrix& k_rope,
                       std::size_t L, const MlaShape& shape, float* out) {
  selected<op::mla_decode>(latent.dtype()).fn(q_latent, q_rope, latent, k_rope, L, shape, out);
}
inline void swiglu_ffn(const float* x, std::size_t M, const SwigluWeights& w, float* y) {
  selected<op::swiglu_ffn>(w.w1.dtype()).fn(x, M, w, y);
}
inline void moe(const float* x, std::size_t T, const MoeWeights& w, const MoeConfig& config, float* y) {
  selected<op::moe>(w.router.dtype()).fn(x, T, w, config, y);
}
inline void rmsnorm(const float* x, std::size_t M, std::size_t n, const float* gamma, double eps, float* y) {
  selected<op::rmsnorm>().fn(x, M, n, gamma, eps, y);
}
inline void rope(float* x, std::size_t M, std::size_t row_stride, std::size_t n_heads, std::size_t head_stride,
                 std::size_t rot_dim, const int* positions, double theta, RopePairing pairing) {
  selected<op::rope>().fn(x, M, row_stride, n_heads, head_stride, rot_dim, positions, theta, pairing);
}
inline void swiglu(const float* gate, const float* up, std::size_t n, float* out) {
  selected<op::swiglu>().fn(gate, up, n, out);
}
}  // namespace kernels

}  // namespace infercost
