#pragma once
// Interval sets for the memory-planner benchmark: a generator of hard, capacity-tight sets and a
// reader for MiniMalloc's CSV format (`id,lower,upper,size`, lifetime [lower, upper)).
#include <ctgraph/passes/interval.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ctg::bench {

// Cuts a (time x memory) rectangle into pieces, guillotine style, until pieces are small; every
// piece is one buffer. Time cuts nest lifetimes, memory cuts give sizes of every scale. With no
// holes every step is full, so the lower bound is the height and a perfect plan exists; the
// sets are then loosened by shortening some lifetimes (holes), as real planners see them.
inline std::vector<interval> hard_intervals(std::uint32_t seed, int target = 450, int steps = 2000,
                                            std::size_t height_units = 1 << 14, double holes = 0.2) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  struct rect {
    int t0, t1;
    std::size_t m0, m1;
  };
  std::vector<rect> open{{0, steps, 0, height_units}}, leaves;
  while (!open.empty() && int(open.size() + leaves.size()) < target) {
    std::size_t pick = std::uniform_int_distribution<std::size_t>(0, open.size() - 1)(rng);
    rect r = open[pick];
    open.erase(open.begin() + std::ptrdiff_t(pick));
    bool can_t = r.t1 - r.t0 >= 2, can_m = r.m1 - r.m0 >= 2;
    if (!can_t && !can_m) {
      leaves.push_back(r);
      continue;
    }
    bool cut_time = can_t && (!can_m || u(rng) < 0.5);
    // Skewed cut positions give many scales.
    double f = std::pow(u(rng), 2.0);
    if (u(rng) < 0.5) f = 1 - f;
    if (cut_time) {
      int c = r.t0 + 1 + int(f * (r.t1 - r.t0 - 1));
      if (c >= r.t1) c = r.t1 - 1;
      open.push_back({r.t0, c, r.m0, r.m1});
      open.push_back({c, r.t1, r.m0, r.m1});
    } else {
      std::size_t c = r.m0 + 1 + std::size_t(f * double(r.m1 - r.m0 - 1));
      if (c >= r.m1) c = r.m1 - 1;
      open.push_back({r.t0, r.t1, r.m0, c});
      open.push_back({r.t0, r.t1, c, r.m1});
    }
  }
  for (const rect& r : open) leaves.push_back(r);
  std::vector<interval> xs;
  for (const rect& r : leaves) {
    interval x{r.t0, r.t1 - 1, (r.m1 - r.m0) * 256, 0};
    if (x.last > x.first && u(rng) < holes) {
      if (u(rng) < 0.5) ++x.first;
      else --x.last;
    }
    xs.push_back(x);
  }
  std::shuffle(xs.begin(), xs.end(), rng);
  return xs;
}

// MiniMalloc's CSV: a header line, then `id,lower,upper,size` with the lifetime [lower, upper).
inline std::vector<interval> read_minimalloc_csv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::vector<interval> xs;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::stringstream ss(line);
    std::string id, lower, upper, size;
    std::getline(ss, id, ',');
    std::getline(ss, lower, ',');
    std::getline(ss, upper, ',');
    std::getline(ss, size, ',');
    xs.push_back({std::stoi(lower), std::stoi(upper) - 1, std::stoull(size), 0});
  }
  return xs;
}

inline void write_minimalloc_csv(const std::string& path, const std::vector<interval>& xs) {
  std::ofstream out(path);
  out << "id,lower,upper,size\n";
  for (std::size_t i = 0; i < xs.size(); ++i) out << i << ',' << xs[i].first << ',' << xs[i].last + 1 << ',' << xs[i].bytes << '\n';
}

// Exact-size reuse: a pool keyed by size, as caching allocators do; returns the bytes it holds.
inline std::size_t exact_size_pool(const std::vector<interval>& xs) {
  std::vector<int> order(xs.size());
  for (std::size_t i = 0; i < xs.size(); ++i) order[i] = int(i);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return xs[std::size_t(a)].first < xs[std::size_t(b)].first; });
  std::multimap<int, std::size_t> ends;  // last step -> size of a block in use
  std::map<std::size_t, int> free_blocks;
  std::size_t total = 0;
  for (int i : order) {
    const interval& x = xs[std::size_t(i)];
    while (!ends.empty() && ends.begin()->first < x.first) {
      ++free_blocks[ends.begin()->second];
      ends.erase(ends.begin());
    }
    auto it = free_blocks.find(x.bytes);
    if (it != free_blocks.end() && it->second > 0) --it->second;
    else total += x.bytes;
    ends.emplace(x.last, x.bytes);
  }
  return total;
}

}  // namespace ctg::bench
