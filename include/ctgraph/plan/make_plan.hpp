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

//! The largest graph, in tensors (graph inputs and parameters included), that make_plan and
//! check_plan were measured to fit in the compilers' default constant-evaluation budgets: the
//! compile-time benchmark's 4096-node graph (tests/compile_time/RESULTS.md, g++ 12 and nvcc 13).
//! Above it make_plan stops with a message naming the flags that raise the budgets; define
//! CTG_RAISED_CONSTEXPR_LIMITS after raising them (or this macro to a measured count).
#ifndef CTG_DEFAULT_BUDGET_TENSORS
#define CTG_DEFAULT_BUDGET_TENSORS 5463
#endif

//! How to plan: `make_plan<g, plan_options{.one_partition = true}>()`.
struct plan_options {
  bool one_partition = false;  // reject any node that cannot be captured (one CUDA graph)
  bool fuse = true;            // elementwise neighbours run as one kernel (passes/fuse.hpp); off to debug
  //! Elementwise ops run their approximate `fast` forms where they have one (gelu's tanh, silu's
  //! exponential): a runtime choice, the plan is the same.
  bool fast_math = false;
  //! Independent nodes of a capturable partition run as up to this many parallel branches of its
  //! CUDA graph (passes/branches.hpp; at most ctg::max_branches); 1 runs them in schedule order.
  int branches = 4;
  //! Products of one A run as one gemv launch (sibling products, passes/fuse.hpp; only with
  //! `fuse`). Off: each its own launch, as parallel branches where they can be (a plan that forces
  //! cuBLASLt gains them back: its siblings would run one after another in the lead's launch).
  bool siblings = true;
  //! An attention over a K/V cache writes the new rows of its caches itself, in place of the cache
  //! writes that fill them (passes/fuse.hpp; only with `fuse`). Off: each write its own launch.
  bool cache_writes = true;
};

