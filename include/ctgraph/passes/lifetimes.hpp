#pragma once
//! lifetimes: one buffer per tensor that owns its storage: memory class (placement's), bytes,
//! opaque or planned, lifetime from its write to its last read (graph outputs to the last step),
//! and how long it stays busy: up to the last step placing a buffer that does not wait for all its
//! accesses (later than its last read only where parallel branches run on). A fused group's member needs none
//! (is_planned says no), and its root reads its leaves. Reads the schedule, `owner`, `memory`,
//! `is_output`, `fused_root`, `branch`, partitions and multi-output nodes' rules; writes `buffers`
//! (not `shares`, which hand_over decides).
#include <ctgraph/passes/branches.hpp>
#include <ctgraph/passes/fuse.hpp>

namespace ctg {

template <std::size_t N>
constexpr status lifetimes(flat_graph<N>& g) {
  if (g.error.code != errc::ok) return g.error;
  const int n = g.tensor_count, last_step = g.step_count - 1;
  for (int i = 0; i < n; ++i) {
    const node_desc& d = g.nodes[i];
    buffer_desc& b = g.buffers[i];
    b = buffer_desc{};
    b.node = i;
    b.bytes = detail::storage_bytes(g.nodes, i);
    if (d.kind != tensor_kind::node) {
      b.memory = memory_class::external;
      b.lifetime = {0, last_step};
    } else {
      b.memory = g.memory[i];
      b.opaque = d.op->traits.result == op_result::opaque;
      b.lifetime = {detail::written_at(g, i), g.step[i]};  // a sibling product is written at its lead's step
    }
  }
  // A read at step s keeps the owning buffer alive through s; outputs live to the end.
  for (int s = 0; s < g.step_count; ++s)
    detail::for_each_read(g, g.schedule[s], [&](int u) {
      buffer_desc& b = g.buffers[g.owner[u]];
      if (b.lifetime.last < s) b.lifetime.last = s;
    });
  for (int i = 0; i < n; ++i)
    if (g.is_output[i]) g.buffers[g.owner[i]].lifetime.last = last_step;
  for (int i = 0; i < n; ++i) g.buffers[i].busy_until = g.buffers[i].lifetime.last;
  if (const int most = detail::most_branches(g); most > 1) {
    const detail::scratch<int> clock = detail::branch_clocks(g);
    const detail::unordered_after after =
        detail::unordered_steps(clock.data(), g.step_count, most, [&](int t) { return is_planned(g, g.schedule[t]); });
    for (int s = 0; s < g.step_count; ++s) {
      const int v = g.schedule[s];
      const int until = after.last_unordered(g.branch[v], s);  // the same for each access at s
      detail::for_each_access(g, v, [&](int b) {
        if (g.buffers[b].busy_until < until) g.buffers[b].busy_until = until;
      });
    }
  }
  return g.error;
}

}  // namespace ctg
