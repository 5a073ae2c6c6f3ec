#pragma once
//! ops::slice<Dim, Begin, End>: elements Begin .. End-1 of dimension Dim (negative Dim counts
//! from the end), the other dimensions whole. A view only where its traits can prove the result
//! is the start of the source's bytes: Dim == 0 and Begin == 0 (the first rows; the planner's
//! views alias the source's pointer, with no offset). Every other slice is a copy (one strided
//! kernel: `launch_slice`, runtime/ops/strided_copy.cuh). A slice of a later dimension whose
//! leading dimensions are all 1 is also contiguous: reshape them away first
//! (ops::reshape, a view) and slice dimension 0 to get a view.
#include <cstdint>

#include <ctgraph/graph/op.hpp>

namespace ctg::ops {

template <int Dim, std::int64_t Begin, std::int64_t End>
struct slice {
  static_assert(0 <= Begin && Begin < End,
                "ctgraph: ops::slice needs 0 <= Begin < End (a non-empty range of the dimension). Write e.g. ops::slice<-1, 0, 768>.");
  static constexpr std::string_view name = "slice";
  static constexpr bool view = Dim == 0 && Begin == 0;
  static constexpr op_traits traits{.view = view};
  static constexpr int dim = Dim;
  static constexpr std::int64_t begin = Begin, end = End;
  static constexpr output_result output(std::span<const tensor_desc> in) {
    if (in.size() != 1) return output_result::fail(errc::wrong_arity);
    const int d = ctg::detail::normalize_dim(Dim, in[0].rank);
    if (d < 0 || End > in[0].dims[d]) return output_result::fail(errc::shape_mismatch);
    tensor_desc out = in[0];
    out.dims[d] = End > Begin ? End - Begin : 1;  // 1: asserted above
    return {out};
  }
  template <class Launch>
  static void launch(const Launch& l) {
    if constexpr (!view) launch_slice(l, ctg::detail::normalize_dim(Dim, l.input_desc[0].rank), Begin);
  }
};

}  // namespace ctg::ops