namespace detail {

// The plan is evaluated once, in a few constexpr variables (each its own constant-evaluation
// budget): the flattened types, the structure, the lifetimes (each a flat graph) and the memory
// layout, then the user's plan. (Plain functions, not lambdas as template arguments, which nvcc
// 13 rejects.)
//! The flat graph's capacity: the tensors and the copies placement inserts. A variable of G
//! alone: nvcc 13 re-emits a type that names planner<G, Options>::capacity with an undeclared
//! name for the class-type Options.
template <class G>
inline constexpr std::size_t plan_capacity =
    std::size_t(size_of<G>.tensors + size_of<G>.copies) == 0 ? 1 : std::size_t(size_of<G>.tensors + size_of<G>.copies);

template <class G, plan_options Options>
struct planner {
  static constexpr graph_size size = size_of<G>;
  static constexpr std::size_t capacity = plan_capacity<G>;
  // "x.to_symmetric": the copies' names need static storage, so they get a variable of their own.
  static constexpr auto copy_names = [] {
    if constexpr (size.copies == 0) {
      return ctg::copy_names<0, 0>{};  // zeroing a flat graph of 5,463 tensors: cudafe++ 0.14 s, cicc 0.39
    } else {
      flat_graph<plan_capacity<G>> g{};
      flatten_into<G>(g);
      return name_copies<std::size_t(size.copies), size.copy_chars>(g);
    }
  }();
  //! The graph of types, flattened straight into room for the copies. (With the structural
  //! passes in the same evaluation g++ exceeds its default budget at 4096 nodes.) A graph_value
  //! is flattened in `structured` itself: its records are copied, not walked, and one constant
  //! flat graph fewer saves nvcc 1 s and 300 MB at 4,096 nodes (tests/compile_time/RESULTS.md).
  static constexpr auto types = [] {
    flat_graph<value_graph_type<G> ? 1 : plan_capacity<G>> g{};
    if constexpr (!value_graph_type<G>) flatten_into<G>(g);
    return g;
  }();
  //! The structural passes.
  static constexpr auto structured = [] {
    flat_graph<plan_capacity<G>> g{};
    if constexpr (value_graph_type<G>) flatten_into<G>(g);
    else g = types;
    g.one_partition = Options.one_partition;
    g.fuse = Options.fuse;
    g.siblings = Options.siblings;
    g.cache_writes = Options.cache_writes;
    g.branch_limit = Options.branches;
    if constexpr (size.copies > 0) {
      std::string_view names[plan_capacity<G>]{};
      copy_names.spread(names);
      plan_structure(g, names);
    } else {
      plan_structure(g);
    }
    return g;
  }();
  //! Branches, lifetimes, hand-over and hoisting, in an evaluation of their own (see plan_lifetimes).
  static constexpr auto lived = [] {
    flat_graph<plan_capacity<G>> g = structured;
    plan_lifetimes(g);
    return g;
  }();
  //! The memory plan: offsets and arena sizes only, not another copy of the graph.
  static constexpr memory_layout<plan_capacity<G>> memory = lay_out_memory(lived);
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
namespace detail {
//! What make_plan returns when it stopped before planning: every query on it fails.
inline constexpr flat_graph<1> unplanned_graph = [] {
  flat_graph<1> g{};
  g.error = {errc::capacity, -1};
  return g;
}();
//! What make_plan returns for a graph without outputs (graph<> has said so).
inline constexpr flat_graph<1> empty_graph{};
inline constexpr memory_layout<1> no_memory{};

//! A graph of types with no outputs (graph<> has said so); a graph_value's is the walk's error.
template <class G>
constexpr bool without_outputs() {
  if constexpr (value_graph_type<G>) return false;
  else return G::output_count == 0;
}

template <class G>
constexpr bool within_default_budget() {
#ifdef CTG_RAISED_CONSTEXPR_LIMITS
  return true;
#else
  constexpr bool fits = tensor_count<G> <= std::size_t(CTG_DEFAULT_BUDGET_TENSORS);
  static_assert(fits, "ctgraph: the graph has more tensors than plan within the compilers' default constexpr budgets (CTG_DEFAULT_BUDGET_TENSORS, 5463 as measured with g++ 12 and nvcc 13). Raise the budgets and define CTG_RAISED_CONSTEXPR_LIMITS: g++ -fconstexpr-ops-limit=2147483648 -fconstexpr-loop-limit=67108864; nvcc -Xcudafe --max_cost_constexpr_call=100000000 -Xcompiler -fconstexpr-ops-limit=2147483648,-fconstexpr-loop-limit=67108864; clang++ -fconstexpr-steps=2147483647.");
  return fits;
#endif
}
}  // namespace detail

template <class G, plan_options Options = plan_options{}>
constexpr auto make_plan() {
  if constexpr (detail::without_outputs<G>()) {
    return plan<1>{detail::empty_graph, detail::no_memory};  // graph<> has reported the empty graph already
  } else if constexpr (Options.branches < 1 || Options.branches > max_branches) {
    static_assert(Options.branches >= 1 && Options.branches <= max_branches, "ctgraph: plan_options::branches is out of range. A partition runs 1 (the schedule's order) to ctg::max_branches (8) parallel branches; pick a count in that range.");
    return plan<1>{detail::unplanned_graph, detail::no_memory};
  } else if constexpr (!detail::within_default_budget<G>()) {
    return plan<1>{detail::unplanned_graph, detail::no_memory};  // reported above
  } else {
    using planned = detail::planner<G, Options>;
    constexpr auto& g = planned::lived;
    using P = plan<detail::plan_capacity<G>>;
    if constexpr (g.error.code != errc::ok) {
      // Each rejected_node fires exactly one of its static_asserts. The plan returned carries
      // the error, so every query on it (and check_plan) fails to be a constant expression.
      static_assert(detail::reject_all<g>(std::make_index_sequence<std::size_t(g.error_count)>{}));
    }
    return P{g, planned::memory};  // the passes' constants themselves, not copies
  }
}

//! The plan of a graph_value (graph/graph_value.hpp), a static constexpr object:
//! `constexpr auto p = ctg::make_plan<mlp>();` The same passes, the same plan as its types'.
template <auto& V, plan_options Options = plan_options{}>
  requires requires { V.tensor_count(); }
constexpr auto make_plan() {
  return make_plan<detail::value_graph<V>, Options>();
}

}  // namespace ctg
