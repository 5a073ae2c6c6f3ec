#pragma once
//! view_owners: the tensor whose buffer holds each tensor's output: itself, or for a view its
//! source's owner. Reads the schedule and the ops' view trait; writes `owner`. (Where in that
//! buffer a view starts is `detail::offset_in_storage`, from the graph.)
#include <ctgraph/passes/flat_graph.hpp>

namespace ctg {

template <std::size_t N>
constexpr status view_owners(flat_graph<N>& g) {
  if (g.error.code != errc::ok) return g.error;
  for (int i = 0; i < g.tensor_count; ++i) g.owner[i] = i;
  for (int s = 0; s < g.step_count; ++s) {  // a view's source is scheduled (or a leaf) before it
    const int v = g.schedule[s];
    if (g.nodes[v].op->traits.view) g.owner[v] = g.owner[g.nodes[v].inputs[0]];
  }
  return g.error;
}

}  // namespace ctg
