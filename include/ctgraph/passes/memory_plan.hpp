#pragma once
//! plan_memory: offsets, arena sizes, lower bounds and reuse count for every memory class.
//! An in-place chain is one interval (its storage); opaque and external buffers are not planned.
#include <vector>

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
  std::vector<int> by_first_v(static_cast<std::size_t>(n)), by_last_v(static_cast<std::size_t>(n));
  std::vector<std::size_t> lo_v(static_cast<std::size_t>(n) + 1), hi_v(static_cast<std::size_t>(n) + 1);
  int* by_first = by_first_v.data();
  int* by_last = by_last_v.data();
  std::size_t* lo = lo_v.data();  // freed ranges [lo, hi), sorted
  std::size_t* hi = hi_v.data();
  const interval* x = xs.data();
  for (int i = 0; i < n; ++i) by_first[i] = by_last[i] = i;
  std::sort(by_first, by_first + n, [&](int a, int b) { return x[a].first < x[b].first; });
  std::sort(by_last, by_last + n, [&](int a, int b) { return x[a].last < x[b].last; });
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
      while (j < ranges && lo[j] <= e) b = std::min(b, lo[j]), e = std::max(e, hi[j]), ++j;
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

template <std::size_t N>
constexpr status plan_memory(flat_graph<N>& g) {
  if (g.error.code != errc::ok) return g.error;
  const int n = g.node_count;
  int root[N]{};
  for (int i = 0; i < n; ++i) root[i] = -1;
  // Chains are built in schedule order, so a member's `shares` already has its root.
  for (int s = 0; s < g.step_count; ++s) {
    int v = g.schedule[s];
    if (g.owner[v] != v) continue;
    root[v] = g.buffers[v].shares >= 0 ? root[g.buffers[v].shares] : v;
  }
  for (int c = 0; c < memory_class_count; ++c) {
    int in_place = 0;
    g.arena_bytes[c] = g.lower_bound[c] = 0;
    if (memory_class(c) == memory_class::external) continue;
    std::vector<interval> xs;
    std::vector<int> slot_of(static_cast<std::size_t>(n), -1);
    for (int s = 0; s < g.step_count; ++s) {
      int v = g.schedule[s];
      const buffer_desc& b = g.buffers[v];
      if (root[v] < 0 || b.memory != memory_class(c) || b.opaque) continue;
      if (root[v] == v) {
        slot_of[std::size_t(v)] = int(xs.size());
        xs.push_back({b.lifetime.first, b.lifetime.last, align_up(b.bytes), 0});
      } else {
        interval& x = xs[std::size_t(slot_of[std::size_t(root[v])])];
        if (b.lifetime.last > x.last) x.last = b.lifetime.last;
        ++in_place;
      }
    }
    g.arena_bytes[c] = assign_offsets(xs);
    g.lower_bound[c] = lower_bound(xs);
    g.reuse_count[c] = detail::count_reuses(xs) + in_place;
    for (int i = 0; i < n; ++i)
      if (root[i] >= 0 && slot_of[std::size_t(root[i])] >= 0)
        g.buffers[i].offset = xs[std::size_t(slot_of[std::size_t(root[i])])].offset;
  }
  return g.error;
}

}  // namespace ctg
