#pragma once
//! The plan: a constexpr value with queries for static_assert. It refers to the passes' results
//! (the planned graph and its memory layout), constants of the compile that made it: copying a
//! flat graph of thousands of tensors is among the costliest things a compiler's constant
//! evaluator does (tests/compile_time/RESULTS.md). `owned_plan` keeps its own copies.
#include <span>
#include <string_view>

#include <ctgraph/passes/branches.hpp>
#include <ctgraph/passes/fuse.hpp>
#include <ctgraph/passes/memory_plan.hpp>
#include <ctgraph/passes/state.hpp>
#include <ctgraph/plan/launch.hpp>

namespace ctg {

namespace detail {
//! Not a constant expression when `ok` is false: the compiler shows the call and the message.
constexpr void require(bool ok, const char* /*why*/) {
  if (!ok) throw "ctgraph: plan query failed";
}
}  // namespace detail

template <std::size_t N>
struct owned_plan;

template <std::size_t N>
struct plan {
  static constexpr std::size_t graph_capacity = N;
  const flat_graph<N>& graph;      // the graph with every pass's sections
  const memory_layout<N>& memory;  // where its buffers are: the memory plan

  constexpr plan(const flat_graph<N>& g, const memory_layout<N>& m) : graph(g), memory(m) {}
  // A plan refers to what it was made from, so never to a temporary (it would dangle): each of
  // these is chosen over the copy for a temporary, and refuses it.
  template <class Temporary = owned_plan<N>>
  plan(const owned_plan<N>&& p) : graph(p.graph), memory(p.memory) {
    refuse_temporary<Temporary>();
  }
  template <class Temporary = flat_graph<N>>
  plan(const flat_graph<N>&& g, const memory_layout<N>& m) : graph(g), memory(m) {
    refuse_temporary<Temporary>();
  }
  template <class Temporary = memory_layout<N>>
  plan(const flat_graph<N>& g, const memory_layout<N>&& m) : graph(g), memory(m) {
    refuse_temporary<Temporary>();
  }

  constexpr bool ok() const { return graph.error.code == errc::ok; }
  constexpr status error() const { return graph.error; }

  // Nodes
  // The graph's tensors are there even when it was rejected (errors name them); everything
  // the passes computed is refused then.
  constexpr int tensor_count() const { return graph.tensor_count; }
  constexpr int step_count() const { return checked().step_count; }
  constexpr const node_desc& node(int i) const { return graph.nodes[i]; }
  //! The node at a step of the schedule.
  constexpr int node_at(int step) const { return checked().schedule[step]; }
  //! The index of the tensor with this name, or no_index.
  constexpr int index_of(std::string_view name) const { return graph.index_of(name); }
  //! Every error found (up to max_reported_errors); error() is the first.
  constexpr int error_count() const { return graph.error_count; }
  constexpr status error(int i) const { return graph.errors[i]; }
  template <class T>
  constexpr int index_of() const {
    int i = index_of(T::name.view());
    detail::require(i >= 0, "this tensor is not in the plan's graph");
    return i;
  }
  template <class T>
  constexpr int step_of() const { return checked().step[index_of<T>()]; }
  //! The step at which node v runs (graph inputs, parameters and state: none, no_index).
  constexpr int step_of(int v) const { return checked().step[v]; }
  //! The tensors node v's output rule reads (its inputs', or a multi-output node's for its extra
  //! outputs), copied into `in`.
  constexpr std::span<const tensor_desc> rule_inputs(int v, tensor_desc (&in)[max_inputs]) const { return detail::rule_inputs(graph.nodes, v, in); }
  template <class T>
  constexpr const tensor_desc& output_of() const { return checked().nodes[index_of<T>()].out; }

  // Partitions
  constexpr int partition_count() const { return checked().partition_count; }
  constexpr const partition_desc& partition(int i) const { return checked().partitions[i]; }
  constexpr int partition_count(partition_kind k) const {
    const flat_graph<N>& g = checked();
    int c = 0;
    for (int i = 0; i < g.partition_count; ++i) c += g.partitions[i].kind == k;
    return c;
  }
  template <class T>
  constexpr int partition_of() const { return checked().partition_of[index_of<T>()]; }

