#pragma once
//! Copies: device <-> pinned host, and into symmetric memory. The runtime runs them with
//! `launch_copy` (runtime/ops/copy.hpp): one cudaMemcpyAsync, a memcpy node when captured.
#include <ctgraph/graph/op.hpp>

namespace ctg::ops {

namespace detail {
constexpr output_result identity_output(std::span<const tensor_desc> in) {
  if (in.size() != 1) return output_result::fail(errc::wrong_arity);
  return {in[0]};
}
//! Traits and launch of a copy into `Memory`.
template <memory_class Memory>
struct copy_to {
  static constexpr op_traits traits{.output_memory = Memory, .copy = copy_kind::dma};
  static constexpr output_result output(std::span<const tensor_desc> in) { return identity_output(in); }
  template <class Launch>
  static void launch(const Launch& l) { launch_copy(l); }
};
}  // namespace detail

struct to_host : detail::copy_to<memory_class::pinned_host> {
  static constexpr std::string_view name = "to_host";
};

struct to_device : detail::copy_to<memory_class::device> {
  static constexpr std::string_view name = "to_device";
};

//! Copies into the symmetric arena; what the placement pass inserts for a collective input
//! whose storage the planner does not own.
struct to_symmetric : detail::copy_to<memory_class::symmetric> {
  static constexpr std::string_view name = "to_symmetric";
};

}  // namespace ctg::ops
