#pragma once
//! ops::silu: x * sigmoid(x) (SiLU, "swish"), the activation of Llama's gated MLP. A built-in op
//! in one struct: its traits, output rule and launch hook come with `elementwise`; it adds its
//! name and its functor.
#include <cmath>

#include <ctgraph/graph/ops/elementwise.hpp>

namespace ctg::ops {

struct silu : elementwise<silu, 1> {
  static constexpr std::string_view name = "silu";
  //! The gate of a gated product, silu(x) * y, which a product can compute in its prologue.
  static constexpr op_traits traits = [] {
    op_traits t = elementwise<silu, 1>::traits;
    t.as_prologue = prologue::gate;
    return t;
  }();
  //! x / (1 + 2^t), t = -log2(e) x, in the logistic form gelu uses (meta/fast_math.hpp): an expf
  //! and an IEEE division bounded the down projection's gated prologue (8 silus per 64
  //! multiply-adds). tests/runtime/fused.cu checks it against the function in double.
  CTG_HOST_DEVICE float operator()(float x) const { return over_one_plus_exp2(x, x * float(-log2_e)); }
  //! With the GPU's approximate exponential and division (plan_options::fast_math).
  CTG_HOST_DEVICE float fast(float x) const { return x * fast_sigmoid(x); }
};

}  // namespace ctg::ops
