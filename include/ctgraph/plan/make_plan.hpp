#pragma once
//! make_plan<G>(): the compile-time entry point. Flattens G once, runs the structural passes and
//! the memory plan in constant evaluations of their own (each its own compiler budget), and
//! turns every error found into one static_assert each.
#include <utility>

#include <ctgraph/graph/graph.hpp>
#include <ctgraph/passes/flatten.hpp>
#include <ctgraph/passes/run_passes.hpp>
#include <ctgraph/plan/plan.hpp>

namespace ctg {

//! One static_assert per cause. The instantiation context above the message names the node:
//! `rejected_node<"h0", errc::..., "other">`.
template <fixed_string Node, errc Code, fixed_string Other>
struct rejected_node {
  // One static_assert per row of the catalogue; a row without a message asserts nothing.
#define CTGRAPH_REJECT(code, brief, message) static_assert(Code != errc::code || sizeof(message) == 1, message);
  CTGRAPH_ERRORS(CTGRAPH_REJECT)
#undef CTGRAPH_REJECT
  static constexpr bool value = Code == errc::ok;
};

//! How to plan: `make_plan<g, plan_options{.one_partition = true}>()`.
struct plan_options {
  bool one_partition = false;  // reject any node that cannot be captured (one CUDA graph)
};

namespace detail {

// Each pass is its own constexpr variable, so each gets its own constant-evaluation budget.
// (Plain functions, not lambdas as template arguments, which nvcc 13 rejects.)
template <class G, plan_options Options>
struct planner {
  static constexpr auto types = flatten<G>();
  static constexpr int copies = count_copies(types);
  // "x.to_symmetric": the copies' names need static storage, so they get a variable of their own.
  static constexpr auto copy_names = name_copies<copy_name_chars(types)>(types);
  // The structural passes are cheap next to a copy of the flat graph: one evaluation for all.
  static constexpr auto lived = [] {
    constexpr std::size_t n = decltype(types)::capacity;
    std::string_view names[n]{};
    for (int u = 0; u < int(n); ++u) names[u] = copy_names.name_of(u);
    auto g = widen<n + std::size_t(copies)>(types);
    g.one_partition = Options.one_partition;
    plan_structure(g, names);
    return g;
  }();
  static constexpr auto planned = [] { auto g = lived; plan_memory(g); return g; }();
};

template <auto& G, int I>
constexpr auto name_at() {
  if constexpr (I < 0) return fixed_string<1>{};
  else return fixed_string<G.nodes[I].name.size() + 1>(G.nodes[I].name);
}

//! One rejected_node per error found: every bad node of the graph in one compile.
template <auto& G, std::size_t... E>
constexpr bool reject_all(std::index_sequence<E...>) {
  return (sizeof(rejected_node<name_at<G, G.errors[E].node>(), G.errors[E].code, name_at<G, G.errors[E].other>()>) + ...) > 0;
}

}  // namespace detail

//! The plan of graph G, a constexpr value: `constexpr auto p = ctg::make_plan<g>();`
template <class G, plan_options Options = plan_options{}>
constexpr auto make_plan() {
  if constexpr (G::output_count == 0) {
    return plan<1>{};  // graph<> has reported the empty graph already
  } else {
    constexpr auto& g = detail::planner<G, Options>::planned;
    using P = plan<std::remove_cvref_t<decltype(g)>::capacity>;
    if constexpr (g.error.code != errc::ok) {
      // Each rejected_node fires exactly one of its static_asserts. The plan returned carries
      // the error, so every query on it (and check_plan) fails to be a constant expression.
      static_assert(detail::reject_all<g>(std::make_index_sequence<std::size_t(g.error_count)>{}));
    }
    return P{g};
  }
}

}  // namespace ctg
