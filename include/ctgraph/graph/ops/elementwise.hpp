#pragma once
//! Elementwise ops: unary (relu, gelu, scale) and binary (add, mul). Output = input 0's shape
//! and dtype; all may run in place. Each op is its own functor: `float operator()(float...)`,
//! computed in float for every dtype. The runtime runs it with `launch_elementwise`
//! (runtime/ops/elementwise.cuh), and fusion can compose the same functors.
#include <cmath>
#include <cstddef>

#include <ctgraph/graph/op.hpp>
#include <ctgraph/meta/host_device.hpp>

namespace ctg::ops {

//! What every elementwise op shares: traits, the output rule and the launch hook. `Op` is the
//! op itself, a functor of `Arity` floats.
template <class Op, int Arity>
struct elementwise {
  static constexpr int arity = Arity;
  static constexpr op_traits traits{.in_place = true};
  static constexpr output_result output(std::span<const tensor_desc> in) {
    if (in.size() != std::size_t(Arity)) return output_result::fail(errc::wrong_arity);
    for (const tensor_desc& t : in) {
      if (t.dtype != in[0].dtype) return output_result::fail(errc::dtype_mismatch);
      if (!t.same_shape(in[0])) return output_result::fail(errc::shape_mismatch);
    }
    return {in[0]};
  }
  template <class Launch>
  static void launch(const Launch& l) { launch_elementwise(l, Op{}); }
};

//! `x < 0 ? 0 : x` rather than fmaxf, so that NaN propagates.
struct relu : elementwise<relu, 1> {
  static constexpr std::string_view name = "relu";
  CTG_HOST_DEVICE float operator()(float x) const { return x < 0.f ? 0.f : x; }
};
//! GELU, tanh approximation.
struct gelu : elementwise<gelu, 1> {
  static constexpr std::string_view name = "gelu";
  CTG_HOST_DEVICE float operator()(float x) const {
    constexpr float sqrt_2_over_pi = 0.7978845608028654f;
    return 0.5f * x * (1.f + tanhf(sqrt_2_over_pi * (x + 0.044715f * x * x * x)));
  }
};
//! y = x * Num / Den (integers, so the factor is an exact template argument on every compiler).
template <int Num, int Den = 1>
struct scale : elementwise<scale<Num, Den>, 1> {
  static_assert(Den != 0, "ctgraph: ops::scale has a zero denominator. Use scale<Num, Den> with Den != 0.");
  static constexpr std::string_view name = "scale";
  static constexpr double factor = Den != 0 ? double(Num) / double(Den) : 0.0;  // 0: asserted above
  CTG_HOST_DEVICE float operator()(float x) const { return x * float(factor); }
};
struct add : elementwise<add, 2> {
  static constexpr std::string_view name = "add";
  CTG_HOST_DEVICE float operator()(float x, float y) const { return x + y; }
};
struct mul : elementwise<mul, 2> {
  static constexpr std::string_view name = "mul";
  CTG_HOST_DEVICE float operator()(float x, float y) const { return x * y; }
};

}  // namespace ctg::ops
