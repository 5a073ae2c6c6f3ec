#pragma once
//! plan_memory: offsets, arena sizes, lower bounds and reuse count for every memory class.
//! An in-place chain is one interval (its storage); opaque and external buffers are not planned.
#include <vector>

#include <ctgraph/passes/lower_bound.hpp>
#include <ctgraph/passes/offsets.hpp>

namespace ctg {

namespace detail {
//! Counts intervals that start in memory an earlier interval (dead before it starts) used.
constexpr int count_reuses(std::span<const interval> xs) {
  const int n = int(xs.size());
  std::vector<int> by_first(static_cast<std::size_t>(n)), by_last(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) by_first[std::size_t(i)] = by_last[std::size_t(i)] = i;
  std::sort(by_first.begin(), by_first.end(), [&](int a, int b) { return xs[std::size_t(a)].first < xs[std::size_t(b)].first; });
  std::sort(by_last.begin(), by_last.end(), [&](int a, int b) { return xs[std::size_t(a)].last < xs[std::size_t(b)].last; });
  struct range { std::size_t begin, end; };
  std::vector<range> freed;  // sorted, disjoint union of dead intervals' memory
  int reuses = 0;
  std::size_t dead = 0;
  for (int i : by_first) {
    const interval& x = xs[std::size_t(i)];
    for (; dead < by_last.size() && xs[std::size_t(by_last[dead])].last < x.first; ++dead) {
      const interval& y = xs[std::size_t(by_last[dead])];
      range r{y.offset, y.offset + y.bytes};
      std::vector<range> merged;
      bool put = false;
      for (const range& f : freed) {
        if (f.end < r.begin) merged.push_back(f);
        else if (r.end < f.begin) {
          if (!put) merged.push_back(r), put = true;
          merged.push_back(f);
        } else {
          r.begin = std::min(r.begin, f.begin), r.end = std::max(r.end, f.end);
        }
      }
      if (!put) merged.push_back(r);
      freed = merged;
    }
    for (const range& f : freed)
      if (f.begin < x.offset + x.bytes && x.offset < f.end) {
        ++reuses;
        break;
      }
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
