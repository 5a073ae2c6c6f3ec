#pragma once
//! A plan family: the plans of one graph over a list of sizes of one dimension (a batch, a
//! sequence length), each a constexpr plan, sharing arenas sized for the largest member.
//! `Model<S>` is the graph at size S:
//!
//!   template <std::int64_t B> using mlp_at = ctg::graph<...B...>;
//!   using family = ctg::plan_family<mlp_at, 1, 2, 4, 8, 16>;
//!   static_assert(family::plan<4>.ok());
//!   static_assert(family::arena_bytes(memory_class::device) == family::plan<16>.arena_bytes(memory_class::device));
//!
//! State tensors (ctg::state) are shared by the members: one allocation of each, the largest
//! member's, so what one member writes (a KV cache, a position) the next one reads. A state may
//! grow with the family's dimension only along its outermost dimension, where a smaller member
//! uses the leading rows (that dimension's stride does not depend on its extent):
//! `state_check()` says whether the members can share, `family_shares_state<family>` asserts it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <ctgraph/plan/make_plan.hpp>

namespace ctg {

//! Why the members of a plan family cannot share a state tensor (plan_family::state_check).
enum class family_state_fault {
  none,
  missing,       // the state is in one member and not in another
  dtype,         // its dtype differs between members
  inner_extent,  // its rank, or an extent other than the outermost, differs
  outer_extent,  // its outermost extent is larger in a smaller member than in the largest
};

//! The first state tensor that the members of a family cannot share, and the member at fault.
struct family_state_check {
  family_state_fault fault = family_state_fault::none;
  std::int64_t size = 0;   // the member's size
  std::string_view state;  // the state tensor's name
  constexpr bool ok() const { return fault == family_state_fault::none; }
};

namespace detail {
//! The state tensor of `g` named `name`, or no_index.
template <std::size_t N>
constexpr int state_named(const flat_graph<N>& g, std::string_view name) {
  for (int v = 0; v < g.tensor_count; ++v)
    if (g.nodes[v].kind == tensor_kind::state && g.nodes[v].name == name) return v;
  return no_index;
}

//! Member `m` (of size `size`) against the largest member `l`: every state tensor of either is in
//! both, with one dtype and the same extents but the outermost, where m's is at most l's.
template <std::size_t M, std::size_t L>
constexpr family_state_check compare_state(const flat_graph<M>& m, std::int64_t size, const flat_graph<L>& l) {
  for (int w = 0; w < l.tensor_count; ++w)
    if (l.nodes[w].kind == tensor_kind::state && state_named(m, l.nodes[w].name) < 0)
      return {family_state_fault::missing, size, l.nodes[w].name};
  for (int v = 0; v < m.tensor_count; ++v) {
    if (m.nodes[v].kind != tensor_kind::state) continue;
    const int w = state_named(l, m.nodes[v].name);
    if (w < 0) return {family_state_fault::missing, size, m.nodes[v].name};
    const tensor_desc &a = m.nodes[v].out, &b = l.nodes[w].out;
    if (a.dtype != b.dtype) return {family_state_fault::dtype, size, m.nodes[v].name};
    bool inner = a.rank == b.rank;
    for (int i = 1; i < a.rank && inner; ++i) inner = a.dims[i] == b.dims[i];
    if (!inner) return {family_state_fault::inner_extent, size, m.nodes[v].name};
    if (a.dims[0] > b.dims[0]) return {family_state_fault::outer_extent, size, m.nodes[v].name};
  }
  return {};
}
}  // namespace detail

template <template <std::int64_t> class Model, std::int64_t... Sizes>
struct plan_family {
  static_assert(sizeof...(Sizes) > 0, "ctgraph: a plan family needs at least one size. List them: ctg::plan_family<model, 1, 2, 4, 8>.");
  static constexpr std::int64_t sizes[sizeof...(Sizes) + 1] = {Sizes...};  // + 1: no empty array when there are none
  static constexpr int size_count = int(sizeof...(Sizes));
  static constexpr bool ascending = [] {
    for (int i = 1; i < size_count; ++i)
      if (sizes[i] <= sizes[i - 1]) return false;
    return size_count == 0 || sizes[0] > 0;
  }();
  static_assert(ascending, "ctgraph: the sizes of a plan family must be positive and ascending, each once. Sort them: ctg::plan_family<model, 1, 2, 4, 8>.");

  //! The graph and the plan of the member of size S (one of Sizes).
  template <std::int64_t S>
  using graph_at = Model<S>;
  template <std::int64_t S>
  static constexpr auto plan = make_plan<Model<S>>();