  // Parallel branches (passes/branches.hpp)
  //! The branch of T's node in its partition's CUDA graph (0 in a fallback region).
  template <class T>
  constexpr int branch_of() const { return branch_of(index_of<T>()); }
  constexpr int branch_of(int v) const { return checked().branch[v]; }
  //! The most parallel branches of any partition (1: every partition runs in schedule order).
  constexpr int branch_count() const { return detail::most_branches(checked()); }

  // Buffers
  //! The buffer that holds T's output (a view's is its source's).
  template <class T>
  constexpr const buffer_desc& buffer_of() const { return buffer(index_of<T>()); }
  //! The tensor whose storage node v's output is (a view's source, followed to the end; v itself
  //! for a tensor with storage of its own).
  constexpr int view_owner_of(int v) const { return checked().owner[v]; }
  constexpr const buffer_desc& buffer(int node) const {
    const flat_graph<N>& g = checked();
    return g.buffers[g.owner[node]];
  }
  template <class T>
  constexpr memory_class memory_of() const { return buffer_of<T>().memory; }
  //! Where the buffer that holds T's output starts in its arena (0 for external and opaque ones).
  template <class T>
  constexpr std::size_t offset_of() const { return offset_of(index_of<T>()); }
  constexpr std::size_t offset_of(int node) const { return laid_out().offset[graph.owner[node]]; }
  //! Where T's output starts in its buffer: 0 but for the named outputs of a multi-output node.
  template <class T>
  constexpr std::size_t offset_in_buffer() const { return offset_in_buffer(index_of<T>()); }
  constexpr std::size_t offset_in_buffer(int node) const { return detail::offset_in_storage(checked().nodes, node); }
  //! Buffers the run needs (planned and opaque; graph inputs and parameters are the user's).
  constexpr int buffer_count() const {
    return count_tensors([&](const flat_graph<N>&, int i) { return owns_storage(i); });
  }
  constexpr int buffer_count(memory_class m) const {
    return count_tensors([&](const flat_graph<N>& g, int i) { return owns_storage(i) && g.buffers[i].memory == m; });
  }
  //! Buffers that start in memory an earlier, dead buffer used (including in-place outputs).
  //! (Counted when asked: count_memory_reuses.)
  constexpr int reuse_count() const { return count_memory_reuses(graph, laid_out()); }
  constexpr int reuse_count(memory_class m) const { return count_memory_reuses(graph, laid_out(), int(m)); }
  //! Distinct storage the run needs: buffers less reuses (an opaque buffer is its own storage).
  constexpr int storage_count(memory_class m) const { return buffer_count(m) - reuse_count(m); }
  constexpr int storage_count() const { return buffer_count() - reuse_count(); }

  // Fusion
  //! Fused groups: runs of elementwise nodes that run as one kernel (passes/fuse.hpp).
  constexpr int fused_group_count() const {
    return count_tensors([](const flat_graph<N>& g, int i) { return g.fused_root[i] == i; });
  }
  //! Whether node v is computed inside another node's kernel (a fused group's member, or a node
  //! its readers run in their prologues): no storage, no launch.
  constexpr bool fused_away(int v) const { return detail::is_fused_member(checked(), v); }
  //! Nodes computed inside another node's kernel: each a launch and a buffer fewer.
  constexpr int fused_node_count() const {
    return count_tensors([](const flat_graph<N>& g, int i) { return detail::is_fused_member(g, i); });
  }
  //! The root of T's fused group (the node whose kernel computes T; T itself for a root), or
  //! no_index when T runs as its own kernel.
  template <class T>
  constexpr int fused_root_of() const { return fused_root_of(index_of<T>()); }
  constexpr int fused_root_of(int v) const { return checked().fused_root[v]; }
  //! The fused group whose root is node `root`: members in schedule order, leaves (empty if none).
  constexpr fused_group fused_group_of(int root) const { return detail::group_of(checked(), root); }
  //! The normalisation product T applies to A's rows as it loads them (its prologue), or
  //! no_index.
  template <class T>
  constexpr int prologue_of() const { return checked().prologue[index_of<T>()]; }
  //! Normalisations that run only in their readers' prologues: each a launch and a buffer fewer.
  constexpr int prologue_count() const {
    return count_tensors([](const flat_graph<N>& g, int i) { return g.in_prologues[i]; });
  }

