#pragma once
//! validate: infers every node's output with its op's output rule, in schedule order, and
//! checks what the types could not: an empty graph, inputs that do not fit the op, a view of an
//! opaque output, a collective dtype without a symmetric kernel, a host op reading memory that
//! is not on the host. It goes on past a bad node (skipping the nodes that read it, whose inputs
//! are then unknown), so one compile reports every bad node.
#include <ctgraph/passes/flat_graph.hpp>

namespace ctg {

template <std::size_t N>
constexpr status validate(flat_graph<N>& g) {
  if (g.error.code != errc::ok) return g.error;
  if (g.step_count == 0) return report(g, {errc::empty_graph, -1});
  bool unknown[N]{};  // the output could not be inferred
  tensor_desc in[max_inputs]{};  // a rule's inputs (each call writes and reads its own count)
  for (int s = 0; s < g.step_count; ++s) {
    const int v = g.schedule[s];
    node_desc& d = g.nodes[v];
    bool inputs_known = true;
    for (int k = 0; k < d.input_count; ++k) inputs_known = inputs_known && !unknown[d.inputs[k]];
    if (!inputs_known) {
      unknown[v] = true;
      continue;
    }
    errc e = errc::ok;
    if (d.ill_formed) e = errc::ill_formed;  // a static_assert has named it already
    else if (d.in_place && (!d.op->traits.in_place || d.op->traits.reads_peers)) e = errc::in_place_not_allowed;
    else if (d.op->output != nullptr) {  // null: the output was given by a run-time builder
      output_result r = d.op->output(detail::rule_inputs(g.nodes, v, in));
      e = r.error;
      if (e == errc::ok) d.out = r.out;
    }
    if (e != errc::ok) {
      report(g, {e, v});
      unknown[v] = true;
      continue;
    }
    if (d.op->traits.view && !d.op->traits.extra_output && d.input_count > 0) {  // an opaque op's buffer holds its outputs too
      const node_desc& src = g.nodes[d.inputs[0]];
      if (src.kind == tensor_kind::node && src.op->traits.result == op_result::opaque)
        report(g, {errc::view_of_opaque, v, d.inputs[0]});
    }
    // NCCL's symmetric kernels sum f32, f16 and bf16; other dtypes fall back silently.
    if (d.op->traits.symmetric_inputs)
      for (int k = 0; k < d.input_count; ++k) {
        if (!is_floating(g.nodes[d.inputs[k]].out.dtype)) {
          report(g, {errc::collective_dtype, v});
          break;
        }
      }
    // A host op dereferences its inputs on the host: a node's output must be in pinned host
    // memory, and a state tensor is on the device (a graph input or parameter read by a host op
    // is checked when it is bound).
    if (d.op->traits.where == executes_on::host)
      for (int k = 0; k < d.input_count; ++k) {
        const node_desc& src = g.nodes[detail::storage_of(g, d.inputs[k])];
        if ((src.kind == tensor_kind::node && src.op->traits.output_memory != memory_class::pinned_host) || src.kind == tensor_kind::state) {
          report(g, {errc::host_reads_device, v, d.inputs[k]});
          break;
        }
      }
  }
  return g.error;
}

}  // namespace ctg