  //! The smallest size that holds n rows (the member that runs n), or no_index above the largest.
  static constexpr int member_for(std::int64_t n) {
    for (int i = 0; i < size_count; ++i)
      if (sizes[i] >= n) return i;
    return no_index;
  }
  //! What the family allocates for memory class c: the largest member's arena, not the sum.
  static constexpr std::size_t arena_bytes(memory_class c) {
    std::size_t most = 0;
    ((most = plan<Sizes>.arena_bytes(c) > most ? plan<Sizes>.arena_bytes(c) : most), ...);
    return most;
  }
  //! What as many separate plans would allocate.
  static constexpr std::size_t arena_bytes_separately(memory_class c) { return (plan<Sizes>.arena_bytes(c) + ...); }
  //! The most parallel branches of any member's partitions.
  static constexpr int branch_count() {
    int most = 1;
    ((most = plan<Sizes>.branch_count() > most ? plan<Sizes>.branch_count() : most), ...);
    return most;
  }
  //! The CUDA graphs the family's executor captures in all: one per member and capturable
  //! partition (at instantiation, or each member's on its first run: partition_capture).
  static constexpr int graph_count() { return (plan<Sizes>.partition_count(partition_kind::capturable) + ...); }
  //! Whether every member planned.
  static constexpr bool ok() { return (plan<Sizes>.ok() && ...); }

  //! The largest member's size: its state tensors are the family's.
  static constexpr std::int64_t largest = sizes[size_count > 0 ? size_count - 1 : 0];
  //! Whether the members can share each state tensor (one allocation, the largest member's):
  //! every member has the largest member's state tensors, by name, each with its dtype and its
  //! extents but the outermost, which may be smaller. The first mismatch, or ok(). (Reads the
  //! members' graphs: call it where ok().)
  static constexpr family_state_check state_check() {
    family_state_check r;
    ((r = r.ok() ? detail::compare_state(plan<Sizes>.graph, Sizes, plan<largest>.graph) : r), ...);
    return r;
  }
  //! What the family allocates for the state tensors that are not bound: the largest member's.
  static constexpr std::size_t state_bytes() { return plan<largest>.state_bytes(); }
};

namespace detail {
//! One static_assert per cause. The instantiation context above the message names the state
//! tensor and the member's size: `family_state_rejected<"cache", family_state_fault::inner_extent, 4>`.
template <fixed_string State, family_state_fault Fault, std::int64_t Size>
struct family_state_rejected {
  static_assert(Fault != family_state_fault::missing, "ctgraph: a state tensor is in some members of this plan family and not in others (its name and the member's size are in family_state_rejected<\"...\", ..., size> above). The members share each state tensor: give every member the same state tensors.");
  static_assert(Fault != family_state_fault::dtype, "ctgraph: a state tensor's dtype differs between members of this plan family (its name and the member's size are in family_state_rejected<\"...\", ..., size> above). The members share one allocation of each state tensor: give it one dtype in every member.");
  static_assert(Fault != family_state_fault::inner_extent, "ctgraph: a state tensor's shape differs between members of this plan family in a dimension that is not its outermost (its name and the member's size are in family_state_rejected<\"...\", ..., size> above). The members share one allocation of each state tensor, a smaller member using its leading rows, so only the outermost extent may vary: make the family's dimension the state's outermost, e.g. [batch, length, heads, head_dim].");
  static_assert(Fault != family_state_fault::outer_extent, "ctgraph: a state tensor of a smaller member of this plan family is larger than the largest member's (its name and the member's size are in family_state_rejected<\"...\", ..., size> above). The family allocates each state tensor at its largest member's extents: let the state's outermost extent grow with the family's dimension, never shrink.");
  static constexpr bool value = Fault == family_state_fault::none;
};

template <class Family>
constexpr bool check_family_state() {
  if constexpr (!Family::ok()) {
    return false;  // a member was rejected: its errors are reported where its plan is made
  } else {
    constexpr family_state_check c = Family::state_check();
    if constexpr (c.ok()) return true;
    else return family_state_rejected<fixed_string<c.state.size() + 1>(c.state), c.fault, c.size>::value;
  }
}
}  // namespace detail

//! Whether the members of plan family Family can share their state tensors (state_check), with one
//! static_assert per cause where they cannot, naming the state tensor and the member; what
//! instantiate_family checks. `static_assert(ctg::family_shares_state<family>)`.
template <class Family>
inline constexpr bool family_shares_state = detail::check_family_state<Family>();

}  // namespace ctg
