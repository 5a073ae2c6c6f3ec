#pragma once
//! assign_offsets: a static memory plan for (lifetime, bytes) intervals.
//!
//! Several greedy orderings (by size, by area, by length, by conflict weight, by start), each
//! placing every interval into the smallest gap (best fit) that the already placed, time-
//! overlapping intervals leave; then a bounded search that moves the interval reaching the top
//! of the arena earlier in the best ordering and keeps the change when the arena does not grow.
//! It stops at the lower bound. Greedy by size alone (`greedy_by_size`) is the usual baseline.
#include <cstdint>
#include <span>
#include <type_traits>

#include <ctgraph/passes/interval.hpp>
#include <ctgraph/passes/lower_bound.hpp>
#include <ctgraph/passes/scratch.hpp>

namespace ctg {

namespace detail {

// Inner loops index raw pointers: under g++ constant evaluation std::vector::operator[] and
// std::sort cost many times a plain loop, and every allocation stays alive until the end. Working
// arrays are `scratch` (not zeroed): each is written before it is read.

//! For every interval, the intervals whose lifetimes overlap it (CSR), by a sweep over starts.
struct conflict_lists {
  scratch<int> begin, list;
};

constexpr conflict_lists find_conflicts(std::span<const interval> xs_span) {
  const interval* xs = xs_span.data();  // by pointer: span's operator[] is a call to a constant evaluator
  const int n = int(xs_span.size());
  const scratch<int> by_first_v(static_cast<std::size_t>(n)), active_v(static_cast<std::size_t>(n));
  int* by_first = by_first_v.data();
  int* active = active_v.data();
  for (int i = 0; i < n; ++i) by_first[i] = i;
  sort_indices(by_first, n, [&](int a, int b) { return xs[a].first < xs[b].first; });
  conflict_lists c{scratch<int>(static_cast<std::size_t>(n) + 1, 0), scratch<int>()};
  int* deg = c.begin.data();
  // Two sweeps: count, then fill (every entry of the list, once).
  for (int pass = 0; pass < 2; ++pass) {
    int* fill = nullptr;
    scratch<int> cursor;
    if (pass == 1) {
      for (int i = 0; i < n; ++i) deg[i + 1] += deg[i];
      c.list = scratch<int>(static_cast<std::size_t>(deg[n]));
      cursor = scratch<int>(static_cast<std::size_t>(n));
      for (int i = 0; i < n; ++i) cursor[std::size_t(i)] = deg[i];
      fill = cursor.data();
    }
    int* list = c.list.data();
    int count = 0;
    for (int k = 0; k < n; ++k) {
      int i = by_first[k];
      int keep = 0;
      for (int a = 0; a < count; ++a) {
        int j = active[a];
        if (xs[j].last < xs[i].first) continue;
        active[keep++] = j;
        if (pass == 0) ++deg[i + 1], ++deg[j + 1];
        else list[fill[i]++] = j, list[fill[j]++] = i;
      }
      count = keep;
      active[count++] = i;
    }
  }
  return c;
}

//! Places intervals order[start..n) by best fit into `offset`, keeping the offsets of
//! order[0..start) (whose arena is `arena`); returns the arena, or stops early once it exceeds
//! `cutoff` (returning a value above it). `busy` is scratch for n ranges.
struct range {
  std::size_t begin, end;
};

//! Sorts ranges by begin: insertion sort for the usual few neighbours, heapsort (m log m, no
//! recursion) where parallel branches or long lives give an interval many.
constexpr void sort_by_begin(range* r, int m) {
  if (m <= 16) {
    for (int i = 1; i < m; ++i)
      for (int q = i; q > 0 && r[q].begin < r[q - 1].begin; --q) {
        const range t = r[q];
        r[q] = r[q - 1], r[q - 1] = t;
      }
    return;
  }
  auto sift = [r](int root, int end) {  // max-heap on begin over r[0, end)
    for (int child = 2 * root + 1; child < end; root = child, child = 2 * root + 1) {
      if (child + 1 < end && r[child].begin < r[child + 1].begin) ++child;
      if (!(r[root].begin < r[child].begin)) return;
      const range t = r[root];
      r[root] = r[child], r[child] = t;
    }
  };
  for (int i = m / 2 - 1; i >= 0; --i) sift(i, m);
  for (int end = m - 1; end > 0; --end) {
    const range t = r[0];
    r[0] = r[end], r[end] = t;
    sift(0, end);
  }
}

constexpr std::size_t place(const interval* xs, const conflict_lists& c, const int* order, int n, std::size_t* offset,
                            range* busy, std::size_t cutoff, int start = 0, std::size_t arena = 0) {
  const std::size_t none = ~std::size_t{0};
  const int* begin = c.begin.data();
  const int* list = c.list.data();
  for (int k = start; k < n; ++k) offset[order[k]] = none;
  for (int k = start; k < n; ++k) {
    const int i = order[k];
    const std::size_t bytes = xs[i].bytes;
    int m = 0;  // placed neighbours, sorted by offset
    for (int e = begin[i]; e < begin[i + 1]; ++e) {
      const int j = list[e];
      if (offset[j] != none) busy[m++] = range{offset[j], offset[j] + xs[j].bytes};
    }
    sort_by_begin(busy, m);
    std::size_t best = none, best_gap = none, cursor = 0;
    for (int r = 0; r < m; ++r) {
      if (busy[r].begin > cursor && busy[r].begin - cursor >= bytes && busy[r].begin - cursor < best_gap)
        best = cursor, best_gap = busy[r].begin - cursor;
      if (busy[r].end > cursor) cursor = busy[r].end;
    }
    const std::size_t o = best != none ? best : cursor;
    offset[i] = o;
    if (o + bytes > arena) {
      arena = o + bytes;
      if (arena > cutoff) return arena;
    }
  }
  return arena;
}

template <class Before>
constexpr void order_by(int* order, int n, Before before) {  // ties: by index
  for (int i = 0; i < n; ++i) order[i] = i;
  sort_indices(order, n, before);  // stable: ties stay by index
}

}  // namespace detail

//! The baseline: one greedy pass in order of decreasing size, best fit. Returns the arena.
constexpr std::size_t greedy_by_size(std::span<interval> xs) {
  const int n = int(xs.size());
  if (n == 0) return 0;
  const auto c = detail::find_conflicts(xs);
  const detail::scratch<int> order(static_cast<std::size_t>(n));
  const detail::scratch<std::size_t> offset(static_cast<std::size_t>(n));
  const detail::scratch<detail::range> busy(static_cast<std::size_t>(n));
  detail::order_by(order.data(), n, [&](int a, int b) { return xs[std::size_t(a)].bytes > xs[std::size_t(b)].bytes; });
  std::size_t arena = detail::place(xs.data(), c, order.data(), n, offset.data(), busy.data(), ~std::size_t{0});
  for (int i = 0; i < n; ++i) xs[std::size_t(i)].offset = offset[std::size_t(i)];
  return arena;
}

//! Search budgets (greedy passes). Compile time is the scarce one: with 12 steps nvcc 13 plans
//! 450 hard intervals in well under 10 s on a 2-core box (its constexpr cost limit must be raised).
inline constexpr int compile_time_search_steps = 12;
inline constexpr int run_time_search_steps = 256;
//! The budget where it is evaluated: at compile time, or at run time.
constexpr int search_budget() { return std::is_constant_evaluated() ? compile_time_search_steps : run_time_search_steps; }

//! Sets every interval's offset; returns the arena size. `search_steps` bounds the improvement
//! search (each step is one greedy pass; 0 keeps the best ordering).
//! `bound_out`, when given, receives lower_bound(xs), which the search computes anyway.
constexpr std::size_t assign_offsets(std::span<interval> xs, int search_steps = search_budget(), std::size_t* bound_out = nullptr) {
  const int n = int(xs.size());
  if (n == 0) return 0;
  const std::size_t bound = lower_bound(xs);
  if (bound_out) *bound_out = bound;
  const auto c = detail::find_conflicts(xs);
  const interval* x = xs.data();
  const int* cb = c.begin.data();
  const int* cl = c.list.data();
  // Scratch, allocated once.
  const detail::scratch<std::size_t> mem(4 * static_cast<std::size_t>(n));
  const detail::scratch<detail::range> busy_v(static_cast<std::size_t>(n));
  detail::range* busy = busy_v.data();
  std::size_t* offset = mem.data();
  std::size_t* best_offset = offset + n;
  std::size_t* length = offset + 2 * n;
  std::size_t* weight = offset + 3 * n;  // bytes that can never share a step with i, its own included
  const detail::scratch<int> ints(3 * static_cast<std::size_t>(n));
  int* order = ints.data();
  int* best_order = order + n;
  int* position = order + 2 * n;
  for (int i = 0; i < n; ++i) {
    length[i] = std::size_t(x[i].last - x[i].first + 1);
    weight[i] = x[i].bytes;
    for (int e = cb[i]; e < cb[i + 1]; ++e) weight[i] += x[cl[e]].bytes;
  }
  std::size_t best = ~std::size_t{0};
  auto keep = [&] {
    for (int i = 0; i < n; ++i) best_offset[i] = offset[i], best_order[i] = order[i];
  };
  for (int o = 0; o < 5 && best > bound; ++o) {
    switch (o) {
      case 0: detail::order_by(order, n, [&](int a, int b) { return x[a].bytes > x[b].bytes || (x[a].bytes == x[b].bytes && length[a] > length[b]); }); break;
      case 1: detail::order_by(order, n, [&](int a, int b) { return x[a].bytes * length[a] > x[b].bytes * length[b]; }); break;
      case 2: detail::order_by(order, n, [&](int a, int b) { return length[a] > length[b] || (length[a] == length[b] && x[a].bytes > x[b].bytes); }); break;
      case 3: detail::order_by(order, n, [&](int a, int b) { return weight[a] > weight[b]; }); break;
      default: detail::order_by(order, n, [&](int a, int b) { return x[a].first < x[b].first; }); break;
    }
    std::size_t a = detail::place(x, c, order, n, offset, busy, best);
    if (a < best) best = a, keep();
  }
  // Search: move an interval that reaches the top of the arena, or one it conflicts with,
  // earlier in the best ordering; keep the change unless the arena grows (plateaus are walked).
  std::uint32_t rng = 0x9e3779b9u;
  auto next = [&](int range) {
    rng = rng * 1664525u + 1013904223u;
    return range > 0 ? int((rng >> 8) % std::uint32_t(range)) : 0;
  };
  for (int step = 0; step < search_steps && best > bound; ++step) {
    int tops = 0;
    for (int i = 0; i < n; ++i) tops += best_offset[i] + x[i].bytes == best;
    int pick = next(tops), t = 0;
    for (int i = 0; i < n; ++i)
      if (best_offset[i] + x[i].bytes == best && pick-- == 0) t = i;
    if (next(2) == 0 && cb[t + 1] > cb[t]) t = cl[cb[t] + next(cb[t + 1] - cb[t])];
    for (int k = 0; k < n; ++k) position[best_order[k]] = k, order[k] = best_order[k];
    const int from = position[t];
    if (from == 0) continue;
    const int to = next(from);
    for (int k = from; k > to; --k) order[k] = order[k - 1];
    order[to] = t;
    // The ordering before `to` is unchanged, and so are its offsets.
    std::size_t prefix = 0;
    for (int k = 0; k < to; ++k) {
      const int i = order[k];
      offset[i] = best_offset[i];
      if (offset[i] + x[i].bytes > prefix) prefix = offset[i] + x[i].bytes;
    }
    std::size_t a = detail::place(x, c, order, n, offset, busy, best, to, prefix);
    if (a <= best) best = a, keep();
  }
  interval* out = xs.data();
  for (int i = 0; i < n; ++i) out[i].offset = best_offset[i];
  return best;
}

}  // namespace ctg
