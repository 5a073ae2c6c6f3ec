#pragma once
//! ops::split<Dim, Sizes...>: its input cut along dimension Dim (negative counts from the end)
//! into parts of Sizes..., which add up to that dimension: one output per part (PyTorch's
//! torch.split with a list of sizes). Output 0 is the node; name the others with
//! ctg::output<"k", qkv_split, 1>. Always copies, one strided kernel per part, into the node's
//! one buffer (`copy_slice`, runtime/ops/strided_copy.cuh).
#include <cstdint>

#include <ctgraph/graph/op.hpp>

namespace ctg::ops {

template <int Dim, std::int64_t... Sizes>
struct split {
  static_assert(sizeof...(Sizes) >= 2, "ctgraph: ops::split needs at least two sizes. Write e.g. ops::split<-1, 768, 768, 768>; one part is the input itself.");
  static_assert(((Sizes > 0) && ...), "ctgraph: ops::split's sizes must be positive.");
  static constexpr std::string_view name = "split";
  static constexpr op_traits traits{};
  static constexpr int outputs = int(sizeof...(Sizes));
  static constexpr std::int64_t sizes[sizeof...(Sizes)] = {Sizes...};

  static constexpr output_result output(std::span<const tensor_desc> in, int k) {
    if (in.size() != 1 || k < 0 || k >= outputs) return output_result::fail(errc::wrong_arity);
    const int d = ctg::detail::normalize_dim(Dim, in[0].rank);
    if (d < 0 || (Sizes + ...) != in[0].dims[d]) return output_result::fail(errc::shape_mismatch);
    tensor_desc out = in[0];
    out.dims[d] = sizes[k];
    return {out};
  }
  template <class Launch>
  static void launch(const Launch& l) {
    const std::span<const tensor_desc> in(l.input_desc, std::size_t(l.input_count));
    const int d = ctg::detail::normalize_dim(Dim, l.input_desc[0].rank);
    std::int64_t begin = 0;
    for (int k = 0; k < outputs; ++k) {
      copy_slice(l, "launch_split", l.template out<split, void>(k), output(in, k).out, d, begin);
      begin += sizes[k];
    }
  }
};

}  // namespace ctg::ops
