#pragma once
//! lower_bound: the largest sum of bytes alive at one step. No plan of the arena can be smaller.
#include <span>

#include <ctgraph/passes/interval.hpp>

namespace ctg {

constexpr std::size_t lower_bound(std::span<const interval> xs) {
  const interval* x = xs.data();  // raw pointers: a span's or scratch's members are a call each to a constant evaluator
  const int n = int(xs.size());
  int steps = 0;
  for (int i = 0; i < n; ++i)
    if (x[i].last + 1 > steps) steps = x[i].last + 1;
  const detail::scratch<long long> delta_v(std::size_t(steps) + 1, 0);
  long long* delta = delta_v.data();
  for (int i = 0; i < n; ++i) {
    delta[x[i].first] += (long long)x[i].bytes;
    delta[x[i].last + 1] -= (long long)x[i].bytes;
  }
  long long live = 0, peak = 0;
  for (int s = 0; s < steps; ++s) {
    live += delta[s];
    if (live > peak) peak = live;
  }
  return std::size_t(peak);
}

}  // namespace ctg
