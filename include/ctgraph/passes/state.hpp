#pragma once
//! check_state_writes: the rules of state tensors (ctg::state), which live across runs. A node
//! whose op writes state (op_traits::writes_state) writes into its input 0, which must be a state
//! tensor's storage; its output is that state, written. A write replaces a *version* of the state:
//! the state itself, or the output of the write before it (pure views of either are the same
//! version). Every other node that reads the version a write replaces (or writes it too) must run
//! before the write by the graph's edges — be one of its inputs or lead to one — so a captured
//! graph, whatever its order within those edges, never reads a state half-updated. Reads the nodes
//! and their outputs (after validate); writes nothing but errors.
//! The planner never places a state: it is a leaf, memory class `external`, and a write's output
//! is a view of it (view_owners), so neither lifetimes nor the memory plan see it.
#include <ctgraph/passes/flat_graph.hpp>

namespace ctg {

namespace detail {
//! The state tensor whose storage tensor v uses (through views and writes), or no_index.
constexpr int state_of(const node_desc* nodes, int v) {
  const int s = storage_of(nodes, v);
  return nodes[s].kind == tensor_kind::state ? s : no_index;
}
template <std::size_t N>
constexpr int state_of(const flat_graph<N>& g, int v) {
  return state_of(g.nodes, v);
}
//! Whether node v is a view that only aliases (no kernel writes through it): no read, no write.
constexpr bool pure_view(const node_desc& d) {
  return d.kind == tensor_kind::node && d.op->traits.view && !d.op->traits.writes_state;
}
}  // namespace detail

namespace detail {
//! The state rules, for the pass and for check_plan: calls `bad_target(w)` for each node w that
//! writes state into a tensor that is no state's (and then stops), else `unordered(w, r)` once for
//! each write w that a node r does not precede by the graph's edges, though r reads the version w
//! replaces, writes it too, or is w reading what it writes in another input. Reads the nodes and
//! a topological schedule.
template <std::size_t N, class Target, class Unordered>
constexpr void visit_state_writes(const flat_graph<N>& g, Target bad_target, Unordered unordered) {
  const int n = g.tensor_count;
  bool any = false;  // most graphs write no state: nothing more to pay for them (compile time)
  for (int v = 0; v < n && !any; ++v) any = g.nodes[v].kind == tensor_kind::node && g.nodes[v].op->traits.writes_state;
  if (!any) return;
  // version[v]: the tensor whose contents v is (itself, or a pure view's source's); writer[x]: the
  // first node that writes version x. Schedule order: a view's source comes first.
  int version[N]{}, writer[N]{};
  for (int v = 0; v < n; ++v) version[v] = v, writer[v] = no_index;
  bool targets_ok = true;
  for (int s = 0; s < g.step_count; ++s) {
    const int v = g.schedule[s];
    const node_desc& d = g.nodes[v];
    if (pure_view(d) && d.input_count > 0) version[v] = version[d.inputs[0]];
    if (!d.op->traits.writes_state || d.ill_formed) continue;
    if (d.input_count == 0 || state_of(g, d.inputs[0]) < 0) {
      bad_target(v);
      targets_ok = false;
      continue;
    }
    int& w = writer[version[d.inputs[0]]];
    if (w < 0) w = v;
  }
  if (!targets_ok) return;
  // Each (reader, writer) of one version: `needs[w]` says writer w has readers to check; its
  // ancestors are found once, and only then.
  bool needs[N]{};
  auto for_each_pair = [&](auto fn) {
    for (int r = 0; r < n; ++r) {
      const node_desc& d = g.nodes[r];
      if (d.kind != tensor_kind::node || pure_view(d)) continue;
      for (int k = 0; k < d.input_count; ++k) {
        const int w = writer[version[d.inputs[k]]];
        // A writer reads its own version at input 0; in another input it reads what it writes.
        if (w >= 0 && (w != r || k > 0)) fn(r, w);
      }
    }
  };
  for_each_pair([&](int, int w) { needs[w] = true; });
  bool above[N]{};  // ancestors of the writer being checked
  int stack[N]{};
  for (int w = 0; w < n; ++w) {
    if (!needs[w]) continue;
    for (int v = 0; v < n; ++v) above[v] = false;
    int top = 0;
    stack[top++] = w;
    while (top > 0) {
      const node_desc& d = g.nodes[stack[--top]];
      for (int k = 0; k < d.input_count; ++k)
        if (!above[d.inputs[k]]) above[d.inputs[k]] = true, stack[top++] = d.inputs[k];
    }
    int first = no_index;
    for_each_pair([&](int r, int writes) {
      if (writes == w && !above[r] && first < 0) first = r;
    });
    if (first >= 0) unordered(w, first);
  }
}
}  // namespace detail

template <std::size_t N>
constexpr status check_state_writes(flat_graph<N>& g) {
  if (g.error.code != errc::ok) return g.error;
  detail::visit_state_writes(
      g, [&](int w) { report(g, {errc::state_write_target, w, g.nodes[w].input_count > 0 ? g.nodes[w].inputs[0] : no_index}); },
      [&](int w, int r) { report(g, {errc::state_read_unordered, w, r}); });
  return g.error;
}

}  // namespace ctg
