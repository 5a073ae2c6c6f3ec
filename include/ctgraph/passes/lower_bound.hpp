#pragma once
//! lower_bound: the largest sum of bytes alive at one step. No plan of the arena can be smaller.
#include <span>

#include <ctgraph/passes/interval.hpp>

namespace ctg {

constexpr std::size_t lower_bound(std::span<const interval> xs) {
  int steps = 0;
  for (const interval& x : xs)
    if (x.last + 1 > steps) steps = x.last + 1;
  const detail::scratch<long long> delta(std::size_t(steps) + 1, 0);
  for (const interval& x : xs) {
    delta[std::size_t(x.first)] += (long long)x.bytes;
    delta[std::size_t(x.last) + 1] -= (long long)x.bytes;
  }
  long long live = 0, peak = 0;
  for (int s = 0; s < steps; ++s) {
    live += delta[std::size_t(s)];
    if (live > peak) peak = live;
  }
  return std::size_t(peak);
}

}  // namespace ctg
