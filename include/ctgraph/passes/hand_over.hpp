#pragma once
//! hand_over: the in-place decision. An output takes over its first input's storage when its op
//! allows in place (and reads no peer), and that read is the input's last: same memory class, same
//! aligned size, neither opaque, the input not a graph output. (A fused root's first input is the
//! leaf its input 0 leads to through members.) Where parallel branches run, every access of the
//! input's storage must also happen before the node (passes/branches.hpp). A node that asked for
//! in place and cannot have it is an error. Reads `owner`, `buffers`, `is_output`, `fused_root`,
//! `branch` and partitions; writes `buffers[].shares`.
#include <ctgraph/passes/branches.hpp>
#include <ctgraph/passes/fuse.hpp>

namespace ctg {

template <std::size_t N>
constexpr status hand_over(flat_graph<N>& g) {
  if (g.error.code != errc::ok) return g.error;
  bool holds_output[N]{};
  for (int i = 0; i < g.tensor_count; ++i)
    if (g.is_output[i]) holds_output[g.owner[i]] = true;
  // With parallel branches: the clocks, and each buffer's last access on each branch so far.
  const bool parallel = detail::most_branches(g) > 1;
  detail::scratch<int> clock, reach;
  if (parallel) clock = detail::branch_clocks(g), reach = detail::scratch<int>(std::size_t(g.tensor_count) * max_branches, no_index);
  auto waits_for_all = [&](int u, int s) {  // every access of u's storage so far happens before step s
    for (int b = 0; b < max_branches; ++b)
      if (reach[std::size_t(u * max_branches + b)] > clock[std::size_t(s * max_branches + b)]) return false;
    return true;
  };
  for (int s = 0; s < g.step_count; ++s) {
    const int v = g.schedule[s];
    const node_desc& d = g.nodes[v];
    g.buffers[v].shares = no_index;
    if (parallel) detail::for_each_access(g, v, [&](int b) { reach[std::size_t(b * max_branches + g.branch[v])] = s; });
    if (!d.op->traits.in_place || d.op->traits.reads_peers || d.op->traits.view || g.owner[v] != v || d.input_count == 0 ||
        detail::is_fused_member(g, v))
      continue;
    const int u = detail::in_place_source(g, v);
    if (u < 0) {  // a product's epilogue: its output may not overwrite its operands
      if (d.in_place) report(g, {errc::in_place_conflict, v});
      continue;
    }
    const buffer_desc &src = g.buffers[u], &out = g.buffers[v];
    const bool legal = g.owner[u] == u && g.nodes[u].kind == tensor_kind::node && !src.opaque && !out.opaque &&
                       !holds_output[u] && src.lifetime.last == s && src.memory == out.memory &&
                       align_up(src.bytes) == align_up(out.bytes) && (!parallel || waits_for_all(u, s));
    if (legal) g.buffers[v].shares = u;
    else if (d.in_place) report(g, {errc::in_place_conflict, v, u});
  }
  return g.error;
}

}  // namespace ctg
