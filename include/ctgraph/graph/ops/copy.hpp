#pragma once
//! Copies: device <-> pinned host, and into symmetric memory (memcpy nodes when captured).
#include <ctgraph/graph/op.hpp>

namespace ctg::ops {

namespace detail {
constexpr output_result identity_output(std::span<const tensor_desc> in) {
  if (in.size() != 1) return output_result::fail(errc::wrong_arity);
  return {in[0]};
}
}  // namespace detail

struct to_host {
  static constexpr std::string_view name = "to_host";
  static constexpr builtin_op builtin = builtin_op::to_host;
  static constexpr op_traits traits{.output_memory = memory_class::pinned_host, .copy = copy_kind::dma};
  static constexpr output_result output(std::span<const tensor_desc> in) { return detail::identity_output(in); }
};

struct to_device {
  static constexpr std::string_view name = "to_device";
  static constexpr builtin_op builtin = builtin_op::to_device;
  static constexpr op_traits traits{.output_memory = memory_class::device, .copy = copy_kind::dma};
  static constexpr output_result output(std::span<const tensor_desc> in) { return detail::identity_output(in); }
};

//! Copies into the symmetric arena; what the placement pass inserts for a collective input
//! whose storage the planner does not own.
struct to_symmetric {
  static constexpr std::string_view name = "to_symmetric";
  static constexpr builtin_op builtin = builtin_op::to_symmetric;
  static constexpr op_traits traits{.output_memory = memory_class::symmetric, .copy = copy_kind::dma};
  static constexpr output_result output(std::span<const tensor_desc> in) { return detail::identity_output(in); }
};

}  // namespace ctg::ops
