#pragma once
//! partition: maximal runs of scheduled nodes that are all capturable (capturable partitions,
//! one CUDA graph each) or all not (fallback regions, run eagerly); at most the graph's
//! `partition_capacity` (ctg::max_partitions).
#include <ctgraph/passes/flat_graph.hpp>

namespace ctg {

template <std::size_t N>
constexpr status partition(flat_graph<N>& g) {
  if (g.error.code != errc::ok) return g.error;
  g.partition_count = 0;
  for (int i = 0; i < g.tensor_count; ++i) g.partition_of[i] = no_index;
  for (int s = 0; s < g.step_count; ++s) {
    int v = g.schedule[s];
    partition_kind k = g.nodes[v].op->traits.capturable ? partition_kind::capturable : partition_kind::fallback;
    if (g.one_partition && k == partition_kind::fallback) {
      report(g, {errc::not_capturable, v});
      k = partition_kind::capturable;  // go on, to report every such node
    }
    if (g.partition_count == 0 || g.partitions[g.partition_count - 1].kind != k) {
      if (g.partition_count == int(g.partition_capacity)) return report(g, {errc::too_many_partitions, v});
      g.partitions[g.partition_count++] = partition_desc{k, s, s};
    }
    g.partitions[g.partition_count - 1].last_step = s;
    g.partition_of[v] = g.partition_count - 1;
  }
  return g.error;
}

}  // namespace ctg