  //! The sibling product whose launch computes T (passes/fuse.hpp), or no_index where T runs as its own launch (or leads one).
  template <class T>
  constexpr int sibling_lead_of() const { return sibling_lead_of(index_of<T>()); }
  constexpr int sibling_lead_of(int v) const { return checked().sibling_lead[v]; }
  //! Products computed in a sibling's launch (the same A): each a launch fewer, its buffer kept.
  constexpr int sibling_count() const {
    return count_tensors([](const flat_graph<N>& g, int i) { return g.sibling_lead[i] >= 0; });
  }
  //! The attention whose launch runs cache write T (passes/fuse.hpp), or no_index where T runs as its own launch.
  template <class T>
  constexpr int writes_in_of() const { return checked().writes_in[index_of<T>()]; }
  //! Cache writes an attention runs in its own launch: each a launch fewer.
  constexpr int written_in_attention_count() const {
    return count_tensors([](const flat_graph<N>& g, int i) { return g.writes_in[i] >= 0; });
  }

  // State: tensors kept across runs (ctg::state), which the memory planner never places or reuses
  //! The state tensors of the graph.
  constexpr int state_count() const {
    const flat_graph<N>& g = checked();
    int c = 0;
    for (int i = 0; i < g.tensor_count; ++i) c += g.nodes[i].kind == tensor_kind::state;
    return c;
  }
  //! Their bytes, each rounded up to the arena alignment: what an executor allocates for them
  //! (once, zero-filled, outside every arena) when none is bound.
  constexpr std::size_t state_bytes() const {
    const flat_graph<N>& g = checked();
    std::size_t b = 0;
    for (int i = 0; i < g.tensor_count; ++i)
      if (g.nodes[i].kind == tensor_kind::state) b += align_up(g.nodes[i].out.bytes());
    return b;
  }
  //! Nodes that write state (op_traits::writes_state: ops::cache_write, ops::advance).
  constexpr int state_write_count() const {
    const flat_graph<N>& g = checked();
    int c = 0;
    for (int i = 0; i < g.tensor_count; ++i) c += g.nodes[i].kind == tensor_kind::node && g.nodes[i].op->traits.writes_state;
    return c;
  }
  //! Whether T's storage is a state tensor's: T is one, a write into one, or a view of either.
  template <class T>
  constexpr bool is_state() const { return detail::state_of(checked().nodes, index_of<T>()) >= 0; }

  // Inserted copies (placement)
  constexpr int copy_count() const {
    int c = 0;
    const flat_graph<N>& g = checked();
    for (int i = 0; i < g.tensor_count; ++i) c += g.nodes[i].inserted;
    return c;
  }
  //! The inserted copy of tensor T into symmetric memory, or no_index.
  template <class T>
  constexpr int copy_of() const {
    const int t = index_of<T>();
    const flat_graph<N>& g = checked();
    for (int i = 0; i < g.tensor_count; ++i)
      if (g.nodes[i].inserted && g.nodes[i].inputs[0] == t) return i;
    return no_index;
  }

  // Hoisting
  template <class T>
  constexpr bool is_hoisted() const { return buffer_of<T>().hoisted; }
  //! Hoisted buffers of a leading fallback region: allocated at instantiation.
  constexpr int hoisted_at_instantiation() const { return checked().hoisted_at_instantiation; }
  constexpr std::size_t arena_bytes(memory_class m) const { return laid_out().arena_bytes[int(m)]; }
  constexpr std::size_t lower_bound(memory_class m) const { return laid_out().lower_bound[int(m)]; }

