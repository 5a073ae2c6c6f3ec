#pragma once
//! A node's outputs beyond the first. `struct mean : ctg::output<"ln.mean", ln, 1> {};` names
//! output 1 of node `ln` (whose op has several outputs: ops::layer_norm_stats, ops::split). It is
//! a view into `ln`'s buffer at `ctg::output_offset`: the producer writes it, it runs nothing, and
//! the buffer lives as long as any of the node's outputs is read. Outputs nobody names are still
//! written (their storage is part of the buffer).
#include <ctgraph/graph/node.hpp>

namespace ctg {

namespace ops {
//! The op of a `ctg::output` node: output K of Op, applied to the node that runs Op.
template <int K, class Op>
struct extra_output {
  static_assert(multi_output_op<Op>, "ctgraph: ctg::output<Name, Node, K> names an output of a node whose op has several outputs; this node's op has one. Use the node itself.");
  static_assert(!multi_output_op<Op> || (0 < K && K < Op::outputs), "ctgraph: ctg::output<Name, Node, K> needs 0 < K < the op's number of outputs (output 0 is the node itself).");
  static constexpr std::string_view name = "output";
  static constexpr op_traits traits{.view = true, .extra_output = true};
  //! `in` is the producer's inputs (validate passes them for an extra output).
  static constexpr output_result output(std::span<const tensor_desc> in) {
    if constexpr (multi_output_op<Op> && 0 < K && K < Op::outputs) {
      output_result r = Op::output(in, K);
      r.view_offset = output_offset<Op>(in, K);
      return r;
    } else {
      return {};  // asserted above: one error, not a second from the plan
    }
  }
  template <class Launch>
  static void launch(const Launch&) {}  // the producer wrote it
};
}  // namespace ops

//! Output K (> 0) of node type `Node`, a tensor named `Name`.
template <fixed_string Name, class Node, int K>
struct output : node<Name, ops::extra_output<K, typename Node::op_type>, Node> {};

}  // namespace ctg
