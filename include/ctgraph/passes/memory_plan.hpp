#pragma once
//! The memory plan (lay_out_memory): offsets, arena sizes and lower bounds for every memory class,
//! in a memory_layout of its own beside the graph; how many buffers reuse memory is counted where
//! it is asked (count_memory_reuses), not planned.
//! An in-place chain is one interval (its storage); opaque and external buffers are not planned.
#include <ctgraph/passes/lower_bound.hpp>
#include <ctgraph/passes/offsets.hpp>

namespace ctg {

namespace detail {
//! Counts intervals that start in memory an earlier interval (dead before it starts) used: a
//! sweep over start steps that keeps the union of dead intervals' memory as sorted, disjoint
//! ranges (raw arrays, merged in place).
constexpr int count_reuses(std::span<const interval> xs) {
  const int n = int(xs.size());
  if (n == 0) return 0;
  const scratch<int> by_first_v(static_cast<std::size_t>(n)), by_last_v(static_cast<std::size_t>(n));
  const scratch<std::size_t> lo_v(static_cast<std::size_t>(n) + 1), hi_v(static_cast<std::size_t>(n) + 1);  // [0, ranges) in use
  int* by_first = by_first_v.data();
  int* by_last = by_last_v.data();
  std::size_t* lo = lo_v.data();  // freed ranges [lo, hi), sorted
  std::size_t* hi = hi_v.data();
  const interval* x = xs.data();
  for (int i = 0; i < n; ++i) by_first[i] = by_last[i] = i;
  sort_indices(by_first, n, [&](int a, int b) { return x[a].first < x[b].first; });
  sort_indices(by_last, n, [&](int a, int b) { return x[a].last < x[b].last; });
  int ranges = 0, dead = 0, reuses = 0;
  auto first_ending_after = [&](std::size_t v) {  // first range with hi > v
    int l = 0, r = ranges;
    while (l < r) {
      int m = (l + r) / 2;
      if (hi[m] > v) r = m;
      else l = m + 1;
    }
    return l;
  };
  for (int k = 0; k < n; ++k) {
    const interval& cur = x[by_first[k]];
    for (; dead < n && x[by_last[dead]].last < cur.first; ++dead) {
      std::size_t b = x[by_last[dead]].offset, e = b + x[by_last[dead]].bytes;
      int i = first_ending_after(b == 0 ? 0 : b - 1);  // ranges that touch or overlap [b, e)
      int j = i;
      for (; j < ranges && lo[j] <= e; ++j) {
        if (lo[j] < b) b = lo[j];
        if (hi[j] > e) e = hi[j];
      }
      // Replace ranges [i, j) by [b, e).
      const int shift = 1 - (j - i);
      if (shift > 0)
        for (int t = ranges - 1; t >= j; --t) lo[t + shift] = lo[t], hi[t + shift] = hi[t];
      else if (shift < 0)
        for (int t = j; t < ranges; ++t) lo[t + shift] = lo[t], hi[t + shift] = hi[t];
      lo[i] = b, hi[i] = e;
      ranges += shift;
    }
    const int i = first_ending_after(cur.offset);
    if (i < ranges && lo[i] < cur.offset + cur.bytes) ++reuses;
  }
  return reuses;
}
}  // namespace detail

//! The memory plan's results, apart from the graph (a decision about the graph, not a fact of it):
//! at compile time a constexpr variable much smaller than a copy of the flat graph, which the plan
//! refers to beside the graph (a copy of the graph costs nvcc about 1 s at 4,096 nodes).
template <std::size_t N>
struct memory_layout {
  std::size_t offset[N]{};  // by node, in its arena; meaningful for planned buffers (and their in-place takers)
  std::size_t arena_bytes[memory_class_count]{};
  std::size_t lower_bound[memory_class_count]{};
};

namespace detail {
//! The root of each buffer's in-place chain (no_index for views, fused members, graph inputs and
//! parameters).
//! Chains are built in schedule order, so a member's `shares` already has its root.
template <std::size_t N>
constexpr void chain_roots(const flat_graph<N>& g, int* root) {
  for (int i = 0; i < g.tensor_count; ++i) root[i] = no_index;
  for (int s = 0; s < g.step_count; ++s) {
    int v = g.schedule[s];
    if (g.owner[v] != v || detail::is_fused_member(g, v)) continue;
    root[v] = g.buffers[v].shares >= 0 ? root[g.buffers[v].shares] : v;
  }
}

//! The intervals of memory class c, in schedule order (an in-place chain is one interval, from its
//! first write until it is no longer busy: past its last read where parallel branches run on), with
//! offsets from `offset` where given, into `xs` (room for one a tensor), their number into `count`;
//! `slot_of` maps a chain's root to its interval. Returns how many outputs took over their input's
//! storage.
template <std::size_t N>
constexpr int class_intervals(const flat_graph<N>& g, int c, const int* root, int* slot_of, interval* xs, int& count,
                              const std::size_t* offset = nullptr) {
  int in_place = 0;
  count = 0;
  for (int s = 0; s < g.step_count; ++s) {
    int v = g.schedule[s];
    const buffer_desc& b = g.buffers[v];
    if (root[v] < 0 || b.memory != memory_class(c) || b.opaque) continue;
    if (root[v] == v) {
      slot_of[v] = count;
      xs[count++] = {b.lifetime.first, b.busy_until, align_up(b.bytes), offset ? offset[v] : 0};
    } else {
      interval& x = xs[slot_of[root[v]]];
      if (b.busy_until > x.last) x.last = b.busy_until;
      ++in_place;
    }
  }
  return in_place;
}
}  // namespace detail

namespace detail {
//! Calls fn(c, xs, in_place, root, slot_of) for each planned memory class c with its intervals
//! (see class_intervals; offsets from `offset` where given).
template <std::size_t N, class Fn>
constexpr void for_each_class(const flat_graph<N>& g, const std::size_t* offset, Fn fn) {
  const scratch<int> root(std::size_t(g.tensor_count) + 1), slot_of(std::size_t(g.tensor_count) + 1, no_index);  // chain_roots writes root
  chain_roots(g, root.data());
  bool used[memory_class_count]{};  // classes with a chain: only those are swept for intervals
  for (int v = 0; v < g.tensor_count; ++v)
    if (root[v] == v && !g.buffers[v].opaque) used[int(g.buffers[v].memory)] = true;
  const scratch<interval> xs(std::size_t(g.tensor_count) + 1);
  for (int c = 0; c < memory_class_count; ++c) {
    if (memory_class(c) == memory_class::external || !used[c]) continue;
    int count = 0;
    const int in_place = class_intervals(g, c, root.data(), slot_of.data(), xs.data(), count, offset);
    fn(c, std::span<interval>(xs.data(), std::size_t(count)), in_place, root.data(), slot_of.data());
  }
}
}  // namespace detail

//! The memory plan of a graph whose lifetimes are planned.
template <std::size_t N>
constexpr memory_layout<N> lay_out_memory(const flat_graph<N>& g) {
  memory_layout<N> m{};
  if (g.error.code != errc::ok) return m;
  detail::for_each_class(g, nullptr, [&](int c, std::span<interval> xs, int /*in_place*/, const int* root, const int* slot_of) {
    if (xs.empty()) return;
    m.arena_bytes[c] = assign_offsets(xs, search_budget(), &m.lower_bound[c]);
    const interval* x = xs.data();
    for (int i = 0; i < g.tensor_count; ++i)
      if (root[i] >= 0 && g.buffers[root[i]].memory == memory_class(c) && slot_of[root[i]] >= 0) m.offset[i] = x[slot_of[root[i]]].offset;
  });
  return m;
}

//! Buffers of memory class `c` (every class: -1) that start in memory an earlier, dead buffer used,
//! in-place outputs included. A statistic of the layout, counted where a query or a dump asks for
//! it: planning it too cost every compile a constant evaluation (nvcc ~0.3 s a front end at 4,096
//! nodes).
template <std::size_t N>
constexpr int count_memory_reuses(const flat_graph<N>& g, const memory_layout<N>& m, int c = -1) {
  int reuses = 0;
  if (g.error.code != errc::ok) return reuses;
  detail::for_each_class(g, m.offset, [&](int k, std::span<interval> xs, int in_place, const int*, const int*) {
    if (!xs.empty() && (c < 0 || c == k)) reuses += detail::count_reuses(xs) + in_place;
  });
  return reuses;
}

}  // namespace ctg
