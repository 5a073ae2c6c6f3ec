#pragma once
//! assign_offsets: a static memory plan. Greedy by size with best fit: the largest buffers are
//! placed first, each into the smallest gap left by the already placed buffers whose lifetimes
//! overlap it. The overlap search is windowed (buffers sorted by first step, long-lived ones
//! kept apart), so model-like graphs cost about N log N instead of N^2.
#include <algorithm>
#include <span>
#include <vector>

#include <ctgraph/passes/interval.hpp>

namespace ctg {

//! Sets every interval's offset; returns the arena size.
constexpr std::size_t assign_offsets(std::span<interval> xs) {
  const int n = int(xs.size());
  if (n == 0) return 0;
  std::vector<int> by_size(static_cast<std::size_t>(n)), by_first(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) by_size[std::size_t(i)] = by_first[std::size_t(i)] = i;
  std::sort(by_size.begin(), by_size.end(), [&](int a, int b) {
    const interval &x = xs[std::size_t(a)], &y = xs[std::size_t(b)];
    if (x.bytes != y.bytes) return x.bytes > y.bytes;
    if (x.first != y.first) return x.first < y.first;
    return a < b;
  });
  std::sort(by_first.begin(), by_first.end(), [&](int a, int b) {
    return xs[std::size_t(a)].first < xs[std::size_t(b)].first || (xs[std::size_t(a)].first == xs[std::size_t(b)].first && a < b);
  });
  // Window: lifetimes longer than `window` steps (at most 32 of them) are searched always.
  std::vector<int> lengths(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) lengths[std::size_t(i)] = xs[std::size_t(i)].last - xs[std::size_t(i)].first;
  std::sort(lengths.begin(), lengths.end());
  const int window = lengths[std::size_t(n > 32 ? n - 32 : 0)];
  std::vector<int> long_lived;
  std::vector<int> first_of(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    first_of[std::size_t(i)] = xs[std::size_t(by_first[std::size_t(i)])].first;
    if (xs[std::size_t(i)].last - xs[std::size_t(i)].first > window) long_lived.push_back(i);
  }
  std::vector<bool> placed(static_cast<std::size_t>(n), false);
  struct range {
    std::size_t begin, end;
  };
  std::vector<range> busy;
  std::size_t arena = 0;
  for (int i : by_size) {
    interval& x = xs[std::size_t(i)];
    busy.clear();
    auto consider = [&](int j) {
      const interval& y = xs[std::size_t(j)];
      if (placed[std::size_t(j)] && y.first <= x.last && x.first <= y.last)
        busy.push_back({y.offset, y.offset + y.bytes});
    };
    // Short-lived overlapping intervals start in [x.first - window, x.last].
    auto lo = std::lower_bound(first_of.begin(), first_of.end(), x.first - window) - first_of.begin();
    for (auto k = lo; k < n && first_of[std::size_t(k)] <= x.last; ++k) {
      int j = by_first[std::size_t(k)];
      if (xs[std::size_t(j)].last - xs[std::size_t(j)].first <= window) consider(j);
    }
    for (int j : long_lived) consider(j);
    std::sort(busy.begin(), busy.end(), [](const range& a, const range& b) { return a.begin < b.begin; });
    // Best fit: the smallest gap that holds x; else on top of everything.
    std::size_t best = ~std::size_t{0}, best_gap = ~std::size_t{0}, cursor = 0;
    for (const range& r : busy) {
      if (r.begin > cursor && r.begin - cursor >= x.bytes && r.begin - cursor < best_gap)
        best = cursor, best_gap = r.begin - cursor;
      if (r.end > cursor) cursor = r.end;
    }
    x.offset = best != ~std::size_t{0} ? best : cursor;
    placed[std::size_t(i)] = true;
    if (x.offset + x.bytes > arena) arena = x.offset + x.bytes;
  }
  return arena;
}

}  // namespace ctg
