#pragma once
//! Collectives (sum): all_reduce, reduce_scatter<Ranks>, all_gather<Ranks>. Their inputs must be
//! in symmetric memory. The rank count is a template argument because shapes are static. The
//! runtime runs them through the executor's collectives (runtime/nccl/symmetric_collectives.hpp),
//! which need NCCL; `prepare` checks the communicator's rank count once, at instantiation.
#include <ctgraph/graph/op.hpp>

namespace ctg::ops {

namespace detail {
//! Traits and hooks of a collective planned for `Ranks` ranks (0: any count, all_reduce).
template <int Ranks>
struct collective {
  static constexpr op_traits traits{.symmetric_inputs = true, .reads_peers = true};
  template <class Launch>
  static void prepare(const Launch& l) { check_ranks(l, Ranks); }
};
}  // namespace detail

//! Not in place (op_traits::in_place is false): the one-shot kernel writes its output while
//! peers still read its input.
struct all_reduce : detail::collective<0> {
  static constexpr std::string_view name = "all_reduce";
  static constexpr output_result output(std::span<const tensor_desc> in) {
    if (in.size() != 1) return output_result::fail(errc::wrong_arity);
    return {in[0]};
  }
  template <class Launch>
  static void launch(const Launch& l) { launch_all_reduce(l); }
};

//! Splits dimension 0 across `Ranks` ranks after summing.
template <int Ranks>
struct reduce_scatter : detail::collective<Ranks> {
  static_assert(Ranks > 0, "ctgraph: ops::reduce_scatter needs at least one rank.");
  static constexpr int divisor = Ranks > 0 ? Ranks : 1;  // a rejected Ranks gives no second error
  static constexpr std::string_view name = "reduce_scatter";
  static constexpr output_result output(std::span<const tensor_desc> in) {
    if (in.size() != 1) return output_result::fail(errc::wrong_arity);
    if (in[0].rank == 0 || in[0].dims[0] % divisor != 0) return output_result::fail(errc::shape_mismatch);
    output_result r{in[0]};
    r.out.dims[0] /= divisor;
    return r;
  }
  template <class Launch>
  static void launch(const Launch& l) { launch_reduce_scatter(l); }
};

//! Concatenates dimension 0 of `Ranks` ranks.
template <int Ranks>
struct all_gather : detail::collective<Ranks> {
  static_assert(Ranks > 0, "ctgraph: ops::all_gather needs at least one rank.");
  static constexpr std::string_view name = "all_gather";
  static constexpr output_result output(std::span<const tensor_desc> in) {
    if (in.size() != 1) return output_result::fail(errc::wrong_arity);
    if (in[0].rank == 0) return output_result::fail(errc::shape_mismatch);
    output_result r{in[0]};
    r.out.dims[0] *= Ranks;
    return r;
  }
  template <class Launch>
  static void launch(const Launch& l) { launch_all_gather(l); }
};

}  // namespace ctg::ops
