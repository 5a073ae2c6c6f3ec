#pragma once
//! lifetimes: one buffer per node output (a view shares its source's buffer), its memory
//! class, size and lifetime; then in-place reuse where the op allows it.
#include <ctgraph/passes/flat_graph.hpp>

namespace ctg {

template <std::size_t N>
constexpr status lifetimes(flat_graph<N>& g) {
  if (g.error.code != errc::ok) return g.error;
  const int n = g.node_count, last_step = g.step_count - 1;
  for (int i = 0; i < n; ++i) g.owner[i] = i;
  for (int s = 0; s < g.step_count; ++s) {
    int v = g.schedule[s];
    if (g.nodes[v].traits.view) g.owner[v] = g.owner[g.nodes[v].inputs[0]];
  }
  for (int i = 0; i < n; ++i) {
    const node_desc& d = g.nodes[i];
    buffer_desc& b = g.buffers[i];
    b = buffer_desc{};
    b.node = i;
    b.bytes = d.out.bytes();
    if (d.kind != tensor_kind::node) {
      b.memory = memory_class::external;
      b.lifetime = {0, last_step};
    } else {
      b.memory = g.memory[i];
      b.opaque = d.traits.result == op_result::opaque;
      b.lifetime = {g.step[i], g.step[i]};
    }
  }
  // A read at step s keeps the owning buffer alive through s; outputs live to the end.
  for (int s = 0; s < g.step_count; ++s) {
    const node_desc& d = g.nodes[g.schedule[s]];
    for (int k = 0; k < d.input_count; ++k) {
      buffer_desc& b = g.buffers[g.owner[d.inputs[k]]];
      if (b.lifetime.last < s) b.lifetime.last = s;
    }
  }
  bool owns_output[N]{};
  for (int i = 0; i < n; ++i)
    if (g.is_output[i]) {
      owns_output[g.owner[i]] = true;
      g.buffers[g.owner[i]].lifetime.last = last_step;
    }
  // In place: the output takes input 0's storage when that read is the input's last use.
  for (int s = 0; s < g.step_count; ++s) {
    int v = g.schedule[s];
    const node_desc& d = g.nodes[v];
    if (!d.traits.in_place || d.traits.reads_peers || d.traits.view || g.owner[v] != v || d.input_count == 0) continue;
    int u = d.inputs[0];
    const buffer_desc& src = g.buffers[u];
    bool legal = g.owner[u] == u && g.nodes[u].kind == tensor_kind::node && !src.opaque &&
                 !g.buffers[v].opaque && !owns_output[u] && src.lifetime.last == s &&
                 src.memory == g.buffers[v].memory && align_up(src.bytes) == align_up(g.buffers[v].bytes);
    if (legal) g.buffers[v].shares = u;
    else if (d.in_place) report(g, {errc::in_place_conflict, v, u});
  }
  return g.error;
}

}  // namespace ctg
