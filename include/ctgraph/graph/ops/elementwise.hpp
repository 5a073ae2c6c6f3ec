#pragma once
//! Elementwise ops: unary (relu, gelu, scale) and binary (add, mul). Output = input 0's shape
//! and dtype; all may run in place.
#include <ctgraph/graph/op.hpp>

namespace ctg::ops {

namespace detail {
struct elementwise {
  static constexpr op_traits traits{.in_place = true};
  static constexpr output_result same_as_inputs(std::span<const tensor_desc> in, std::size_t arity) {
    if (in.size() != arity) return output_result::fail(errc::wrong_arity);
    for (const tensor_desc& t : in) {
      if (t.dtype != in[0].dtype) return output_result::fail(errc::dtype_mismatch);
      if (!t.same_shape(in[0])) return output_result::fail(errc::shape_mismatch);
    }
    return {in[0]};
  }
};
template <std::size_t Arity>
struct elementwise_n : elementwise {
  static constexpr output_result output(std::span<const tensor_desc> in) { return same_as_inputs(in, Arity); }
};
}  // namespace detail

struct relu : detail::elementwise_n<1> {
  static constexpr std::string_view name = "relu";
  static constexpr builtin_op builtin = builtin_op::relu;
};
//! GELU, tanh approximation.
struct gelu : detail::elementwise_n<1> {
  static constexpr std::string_view name = "gelu";
  static constexpr builtin_op builtin = builtin_op::gelu;
};
//! y = x * Num / Den (integers, so the factor is an exact template argument on every compiler).
template <int Num, int Den = 1>
struct scale : detail::elementwise_n<1> {
  static_assert(Den != 0, "ctgraph: ops::scale has a zero denominator. Use scale<Num, Den> with Den != 0.");
  static constexpr std::string_view name = "scale";
  static constexpr builtin_op builtin = builtin_op::scale;
  static constexpr double factor = Den != 0 ? double(Num) / double(Den) : 0.0;  // 0: asserted above
};
struct add : detail::elementwise_n<2> {
  static constexpr std::string_view name = "add";
  static constexpr builtin_op builtin = builtin_op::add;
};
struct mul : detail::elementwise_n<2> {
  static constexpr std::string_view name = "mul";
  static constexpr builtin_op builtin = builtin_op::mul;
};

}  // namespace ctg::ops
