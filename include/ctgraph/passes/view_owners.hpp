#pragma once
//! view_owners: the tensor whose buffer holds each tensor's output: itself, or for a view its
//! source's owner, and where in that buffer its output starts. Reads the schedule, the ops' view
//! trait and validate's `view_offset`; writes `owner` and `owner_offset`.
#include <ctgraph/passes/flat_graph.hpp>

namespace ctg {

template <std::size_t N>
constexpr status view_owners(flat_graph<N>& g) {
  if (g.error.code != errc::ok) return g.error;
  for (int i = 0; i < g.tensor_count; ++i) g.owner[i] = i, g.owner_offset[i] = 0;
  for (int s = 0; s < g.step_count; ++s) {  // a view's source is scheduled (or a leaf) before it
    const int v = g.schedule[s];
    if (!g.nodes[v].traits.view) continue;
    const int u = g.nodes[v].inputs[0];
    g.owner[v] = g.owner[u];
    g.owner_offset[v] = g.owner_offset[u] + g.view_offset[v];
  }
  return g.error;
}

}  // namespace ctg
