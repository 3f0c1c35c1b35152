// Expands kernels/kernels.inc into one ordered list per operator, and selects from it.
#include <fmt/format.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "infercost/kernels.hpp"

namespace infercost {

namespace {
constexpr DTypes fp32_only{DType::f32};
constexpr DTypes fp32_bf16{DType::f32, DType::bf16};
constexpr DTypes any_dtype{DType::f32, DType::bf16, DType::f8};
}  // namespace

// Declares every implementation; a reference one is declared again, identically, by ops/*.hpp.
#define INFERCOST_KERNEL(OP, IMPL, ISA, DTYPES, EXTERNAL) \
  namespace IMPL {                                        \
  op::OP::Fn OP;                                          \
  }
#include "kernels.inc"
#undef INFERCOST_KERNEL

namespace {

template <class Op>
std::vector<Impl<Op>>& list_of() {
  static std::vector<Impl<Op>> list;
  return list;
}

void fill_lists() {
#define INFERCOST_KERNEL(OP, IMPL, ISA, DTYPES, EXTERNAL) \
  list_of<op::OP>().push_back(Impl<op::OP>{#IMPL, Isa::ISA, DTYPES, EXTERNAL, &IMPL::OP});
#include "kernels.inc"
#undef INFERCOST_KERNEL
}

void ensure_filled() {
  static std::once_flag once;
  std::call_once(once, fill_lists);
}

// Calls f(Op{}) for every operator, in the order of op::.
template <typename F>
void for_each_operator(F f) {
  f(op::gemm{}), f(op::attention_prefill{}), f(op::attention_decode{}), f(op::mla_prefill{});
  f(op::mla_decode{}), f(op::swiglu_ffn{}), f(op::moe{}), f(op::rmsnorm{}), f(op::rope{}), f(op::swiglu{});
}

std::string operator_names() {
  std::vector<std::string_view> names;
  for_each_operator([&]<class Op>(Op) { names.push_back(Op::name); });
  return fmt::format("{}", fmt::join(names, ", "));
}

// The names of Op's implementations, for error messages.
template <class Op>
std::string names_of() {
  std::vector<std::string_view> names;
  for (const auto& impl : implementations<Op>()) names.push_back(impl.name);
  return fmt::format("{}", fmt::join(names, ", "));
}

// The implementations of the operator called `name`, for validating a forced set.
bool has_implementation(std::string_view op_name, std::string_view impl_name, std::string& known) {
  bool found = false, op_found = false;
  const auto look = [&]<class Op>(Op) {
    if (Op::name != op_name) return;
    op_found = true;
    known = names_of<Op>();
    for (const auto& impl : implementations<Op>()) found = found || impl.name == impl_name;
  };
  for_each_operator(look);
  if (!op_found)
    throw std::invalid_argument(
        fmt::format("unknown operator '{}': expected one of {}", op_name, operator_names()));
  return found;
}

using ForcedSet = std::map<std::string, std::string, std::less<>>;

ForcedSet parse_forced(std::string_view spec) {
  ForcedSet forced;
  while (!spec.empty()) {
    const auto comma = spec.find(',');
    const std::string_view item = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
    if (item.empty()) continue;
    const auto eq = item.find('=');
    if (eq == std::string_view::npos)
      throw std::invalid_argument(fmt::format("'{}': expected operator=implementation", item));
    const std::string_view op_name = item.substr(0, eq), impl_name = item.substr(eq + 1);
    std::string known;
    if (!has_implementation(op_name, impl_name, known))
      throw std::invalid_argument(
          fmt::format("unknown implementation '{}' of {}: expected one of {}", impl_name, op_name, known));
    forced[std::string(op_name)] = std::string(impl_name);
  }
  return forced;
}

ForcedSet forced_from_environment() {
  const char* env = std::getenv("INFERCOST_IMPL");
  try {
    return parse_forced(env == nullptr ? "" : env);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(fmt::format("INFERCOST_IMPL: {}", e.what()));
  }
}

ForcedSet& forced_set() {
  static ForcedSet forced = forced_from_environment();
  return forced;
}

}  // namespace

template <class Op>
std::span<const Impl<Op>> implementations() {
  ensure_filled();
  return list_of<Op>();
}

template <class Op>
const Impl<Op>& selected(DType dtype) {
  const auto list = implementations<Op>();
  const ForcedSet& forced = forced_set();
  if (const auto it = forced.find(Op::name); it != forced.end()) {
    for (const auto& impl : list) {
      if (impl.name != it->second) continue;
      if (!impl.runnable())
        throw std::runtime_error(fmt::format("{}={} needs {}, and this CPU runs at most {}", Op::name, impl.name,
                                             to_string(impl.isa), to_string(max_isa())));
      if (!impl.dtypes.contains(dtype))
        throw std::runtime_error(
            fmt::format("{}={} does not take {} elements", Op::name, impl.name, to_string(dtype)));
      return impl;
    }
  }
  for (const auto& impl : list)
    if (!impl.external && impl.runnable() && impl.dtypes.contains(dtype)) return impl;
  throw std::logic_error(fmt::format("no implementation of {} takes {} elements", Op::name, to_string(dtype)));
}

void force_implementations(std::string_view spec) { forced_set() = parse_forced(spec); }

std::string selected_implementations(DType weights, DType cache) {
  std::vector<std::string> parts;
  for_each_operator([&]<class Op>(Op) {
    const DType dtype = Op::selected_by == SelectedBy::weights ? weights
                        : Op::selected_by == SelectedBy::cache ? cache
                                                               : DType::f32;
    parts.push_back(fmt::format("{}={}", Op::name, selected<Op>(dtype).name));
  });
  return fmt::format("{}", fmt::join(parts, " "));
}

#define INFERCOST_INSTANTIATE(OP)                                         \
  template std::span<const Impl<op::OP>> implementations<op::OP>();       \
  template const Impl<op::OP>& selected<op::OP>(DType);
INFERCOST_INSTANTIATE(gemm)
INFERCOST_INSTANTIATE(attention_prefill)
INFERCOST_INSTANTIATE(attention_decode)
INFERCOST_INSTANTIATE(mla_prefill)
INFERCOST_INSTANTIATE(mla_decode)
INFERCOST_INSTANTIATE(swiglu_ffn)
INFERCOST_INSTANTIATE(moe)
INFERCOST_INSTANTIATE(rmsnorm)
INFERCOST_INSTANTIATE(rope)
INFERCOST_INSTANTIATE(swiglu)
#undef INFERCOST_INSTANTIATE

}  // namespace infercost
