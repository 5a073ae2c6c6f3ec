#pragma once
//! ops::cat<Dim>: its inputs (1 .. ctg::max_inputs (8), one dtype, equal in every dimension but Dim)
//! side by side along dimension Dim (negative counts from the end). Always a copy: one strided
//! kernel per input into its part of the output (`launch_cat`, runtime/ops/strided_copy.cuh).
#include <ctgraph/graph/op.hpp>

namespace ctg::ops {

template <int Dim>
struct cat {
  static constexpr std::string_view name = "cat";
  static constexpr op_traits traits{};
  static constexpr int dim = Dim;
  static constexpr output_result output(std::span<const tensor_desc> in) {
    if (in.empty()) return output_result::fail(errc::wrong_arity);
    const int d = ctg::detail::normalize_dim(Dim, in[0].rank);
    if (d < 0) return output_result::fail(errc::shape_mismatch);
    tensor_desc out = in[0];
    out.dims[d] = 0;
    for (const tensor_desc& t : in) {
      if (t.dtype != out.dtype) return output_result::fail(errc::dtype_mismatch);
      if (t.rank != out.rank) return output_result::fail(errc::shape_mismatch);
      for (int i = 0; i < t.rank; ++i)
        if (i != d && t.dims[i] != out.dims[i]) return output_result::fail(errc::shape_mismatch);
      out.dims[d] += t.dims[d];
    }
    return {out};
  }
  template <class Launch>
  static void launch(const Launch& l) { launch_cat(l, ctg::detail::normalize_dim(Dim, l.output_desc().rank)); }
};

}  // namespace ctg::ops
