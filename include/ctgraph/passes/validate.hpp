#pragma once
//! validate: infers every node's output with its op's output rule, in schedule order, and
//! checks what the types could not: an empty graph, inputs that do not fit the op, a view of an
//! opaque output, a collective dtype without a symmetric kernel.
#include <ctgraph/passes/flat_graph.hpp>

namespace ctg {

template <std::size_t N>
constexpr status validate(flat_graph<N>& g) {
  if (g.error.code != errc::ok) return g.error;
  if (g.step_count == 0) return g.error = {errc::empty_graph, -1};
  for (int s = 0; s < g.step_count; ++s) {
    node_desc& d = g.nodes[g.schedule[s]];
    if (d.in_place && !d.traits.in_place) return g.error = {errc::in_place_not_allowed, g.schedule[s]};
    if (d.output == nullptr) continue;  // output given by a run-time builder
    tensor_desc in[max_inputs]{};
    for (int k = 0; k < d.input_count; ++k) in[k] = g.nodes[d.inputs[k]].out;
    output_result r = d.output(std::span<const tensor_desc>(in, std::size_t(d.input_count)));
    if (r.error != errc::ok) return g.error = {r.error, g.schedule[s]};
    d.out = r.out;
  }
  for (int s = 0; s < g.step_count; ++s) {
    const node_desc& d = g.nodes[g.schedule[s]];
    if (d.traits.view && d.input_count > 0) {
      const node_desc& src = g.nodes[d.inputs[0]];
      if (src.kind == tensor_kind::node && src.traits.result == op_result::opaque)
        return g.error = {errc::view_of_opaque, g.schedule[s], d.inputs[0]};
    }
    // NCCL's symmetric kernels sum f32, f16 and bf16; other dtypes fall back silently.
    if (d.traits.symmetric_inputs)
      for (int k = 0; k < d.input_count; ++k) {
        dtype_id t = g.nodes[d.inputs[k]].out.dtype;
        if (t != dtype_id::f32 && t != dtype_id::f16 && t != dtype_id::bf16)
          return g.error = {errc::collective_dtype, g.schedule[s]};
      }
  }
  return g.error;
}

}  // namespace ctg
