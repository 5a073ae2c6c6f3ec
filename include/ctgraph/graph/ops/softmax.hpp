#pragma once
//! ops::softmax: softmax over the last dimension, y = exp(x - max) / sum exp(x - max), computed in
//! float, output in x's dtype and shape. The runtime runs it with `launch_softmax`
//! (runtime/ops/softmax.cuh).
#include <ctgraph/graph/op.hpp>

namespace ctg::ops {

struct softmax {
  static constexpr std::string_view name = "softmax";
  static constexpr op_traits traits{.in_place = true};  // each row is read before it is written
  static constexpr output_result output(std::span<const tensor_desc> in) {
    if (in.size() != 1) return output_result::fail(errc::wrong_arity);
    if (in[0].rank == 0 || !is_floating(in[0].dtype)) return output_result::fail(in[0].rank == 0 ? errc::shape_mismatch : errc::dtype_mismatch);
    return {in[0]};
  }
  template <class Launch>
  static void launch(const Launch& l) { launch_softmax(l); }
};

}  // namespace ctg::ops
