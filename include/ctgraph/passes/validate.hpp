#pragma once
//! validate: infers every node's output with its op's output rule, in schedule order, and
//! checks what the types could not: an empty graph, inputs that do not fit the op.
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
  return g.error;
}

}  // namespace ctg
