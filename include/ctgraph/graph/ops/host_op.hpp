#pragma once
//! ops::host_op<Fn>: a user callable run on the host over pinned host buffers. Not capturable,
//! so it forms (part of) a fallback region. The output has input 0's shape and dtype. Fn is a
//! default-constructible type with `void operator()(const ctg::host_args&) const`.
#include <type_traits>

#include <ctgraph/graph/launch.hpp>
#include <ctgraph/graph/ops/copy.hpp>

namespace ctg::ops {

template <class Fn>
struct host_op {
  static constexpr std::string_view name = "host_op";
  static constexpr builtin_op builtin = builtin_op::host;
  static constexpr op_traits traits{.capturable = false,
                                    .where = executes_on::host,
                                    .output_memory = memory_class::pinned_host};
  static constexpr output_result output(std::span<const tensor_desc> in) {
    if (in.empty()) return output_result::fail(errc::wrong_arity);
    return {in[0]};
  }
  //! The runtime calls this with the host buffers: `Fn{}(args)`.
  static void call(const host_args& a) {
    static_assert(std::is_invocable_v<const Fn&, const host_args&>, "ctgraph: the callable of ops::host_op<Fn> cannot be called with the host buffers. Give Fn 'void operator()(const ctg::host_args&) const'.");
    if constexpr (std::is_invocable_v<const Fn&, const host_args&>) Fn{}(a);
  }
};

}  // namespace ctg::ops
