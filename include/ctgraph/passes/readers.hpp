#pragma once
//! find_readers: the nodes that read each tensor (one entry per input slot), as CSR lists in
//! `reader_begin` / `readers`. Reads the nodes' inputs. schedule, place_symmetric and the dump
//! read these lists.
#include <ctgraph/passes/flat_graph.hpp>

namespace ctg {

template <std::size_t N>
constexpr status find_readers(flat_graph<N>& g) {
  if (g.error.code != errc::ok) return g.error;
  const int n = g.tensor_count;
  for (int i = 0; i <= n; ++i) g.reader_begin[i] = 0;
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < g.nodes[i].input_count; ++k) ++g.reader_begin[g.nodes[i].inputs[k] + 1];
  for (int i = 0; i < n; ++i) g.reader_begin[i + 1] += g.reader_begin[i];
  int fill[N]{};
  for (int i = 0; i < n; ++i) fill[i] = g.reader_begin[i];
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < g.nodes[i].input_count; ++k) g.readers[fill[g.nodes[i].inputs[k]]++] = i;
  return g.error;
}

}  // namespace ctg
