#pragma once
//! hoist: every buffer written in a fallback region is owned by the capturable partition before
//! it, so its address is fixed across replays and nothing is allocated per run; a leading
//! fallback region's buffers are allocated at instantiation. Also counts each capturable
//! partition's static inputs, and those that must be copied into partition-owned memory: only
//! opaque outputs of fallback regions, whose address can change from run to run (symmetric and
//! other planned buffers are used in place).
#include <ctgraph/passes/fuse.hpp>

namespace ctg {

template <std::size_t N>
constexpr status hoist(flat_graph<N>& g) {
  if (g.error.code != errc::ok) return g.error;
  g.hoisted_at_instantiation = 0;
  int seen[N]{};  // the partition (+1) that last counted buffer i as a static input
  for (int p = 0; p < g.partition_count; ++p) {
    partition_desc& q = g.partitions[p];
    q.hoisted = q.static_inputs = q.static_input_copies = 0;
  }
  for (int p = 0; p < g.partition_count; ++p) {
    partition_desc& q = g.partitions[p];
    for (int s = q.first_step; s <= q.last_step; ++s) {
      int v = g.schedule[s];
      if (q.kind == partition_kind::fallback) {
        if (!is_planned(g, v)) continue;
        buffer_desc& b = g.buffers[v];
        b.hoisted = true;
        b.hoisted_to = p - 1;  // partitions alternate, so p - 1 is capturable (or none)
        if (p > 0) ++g.partitions[p - 1].hoisted;
        else ++g.hoisted_at_instantiation;
        continue;
      }
      detail::for_each_read(g, v, [&](int u) {
        const int b = g.owner[u];
        const bool outside = g.nodes[b].kind != tensor_kind::node || g.step[b] < q.first_step;
        if (!outside || seen[b] == p + 1) return;
        seen[b] = p + 1;
        ++q.static_inputs;
        if (g.buffers[b].opaque && g.nodes[b].kind == tensor_kind::node &&
            g.partitions[g.partition_of[b]].kind == partition_kind::fallback)
          ++q.static_input_copies;
      });
    }
  }
  return g.error;
}

}  // namespace ctg
