#pragma once
//! Collectives (sum): all_reduce, reduce_scatter<Ranks>, all_gather<Ranks>. Their inputs must be
//! in symmetric memory. The rank count is a template argument because shapes are static.
#include <ctgraph/graph/op.hpp>

namespace ctg::ops {

namespace detail {
inline constexpr op_traits collective_traits{.symmetric_inputs = true, .reads_peers = true};
}  // namespace detail

struct all_reduce {
  static constexpr std::string_view name = "all_reduce";
  static constexpr builtin_op builtin = builtin_op::all_reduce;
  //! Not in place: the one-shot kernel writes its output while peers still read its input.
  static constexpr op_traits traits = detail::collective_traits;
  static constexpr output_result output(std::span<const tensor_desc> in) {
    if (in.size() != 1) return output_result::fail(errc::wrong_arity);
    return {in[0]};
  }
};

//! Splits dimension 0 across `Ranks` ranks after summing.
template <int Ranks>
struct reduce_scatter {
  static_assert(Ranks > 0, "ctgraph: ops::reduce_scatter needs at least one rank.");
  static constexpr int divisor = Ranks > 0 ? Ranks : 1;  // a rejected Ranks gives no second error
  static constexpr std::string_view name = "reduce_scatter";
  static constexpr builtin_op builtin = builtin_op::reduce_scatter;
  static constexpr int ranks = Ranks;
  static constexpr op_traits traits = detail::collective_traits;
  static constexpr output_result output(std::span<const tensor_desc> in) {
    if (in.size() != 1) return output_result::fail(errc::wrong_arity);
    if (in[0].rank == 0 || in[0].dims[0] % divisor != 0) return output_result::fail(errc::shape_mismatch);
    output_result r{in[0]};
    r.out.dims[0] /= divisor;
    return r;
  }
};

//! Concatenates dimension 0 of `Ranks` ranks.
template <int Ranks>
struct all_gather {
  static_assert(Ranks > 0, "ctgraph: ops::all_gather needs at least one rank.");
  static constexpr std::string_view name = "all_gather";
  static constexpr builtin_op builtin = builtin_op::all_gather;
  static constexpr int ranks = Ranks;
  static constexpr op_traits traits = detail::collective_traits;
  static constexpr output_result output(std::span<const tensor_desc> in) {
    if (in.size() != 1) return output_result::fail(errc::wrong_arity);
    if (in[0].rank == 0) return output_result::fail(errc::shape_mismatch);
    output_result r{in[0]};
    r.out.dims[0] *= Ranks;
    return r;
  }
};

}  // namespace ctg::ops
