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
  static_assert(Code != errc::empty_graph, "ctgraph: the graph has no node to run; its outputs are all graph inputs or parameters. Make an output a ctg::node.");
  static_assert(Code != errc::duplicate_name, "ctgraph: two different tensors share the name of this node. Names must be unique in a graph. Rename one (ctg::indexed<\"h\", I> makes numbered names).");
  static_assert(Code != errc::unknown_tensor, "ctgraph: this node uses a tensor that is not in the graph (a ctg::ref<> whose name no reachable tensor has; see Other). Fix the name or make the tensor reachable from the graph's outputs.");
  static_assert(Code != errc::cycle, "ctgraph: this node is on a cycle closed by ctg::ref<>. A graph must be acyclic. Remove the ref that points forward.");
  static_assert(Code != errc::wrong_arity, "ctgraph: this node gives its op the wrong number of inputs. Check the op's arity (matmul, add and mul take 2; unary ops and copies take 1).");
  static_assert(Code != errc::dtype_mismatch, "ctgraph: the input dtypes of this node do not fit its op. Its inputs must have one dtype (ctgraph has no cast op). Declare the graph inputs and parameters with that dtype, or convert in a user op (see 'Writing an op' in the README).");
  static_assert(Code != errc::shape_mismatch, "ctgraph: the input shapes of this node do not fit its op. Elementwise inputs must have the same shape; matmul takes rank-2 tensors. Fix the shapes or reshape first.");
  static_assert(Code != errc::inner_dim_mismatch, "ctgraph: matmul inner dimensions differ in this node. A[M,K] x B[K,N] needs the columns of A to equal the rows of B. Fix the shapes: a weight stored as [N,K] is declared as a parameter of shape [K,N] only if its memory is in that order.");
  static_assert(Code != errc::element_count_mismatch, "ctgraph: reshape changes the number of elements in this node. A view cannot grow or shrink its source. Give ops::reshape a shape with as many elements.");
  static_assert(Code != errc::in_place_not_allowed, "ctgraph: in-place requested in this node, but its op does not allow it (op_traits::in_place is false). Remove ctg::in_place<> or use an op that can overwrite its input.");
  static_assert(Code != errc::collective_dtype, "ctgraph: this collective's dtype has no NCCL symmetric kernel. NCCL's symmetric kernels sum f32, f16 and bf16 (other dtypes fall back silently to slower kernels). Declare the tensor as f32, f16 or bf16 (ctgraph has no cast op), or convert it in a user op.");
  static_assert(Code != errc::view_of_opaque, "ctgraph: this node is a view of an opaque op's output (Other). The planner does not own that storage, so it cannot alias it. Copy the output first or make the op an out-variant.");
  static_assert(Code != errc::not_capturable, "ctgraph: this node cannot be captured, but the graph was planned as one capturable partition (plan_options::one_partition). Move the node out of the graph or drop the option to get a fallback region.");
  static_assert(Code != errc::in_place_conflict, "ctgraph: in-place requested in this node, but its first input (Other) is read later, is a graph output or input, or differs in size or memory class. Remove ctg::in_place<> or make this node the input's last reader.");
  static_assert(Code != errc::host_reads_device, "ctgraph: this host op reads a node's output (Other) that is not in pinned host memory. A host op dereferences its inputs on the host. Insert a ctg::ops::to_host node before it.");
  // errc::ill_formed: the node's own static_assert has fired; nothing more to say.
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
};

namespace detail {

// The plan is evaluated once, in a few constexpr variables (each its own constant-evaluation
// budget), and only two hold a flat graph: `lived` here and the user's plan. (Plain functions,
// not lambdas as template arguments, which nvcc 13 rejects.)
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
    flat_graph<plan_capacity<G>> g{};
    if (size.copies > 0) flatten_into<G>(g);
    return name_copies<std::size_t(size.copies), size.copy_chars>(g);
  }();
  //! The graph, flattened straight into room for the copies. (With the structural passes in
  //! the same evaluation g++ exceeds its default budget at 4096 nodes.)
  static constexpr auto types = [] {
    flat_graph<plan_capacity<G>> g{};
    flatten_into<G>(g);
    return g;
  }();
  //! The structural passes.
  static constexpr auto lived = [] {
    flat_graph<plan_capacity<G>> g = types;
    g.one_partition = Options.one_partition;
    if constexpr (size.copies > 0) {
      std::string_view names[plan_capacity<G>]{};
      copy_names.spread(names);
      plan_structure(g, names);
    } else {
      plan_structure(g);
    }
    return g;
  }();
  //! The memory plan: offsets and arena sizes only, not another copy of the graph.
  static constexpr memory_layout<plan_capacity<G>> laid_out = lay_out_memory(lived, false);
  //! The reuse counts, in an evaluation of their own (with the offsets, nvcc exceeds its default
  //! budget at 4096 nodes).
  static constexpr memory_layout<plan_capacity<G>> memory = count_memory_reuses(lived, laid_out);
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
constexpr plan<1> unplanned() {
  plan<1> r{};
  r.graph.error = {errc::capacity, -1};
  return r;
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
  if constexpr (G::output_count == 0) {
    return plan<1>{};  // graph<> has reported the empty graph already
  } else if constexpr (!detail::within_default_budget<G>()) {
    return detail::unplanned();  // reported above
  } else {
    using planned = detail::planner<G, Options>;
    constexpr auto& g = planned::lived;
    using P = plan<detail::plan_capacity<G>>;
    if constexpr (g.error.code != errc::ok) {
      // Each rejected_node fires exactly one of its static_asserts. The plan returned carries
      // the error, so every query on it (and check_plan) fails to be a constant expression.
      static_assert(detail::reject_all<g>(std::make_index_sequence<std::size_t(g.error_count)>{}));
    }
    P r{g};
    apply_memory(r.graph, planned::memory);
    return r;
  }
}

}  // namespace ctg
