#pragma once
//! find_readers: the nodes that read each tensor (one entry per input slot), as CSR lists of their
//! own (`reader_lists`), which schedule, place_symmetric and fuse take as an input. Not a section
//! of the flat graph: the plan does not keep them, so no constant copy of a graph carries N *
//! max_inputs entries (at 4,096 nodes about 60 MB of nvcc's memory; tests/compile_time/RESULTS.md).
#include <cstddef>

#include <ctgraph/passes/flat_graph.hpp>

namespace ctg {

//! The readers of tensor v: list[begin[v] .. begin[v + 1]), in node order. Fixed arrays, as the
//! flat graph's sections were (g++ evaluates them faster than a heap allocation's).
template <std::size_t N>
struct reader_lists {
  int begin[N + 1]{};
  int list[N * max_inputs]{};
  constexpr int count(int v) const { return begin[v + 1] - begin[v]; }
};

//! Reads the nodes' inputs; nothing after an earlier error (no pass after it reads the lists).
template <std::size_t N>
constexpr status find_readers(const flat_graph<N>& g, reader_lists<N>& r) {
  if (g.error.code != errc::ok) return g.error;
  const int n = g.tensor_count;
  for (int i = 0; i <= n; ++i) r.begin[i] = 0;
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < g.nodes[i].input_count; ++k) ++r.begin[g.nodes[i].inputs[k] + 1];
  for (int i = 0; i < n; ++i) r.begin[i + 1] += r.begin[i];
  int next[N]{};  // where tensor v's next reader goes
  for (int i = 0; i < n; ++i) next[i] = r.begin[i];
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < g.nodes[i].input_count; ++k) r.list[next[g.nodes[i].inputs[k]]++] = i;
  return g.error;
}

}  // namespace ctg
