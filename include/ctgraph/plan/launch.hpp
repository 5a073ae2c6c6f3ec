#pragma once
//! launch_desc: what one launch of a run does, as the plan decided it. The runtime builds each
//! launch's context from this and the plan's other public queries, never from the passes' working
//! structure: the fusion, sibling and cache-write decisions are read here once, in the plan layer.
#include <ctgraph/graph/node_desc.hpp>
#include <ctgraph/graph/ops/matmul.hpp>
#include <ctgraph/passes/fuse.hpp>

namespace ctg {

//! One launch: node `node`'s own op (a fused group's root runs its group), with what it computes
//! in the same launch.
struct launch_desc {
  int node = no_index;
  //! The tensors the node's op reads, in order: its inputs; a fused root's leaves; in place of a
  //! node folded into its prologue, that node's inputs.
  int read_count = 0;
  int reads[max_inputs]{};
  //! Per read: nothing that may still run when the launch starts writes it (a graph input or
  //! parameter, or a state no launch before this one writes), so a kernel may read it before it
  //! waits for the kernel before it (programmatic dependent launch).
  bool read_fixed[max_inputs]{};
  //! An attention's cache writes that it runs (K's, then V's): the write node, the rows it writes
  //! (a rotary's input where one is folded into the write) and that rotary's positions (or none).
  struct cache_write {
    int node = no_index, rows = no_index, rotary_positions = no_index;
  };
  int cache_write_count = 0;
  cache_write cache_writes[2]{};
  //! A sibling lead's products of the same A that it computes too, in schedule order, with
  //! whether their W is fixed (as `read_fixed`).
  struct sibling {
    int node = no_index;
    bool w_fixed = false;
  };
  int sibling_count = 0;
  sibling siblings[ops::max_sibling_products - 1]{};
};

namespace detail {

//! The launch of node v in g (see launch_desc); v must launch (`launches`).
template <std::size_t N>
constexpr launch_desc launch_of(const flat_graph<N>& g, int v) {
  launch_desc l;
  l.node = v;
  auto read = [&](int u) {
    if (l.read_count == max_inputs) return;
    l.read_fixed[l.read_count] = fixed_at(g, v, u);
    l.reads[l.read_count++] = u;
  };
  for_each_own_read(g, v, read);
  const node_desc& d = g.nodes[v];
  if (d.op->takes_cache_writes)
    for (int k = 1; k <= 2 && d.input_count > 2; ++k)
      if (const int w = d.inputs[k]; g.writes_in[w] == v) {
        const int rotary = g.prologue[w];  // the rows are a rotary's input, its positions next
        l.cache_writes[l.cache_write_count++] = {w, rotary >= 0 ? g.nodes[rotary].inputs[0] : g.nodes[w].inputs[2],
                                                 rotary >= 0 ? g.nodes[rotary].inputs[1] : no_index};
      }
  if (g.sibling_lead[v] < 0)
    for (int x = g.sibling_next[v]; x >= 0 && l.sibling_count < ops::max_sibling_products - 1; x = g.sibling_next[x])
      l.siblings[l.sibling_count++] = {x, fixed_at(g, v, g.nodes[x].inputs[1])};
  return l;
}

}  // namespace detail
}  // namespace ctg