  // Launches (plan/launch.hpp): what a run launches, step by step
  //! Whether node v runs a launch of its own (its op, its fused group's, its sibling products' or
  //! its cache writes'): not a fused member, a sibling its lead computes or a write its attention runs.
  constexpr bool launches(int v) const {
    const flat_graph<N>& g = checked();
    return g.nodes[v].kind == tensor_kind::node && !detail::is_fused_member(g, v) && detail::launched_by(g, v) == v;
  }
  //! What node v's launch reads and runs (v must launch).
  constexpr launch_desc launch(int v) const {
    detail::require(launches(v), "this node runs no launch of its own");
    return detail::launch_of(graph, v);
  }
  //! Launches per run: the kernels (and host calls) of all partitions.
  constexpr int launch_count() const { return count_tensors([&](const flat_graph<N>&, int i) { return launches(i); }); }
  //! Launches of partition i.
  constexpr int launch_count(int i) const {
    const partition_desc& q = partition(i);
    int c = 0;
    for (int s = q.first_step; s <= q.last_step; ++s) c += launches(graph.schedule[s]);
    return c;
  }
  //! Whether node w's launch reads the storage of tensor v (one with storage of its own: a graph
  //! input, parameter, state or `view_owner_of` itself): what its op reads, what the cache writes
  //! it runs read, and its sibling products' W.
  constexpr bool launch_reads(int w, int v) const {
    const flat_graph<N>& g = checked();
    bool found = false;
    detail::for_each_read(g, w, [&](int u) { found = found || g.owner[u] == v; });
    if (g.sibling_lead[w] < 0)
      for (int x = g.sibling_next[w]; x >= 0; x = g.sibling_next[x]) found = found || g.owner[g.nodes[x].inputs[1]] == v;
    return found;
  }

 private:
  //! Every query goes through here: a rejected graph has no plan a static_assert can pass.
  constexpr const flat_graph<N>& checked() const {
    detail::require(ok(), "the graph was rejected; its errors are reported above");
    return graph;
  }
  template <class Temporary>
  static void refuse_temporary() {
    static_assert(detail::always_false<Temporary>, "ctgraph: a plan refers to the graph and memory layout it was made from, and this one would outlive them (made from a temporary). Keep what it refers to: the owned_plan that graph_builder::build() returns (auto p = b.build();), or a named graph and layout.");
  }
  constexpr const memory_layout<N>& laid_out() const {
    checked();
    return memory;
  }
  //! The tensors i of the graph for which pred(graph, i) holds.
  template <class Pred>
  constexpr int count_tensors(Pred pred) const {
    const flat_graph<N>& g = checked();
    int c = 0;
    for (int i = 0; i < g.tensor_count; ++i) c += pred(g, i);
    return c;
  }
  constexpr bool owns_storage(int i) const {
    return graph.owner[i] == i && graph.nodes[i].kind == tensor_kind::node && !detail::is_fused_member(graph, i);  // callers checked()
  }
};

namespace detail {
template <std::size_t N>
struct plan_store {
  flat_graph<N> stored_graph;
  memory_layout<N> stored_memory;
};
}  // namespace detail

//! A plan with its own graph and memory layout: what a run-time builder returns and an executor
//! keeps (make_plan's plan refers to constants of the compile; a builder's graph is gone after
//! build()). Copies refer to their own copies; not assignable, as a plan is not.
template <std::size_t N>
struct owned_plan : private detail::plan_store<N>, public plan<N> {
  constexpr owned_plan(const flat_graph<N>& g, const memory_layout<N>& m)
      : detail::plan_store<N>{g, m}, plan<N>{this->stored_graph, this->stored_memory} {}
  constexpr explicit owned_plan(const plan<N>& p) : owned_plan(p.graph, p.memory) {}
  constexpr owned_plan(const owned_plan& o) : owned_plan(o.stored_graph, o.stored_memory) {}
  owned_plan& operator=(const owned_plan&) = delete;
};

}  // namespace ctg
