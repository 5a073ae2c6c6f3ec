#pragma once
//! branches: independent nodes of a capturable partition become parallel branches of its CUDA
//! graph. The captured graph orders a node after the nodes it reads (a sibling product also after
//! its lead, which computes it: passes/fuse.hpp) and after the node before it on its branch, and
//! nothing else; a collective waits for every branch and every branch waits for
//! it (peers must meet collectives in one order); fallback regions run in schedule order.
//! A sibling product takes its lead's branch (the lead's launch computes it: it can run nowhere
//! else). Another node continues the branch of an input that is that branch's last node; else it
//! takes a branch whose last node it waits for already, or an unused one; else the branch whose
//! last node is oldest (at most `branch_limit` branches). So the happens-before order that the
//! memory plan and in-place hand-overs must respect, rather than the schedule's total order, is
//! known at compile time (`detail::branch_clocks`).
//! Reads the schedule, nodes, partitions, `sibling_lead` and `branch_limit`; writes `branch` and
//! `partitions[].branches`.
#include <ctgraph/passes/flat_graph.hpp>
#include <ctgraph/passes/scratch.hpp>

namespace ctg {

//! The most branches a partition can have (plan_options::branches).
inline constexpr int max_branches = 8;

namespace detail {

//! Whether a node waits for every branch of its partition and every branch waits for it.
constexpr bool joins_branches(const node_desc& d) { return d.op->traits.symmetric_inputs || d.op->traits.reads_peers; }

//! Walks the schedule as the captured graphs order it, keeping vector clocks by step:
//! clock[s * max_branches + b] is the last step on branch b that happens before (or is) step s,
//! at least the step before s's partition (every earlier partition has finished).
//! `choose(v, in, tail)` gives node v's branch from `in` (the clock its inputs give it) and
//! `tail` (each branch's last step so far in the partition, or no_index). Only the first `width`
//! entries of each clock are kept (the branches pass needs `branch_limit` of them: most of its
//! constant-evaluation cost is these loops).
template <std::size_t N, class Choose>
constexpr void walk_branches(const flat_graph<N>& g, int* clock, int width, Choose choose) {
  for (int p = 0; p < g.partition_count; ++p) {
    const partition_desc& q = g.partitions[p];
    int tail[max_branches];
    for (int b = 0; b < width; ++b) tail[b] = no_index;
    for (int s = q.first_step; s <= q.last_step; ++s) {
      const int v = g.schedule[s];
      int* c = clock + s * max_branches;
      const bool joins = q.kind == partition_kind::fallback || joins_branches(g.nodes[v]);
      for (int b = 0; b < width; ++b) c[b] = joins ? s - 1 : q.first_step - 1;
      auto merge = [&](int t) {
        for (int b = 0; b < width; ++b)
          if (clock[t * max_branches + b] > c[b]) c[b] = clock[t * max_branches + b];
      };
      if (!joins)
        for (int k = 0; k < g.nodes[v].input_count; ++k) {
          const int t = g.step[g.nodes[v].inputs[k]];
          if (t >= q.first_step) merge(t);
        }
      const int b = joins ? 0 : choose(v, c, tail);
      if (!joins && tail[b] >= 0) merge(tail[b]);
      c[b] = s;
      if (joins)
        for (int x = 0; x < width; ++x) tail[x] = s;
      else
        tail[b] = s;
    }
  }
}

//! The clocks of the plan's branches (see walk_branches): max_branches entries per step.
template <std::size_t N>
constexpr scratch<int> branch_clocks(const flat_graph<N>& g) {
  scratch<int> clock(std::size_t(g.step_count) * max_branches + 1);  // the walk writes what it reads
  walk_branches(g, clock.data(), max_branches, [&](int v, const int*, const int*) { return g.branch[v]; });
  return clock;
}

//! For each branch b and step t, the smallest clock entry on b from step t to the end, over the
//! steps that place a buffer (`places`: only a new buffer's first write can collide with memory
//! still in use; a step that writes state, a view or nothing of its own cannot); then
//! `last_unordered(b, s)`, the last such step that does not wait for step s on branch b (a binary
//! search: these minima never decrease with t).
struct unordered_after {
  scratch<int> min_after;  // [b * steps + t]
  int steps = 0;
  constexpr int last_unordered(int b, int s) const {
    const int* m = min_after.data() + b * steps;
    int lo = 0, hi = steps;  // the first t with m[t] >= s
    while (lo < hi) {
      const int mid = (lo + hi) / 2;
      if (m[mid] < s) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }
};
template <class Places>
constexpr unordered_after unordered_steps(const int* clock, int steps, int branches, Places places) {
  unordered_after u{scratch<int>(std::size_t(steps) * std::size_t(branches) + 1), steps};  // each entry written below
  for (int b = 0; b < branches; ++b) {
    int low = steps;
    for (int t = steps - 1; t >= 0; --t) {
      if (places(t) && clock[t * max_branches + b] < low) low = clock[t * max_branches + b];
      u.min_after[std::size_t(b * steps + t)] = low;
    }
  }
  return u;
}

//! The most branches any partition of g has.
template <std::size_t N>
constexpr int most_branches(const flat_graph<N>& g) {
  int most = 1;
  for (int p = 0; p < g.partition_count; ++p)
    if (g.partitions[p].branches > most) most = g.partitions[p].branches;
  return most;
}

}  // namespace detail

template <std::size_t N>
constexpr status branches(flat_graph<N>& g) {
  if (g.error.code != errc::ok) return g.error;
  for (int i = 0; i < g.tensor_count; ++i) g.branch[i] = g.nodes[i].kind == tensor_kind::node ? 0 : no_index;
  const int limit = g.branch_limit < 1 ? 1 : g.branch_limit > max_branches ? max_branches : g.branch_limit;
  for (int p = 0; p < g.partition_count; ++p) g.partitions[p].branches = 1;
  if (limit == 1) return g.error;
  const detail::scratch<int> clock(std::size_t(g.step_count) * max_branches + 1);  // the walk writes what it reads
  detail::walk_branches(g, clock.data(), limit, [&](int v, const int* in, const int* tail) {
    const node_desc& d = g.nodes[v];
    int b = g.sibling_lead[v] >= 0 ? g.branch[g.sibling_lead[v]] : no_index;  // where its lead's launch runs
    for (int k = 0; k < d.input_count && b < 0; ++k) {  // an input that ends its branch
      const int u = d.inputs[k], t = g.step[u];
      if (t >= 0 && g.partition_of[u] == g.partition_of[v] && tail[g.branch[u]] == t) b = g.branch[u];
    }
    for (int x = 0; x < limit && b < 0; ++x)  // a branch it waits for already, or an unused one
      if (tail[x] < 0 || in[x] >= tail[x]) b = x;
    if (b < 0) {  // the branch whose last node is oldest
      b = 0;
      for (int x = 1; x < limit; ++x)
        if (tail[x] < tail[b]) b = x;
    }
    g.branch[v] = b;
    partition_desc& q = g.partitions[g.partition_of[v]];
    if (b + 1 > q.branches) q.branches = b + 1;
    return b;
  });
  return g.error;
}

}  // namespace ctg
