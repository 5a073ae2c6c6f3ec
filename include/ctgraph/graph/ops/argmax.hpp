#pragma once
//! ops::argmax: the index of the largest element of each row (the last dimension), as greedy
//! decoding picks a token: x [..., V] (f32, f16 or bf16) gives i32 [...] ([1] for a vector). Ties
//! go to the first index and a NaN counts as the largest, as torch.argmax does. On the device, so
//! a decode step's token feeds the next step with no trip to the host. The runtime runs it with
//! `launch_argmax` (runtime/ops/argmax.cuh).
#include <ctgraph/graph/op.hpp>

namespace ctg::ops {

struct argmax {
  static constexpr std::string_view name = "argmax";
  static constexpr op_traits traits{};
  static constexpr output_result output(std::span<const tensor_desc> in) {
    if (in.size() != 1) return output_result::fail(errc::wrong_arity);
    const tensor_desc& x = in[0];
    if (!is_floating(x.dtype)) return output_result::fail(errc::dtype_mismatch);
    if (x.rank == 0 || x.dims[x.rank - 1] > 0x7fffffff) return output_result::fail(errc::shape_mismatch);
    tensor_desc out{dtype_id::i32, x.rank == 1 ? 1 : x.rank - 1, {1}};
    for (int i = 0; i + 1 < x.rank; ++i) out.dims[i] = x.dims[i];
    return {out};
  }
  template <class Launch>
  static void launch(const Launch& l) { launch_argmax(l); }
};

}  // namespace ctg::ops
