#pragma once
//! Elementwise ops: unary (relu, gelu, gelu_erf, scale) and binary (add, mul). Output = input 0's
//! shape and dtype; all may run in place (on input 0). Input 1 of a binary op has input 0's shape
//! or broadcasts over leading dimensions, numpy-style aligned at the end ([M,N] + [N],
//! [B,T,D] + [T,D], [M,N] * [1,N]): then it is a trailing part of input 0, and element i of the
//! output reads its element i % size. Each op is its own functor: `float operator()(float...)`,
//! computed in float for every dtype; an op may add an approximate `fast(float...)` form that
//! plan_options::fast_math picks. The runtime runs it with `launch_elementwise`
//! (runtime/ops/elementwise.cuh), and the plan fuses neighbours into one kernel composed of the
//! same functors (passes/fuse.hpp, runtime/ops/fused.cuh).
#include <cmath>
#include <cstddef>
#include <type_traits>

#include <ctgraph/graph/op.hpp>
#include <ctgraph/meta/fast_math.hpp>
#include <ctgraph/meta/host_device.hpp>

namespace ctg::ops {

namespace detail {
//! Whether `b` broadcasts to `a`'s shape with one index modulo b's size: b is no higher in rank,
//! and after its leading 1s its extents are a's last ones (b = a included).
constexpr bool broadcasts_to(const tensor_desc& b, const tensor_desc& a) {
  if (b.rank > a.rank) return false;  // numpy's output would gain b's leading dimensions
  int lead = 0;
  while (lead < b.rank && b.dims[lead] == 1) ++lead;
  for (int i = lead; i < b.rank; ++i)
    if (b.dims[i] != a.dims[a.rank - b.rank + i]) return false;
  return true;
}
}  // namespace detail

//! What every elementwise op shares: traits, the output rule and the launch hook. `Op` is the
//! op itself, a functor of `Arity` floats.
template <class Op, int Arity, activation AsEpilogue = activation::none, bool AsBias = false>
struct elementwise {
  static constexpr int arity = Arity;
  static constexpr op_traits traits{.in_place = true, .elementwise = true, .as_epilogue = AsEpilogue, .as_bias = AsBias};
  static constexpr output_result output(std::span<const tensor_desc> in) {
    if (in.size() != std::size_t(Arity)) return output_result::fail(errc::wrong_arity);
    const tensor_desc* t = in.data();  // not span's members: the plan and its proof run this for every node
    for (int i = 1; i < Arity; ++i)
      if (t[i].dtype != t[0].dtype) return output_result::fail(errc::dtype_mismatch);
    if (Arity == 2 && !detail::broadcasts_to(t[1], t[0]))
      return output_result::fail(detail::broadcasts_to(t[0], t[1]) ? errc::broadcast_order : errc::broadcast_shape);
    return {t[0]};
  }
  template <class Launch>
  static void launch(const Launch& l) { launch_elementwise(l, Op{}); }
};

//! `x < 0 ? 0 : x` rather than fmaxf, so that NaN propagates.
struct relu : elementwise<relu, 1, activation::relu> {
  static constexpr std::string_view name = "relu";
  CTG_HOST_DEVICE float operator()(float x) const { return x < 0.f ? 0.f : x; }
};
//! GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). GPT-2's `gelu_new`,
//! PyTorch's `GELU(approximate="tanh")`, and the form cuBLASLt's GELU epilogue computes
//! (`ops::epilogue::gelu`).
struct gelu : elementwise<gelu, 1, activation::gelu> {
  static constexpr std::string_view name = "gelu";
  //! Computed in its logistic form, the same function: 0.5 (1 + tanh(u)) = 1 / (1 + e^(-2u)), so
  //! gelu(x) = x / (1 + 2^t) with t = -2 log2(e) u, a polynomial in x with the constants folded,
  //! computed as over_one_plus_exp2 (meta/fast_math.hpp) computes it: none of the cancellation of
  //! 1 + tanh(u) where tanh(u) nears -1 (x below about -2, where PyTorch's form loses digits), and
  //! a third of tanhf's instructions (ew64, 16 gelus per element, is bound by them: 18.5 us with
  //! tanhf on the H200). tests/runtime/fused.cu checks it against the function in double.
  CTG_HOST_DEVICE float operator()(float x) const {
    constexpr double t_per_u = -2.0 * log2_e * 0.7978845608028654;  // -2 log2(e) sqrt(2/pi)
    constexpr float c1 = float(t_per_u), c3 = float(t_per_u * 0.044715);
    return over_one_plus_exp2(x, x * (c1 + c3 * (x * x)));
  }
  //! With the GPU's one-instruction tanh (plan_options::fast_math).
  CTG_HOST_DEVICE float fast(float x) const {
    constexpr float sqrt_2_over_pi = 0.7978845608028654f;
    return 0.5f * x * (1.f + fast_tanh(sqrt_2_over_pi * (x + 0.044715f * x * x * x)));
  }
};
//! GELU, exact: 0.5 x (1 + erf(x / sqrt(2))). PyTorch's default `nn.GELU()` (BERT, ViT); it
//! differs from the tanh form by up to about 5e-4, more than bf16 hides, so pick the one the
//! model was trained with. cuBLASLt has no epilogue for it: run it after the matmul.
struct gelu_erf : elementwise<gelu_erf, 1> {
  static constexpr std::string_view name = "gelu_erf";
  CTG_HOST_DEVICE float operator()(float x) const {
    constexpr float one_over_sqrt_2 = 0.7071067811865476f;
    return 0.5f * x * (1.f + erff(x * one_over_sqrt_2));
  }
};
namespace detail {
//! Num / Den, or 0 where a static_assert of ops::scale has spoken (so that it is the only error).
template <auto Num, auto Den>
constexpr double scale_factor() {
  if constexpr (std::is_arithmetic_v<decltype(Num)> && std::is_arithmetic_v<decltype(Den)>) return Den != 0 ? double(Num) / double(Den) : 0.0;
  else return 0.0;
}
}  // namespace detail

//! y = x * Num / Den. Each a number of any type: `scale<0.125f>` (a float template argument),
//! `scale<1, 8>` (integers, exact on every compiler), `scale<1.f, 3>`.
template <auto Num, auto Den = 1>
struct scale : elementwise<scale<Num, Den>, 1> {
  static constexpr bool numbers = std::is_arithmetic_v<decltype(Num)> && std::is_arithmetic_v<decltype(Den)>;
  static_assert(numbers, "ctgraph: ops::scale takes numbers. Write e.g. ops::scale<0.125f> or ops::scale<1, 8>.");
  static_assert(!numbers || detail::scale_factor<1, Den>() != 0.0,
                "ctgraph: ops::scale has a zero denominator. Use scale<Num, Den> with Den != 0.");
  static constexpr std::string_view name = "scale";
  static constexpr double factor = detail::scale_factor<Num, Den>();
  CTG_HOST_DEVICE float operator()(float x) const { return x * float(factor); }
};
struct add : elementwise<add, 2, activation::none, true> {
  static constexpr std::string_view name = "add";
  CTG_HOST_DEVICE float operator()(float x, float y) const { return x + y; }
};
struct mul : elementwise<mul, 2> {
  static constexpr std::string_view name = "mul";
  //! silu(x) * y, where x is an ops::silu read only here, can run in a product's prologue.
  static constexpr op_traits traits = [] {
    op_traits t = elementwise<mul, 2>::traits;
    t.as_prologue = prologue::gated;
    return t;
  }();
  CTG_HOST_DEVICE float operator()(float x, float y) const { return x * y; }
};

}  // namespace ctg::ops
