#pragma once
//! check_plan: proves a plan is sound, independently of how the passes built it. Users can call
//! it too (at run time, or at compile time on small plans: it compares pairs of buffers).
//!  - the schedule is topological and holds every node once;
//!  - every node is in exactly one partition; partitions tile the schedule and are maximal;
//!  - lifetimes cover every read; outputs live to the end;
//!  - every planned offset is aligned and inside its arena;
//!  - buffers whose lifetimes overlap never overlap in memory (an in-place output takes over
//!    its input's storage at the input's last read);
//!  - each arena is at least its lower bound, and the lower bound is the peak of live bytes;
//!  - every collective reads symmetric memory; every buffer a fallback region writes is hoisted.
#include <ctgraph/plan/plan.hpp>

namespace ctg {

struct plan_violation {
  const char* what = nullptr;  // null: the plan is sound
  int node = -1;
  int other = -1;
  constexpr explicit operator bool() const { return what != nullptr; }
};

template <std::size_t N>
constexpr plan_violation check_plan(const plan<N>& p) {
  const flat_graph<N>& g = p.graph;
  if (g.error.code != errc::ok) return {"the plan carries an error", g.error.node};
  const int n = g.node_count;
  // Schedule
  int scheduled = 0;
  for (int v = 0; v < n; ++v) {
    bool is_node = g.nodes[v].kind == tensor_kind::node;
    if (!is_node) {
      if (g.step[v] != -1) return {"a graph input or parameter is scheduled", v};
      continue;
    }
    ++scheduled;
    if (g.step[v] < 0 || g.step[v] >= g.step_count || g.schedule[g.step[v]] != v)
      return {"a node is not in the schedule exactly once", v};
    for (int k = 0; k < g.nodes[v].input_count; ++k) {
      int u = g.nodes[v].inputs[k];
      if (u < 0 || u >= n) return {"an input index is out of range", v};
      if (g.nodes[u].kind == tensor_kind::node && g.step[u] >= g.step[v])
        return {"the schedule is not topological", v, u};
    }
  }
  if (scheduled != g.step_count) return {"the schedule length differs from the node count"};
  // Partitions
  int expect = 0;
  for (int i = 0; i < g.partition_count; ++i) {
    const partition_desc& q = g.partitions[i];
    if (q.first_step != expect || q.last_step < q.first_step) return {"partitions do not tile the schedule"};
    if (i > 0 && g.partitions[i - 1].kind == q.kind) return {"two neighbouring partitions have the same kind"};
    for (int s = q.first_step; s <= q.last_step; ++s) {
      int v = g.schedule[s];
      if (g.partition_of[v] != i) return {"a node is not in the partition that holds its step", v};
      if (g.nodes[v].traits.capturable != (q.kind == partition_kind::capturable))
        return {"a node is in a partition of the wrong kind", v};
    }
    expect = q.last_step + 1;
  }
  if (expect != g.step_count) return {"partitions do not cover the schedule"};
  // Lifetimes and offsets
  auto planned = [&](int v) {
    return g.nodes[v].kind == tensor_kind::node && g.owner[v] == v && !g.buffers[v].opaque &&
           g.buffers[v].memory != memory_class::external;
  };
  for (int v = 0; v < n; ++v) {
    if (g.nodes[v].kind != tensor_kind::node) continue;
    const buffer_desc& b = g.buffers[g.owner[v]];
    for (int k = 0; k < g.nodes[v].input_count; ++k) {
      const buffer_desc& in = g.buffers[g.owner[g.nodes[v].inputs[k]]];
      if (in.memory != memory_class::external && (in.lifetime.first > g.step[v] || in.lifetime.last < g.step[v]))
        return {"a buffer is not alive at a step that reads it", v, g.owner[g.nodes[v].inputs[k]]};
    }
    if (g.is_output[v] && b.memory != memory_class::external && b.lifetime.last != g.step_count - 1)
      return {"a graph output does not live to the end", v};
    if (!planned(v)) continue;
    if (b.lifetime.first != g.step[v]) return {"a buffer's lifetime does not start at its producer", v};
    if (b.offset % arena_alignment != 0) return {"an offset is not aligned", v};
    if (b.offset + b.bytes > g.arena_bytes[int(b.memory)]) return {"a buffer ends outside its arena", v};
  }
  // Placement and hoisting
  for (int v = 0; v < n; ++v) {
    const node_desc& d = g.nodes[v];
    if (d.kind != tensor_kind::node) continue;
    if (d.traits.symmetric_inputs)
      for (int k = 0; k < d.input_count; ++k)
        if (g.buffers[g.owner[d.inputs[k]]].memory != memory_class::symmetric)
          return {"a collective reads memory that is not symmetric", v, d.inputs[k]};
    bool in_fallback = g.partitions[g.partition_of[v]].kind == partition_kind::fallback;
    if (in_fallback && planned(v) && (!g.buffers[v].hoisted || g.buffers[v].hoisted_to != g.partition_of[v] - 1))
      return {"a buffer written in a fallback region is not hoisted to the partition before it", v};
  }
  // The in-place chain a buffer belongs to: its first buffer.
  auto root = [&](int v) {
    while (g.buffers[v].shares >= 0) v = g.buffers[v].shares;
    return v;
  };
  for (int a = 0; a < n; ++a) {
    if (!planned(a)) continue;
    const buffer_desc& x = g.buffers[a];
    if (x.shares >= 0) {
      const buffer_desc& s = g.buffers[x.shares];
      if (s.offset != x.offset || s.lifetime.last != x.lifetime.first)
        return {"an in-place buffer does not take over its input at the input's last read", a, x.shares};
    }
    for (int b = a + 1; b < n; ++b) {
      if (!planned(b)) continue;
      const buffer_desc& y = g.buffers[b];
      if (x.memory != y.memory || !x.lifetime.overlaps(y.lifetime)) continue;
      bool disjoint = x.offset + x.bytes <= y.offset || y.offset + y.bytes <= x.offset;
      if (disjoint) continue;
      // Within one in-place chain, storage passes from buffer to buffer at one step.
      bool handover = root(a) == root(b) && (x.lifetime.last == y.lifetime.first || y.lifetime.last == x.lifetime.first) &&
                      (x.shares == b || y.shares == a);
      if (!handover) return {"two buffers alive at one step overlap in memory", a, b};
    }
  }
  // Lower bounds: recount the live bytes of every step, one in-place chain counted once.
  int chain_last[N]{};
  for (int v = 0; v < n; ++v) chain_last[v] = -1;
  for (int v = 0; v < n; ++v)
    if (planned(v) && chain_last[root(v)] < g.buffers[v].lifetime.last) chain_last[root(v)] = g.buffers[v].lifetime.last;
  for (int c = 0; c < memory_class_count; ++c) {
    if (memory_class(c) == memory_class::external) continue;
    std::size_t peak = 0;
    for (int s = 0; s < g.step_count; ++s) {
      std::size_t live = 0;
      for (int v = 0; v < n; ++v)
        if (planned(v) && int(g.buffers[v].memory) == c && root(v) == v && g.buffers[v].lifetime.first <= s &&
            s <= chain_last[v])
          live += align_up(g.buffers[v].bytes);
      if (live > peak) peak = live;
    }
    if (peak != g.lower_bound[c]) return {"the lower bound is not the peak of live bytes"};
    if (g.arena_bytes[c] < g.lower_bound[c]) return {"an arena is smaller than its lower bound"};
  }
  return {};
}

}  // namespace ctg
