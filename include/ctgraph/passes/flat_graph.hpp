#pragma once
//! The flattened graph and each pass's results, in sections by the pass that writes them (which
//! pass reads what: the table in run_passes.hpp). What the user declared (nodes' traits) stays.
//! `N` is the capacity; `tensor_count` the number in use (the compile-time plan has N == tensor_count,
//! run-time builders use a larger capacity).
#include <cstddef>

#include <ctgraph/graph/errc.hpp>
#include <ctgraph/graph/memory_class.hpp>
#include <ctgraph/graph/node_desc.hpp>

namespace ctg {

//! Steps from a buffer's first write to its last read, both inclusive.
struct lifetime {
  int first = no_index;
  int last = no_index;
  constexpr bool overlaps(const lifetime& o) const { return first <= o.last && o.first <= last; }
  friend constexpr bool operator==(const lifetime&, const lifetime&) = default;
};

//! Storage for one node's output.
struct buffer_desc {
  int node = no_index;           // the producer
  memory_class memory = memory_class::external;
  std::size_t bytes = 0;         // the tensor's bytes (where in its arena: the memory plan's memory_layout)
  struct lifetime lifetime {};
  bool opaque = false;           // the op allocates it itself; not in an arena, never reused
  int shares = no_index;         // in place: the buffer whose storage this one takes over
  //! Written in a fallback region, so owned by the capturable partition before it (its address
  //! is fixed across replays); `hoisted_to` is that partition, or no_index when no partition
  //! comes before the fallback region: then it is allocated at instantiation with the arenas.
  bool hoisted = false;
  int hoisted_to = no_index;
  //! The last step that may run while this buffer is still read or written: past `lifetime.last`
  //! where another branch of its partition runs on (passes/branches.hpp). Its memory may only be
  //! reused by a buffer first written after it.
  int busy_until = no_index;
};

enum class partition_kind : std::uint8_t { capturable, fallback };

//! A maximal run of scheduled nodes that are all capturable (one CUDA graph) or all not.
struct partition_desc {
  partition_kind kind = partition_kind::capturable;
  int first_step = 0;
  int last_step = no_index;      // first_step = 0, last_step = no_index: an empty partition
  int hoisted = 0;               // buffers of the next fallback region that this partition owns
  int static_inputs = 0;         // buffers it reads that were written before it (or are the user's)
  int static_input_copies = 0;   // of those, how many must be copied into partition-owned memory
  int branches = 1;              // parallel branches of its CUDA graph (passes/branches.hpp)
  constexpr int node_count() const { return last_step - first_step + 1; }
};

//! How many rejected nodes one compile reports (each its own static_assert).
inline constexpr int max_reported_errors = 64;

//! The most partitions (capturable runs and fallback regions) one plan holds; a graph of fewer
//! tensors holds as many as it has. Apart from the tensor capacity because every constant copy of
//! a graph carries each unused entry (a flat graph of 5,463 tensors: about 45 MB of nvcc's memory).
//! Define CTG_MAX_PARTITIONS before including ctgraph to raise it.
#ifndef CTG_MAX_PARTITIONS
#define CTG_MAX_PARTITIONS 256
#endif
inline constexpr int max_partitions = CTG_MAX_PARTITIONS;

template <std::size_t N>
struct flat_graph {
  static_assert(N > 0);
  static constexpr std::size_t capacity = N;

  // The graph (flatten or a run-time builder; insert_copies appends copies, validate infers `out`)
  int tensor_count = 0;
  bool one_partition = false;    // the user asked for a single capturable partition
  bool fuse = false;             // fuse elementwise neighbours (make_plan; run-time builders have no types to fuse)
  bool siblings = true;          // with `fuse`: products of one A run as one launch (plan_options::siblings)
  bool cache_writes = true;      // with `fuse`: an attention writes its caches' new rows (plan_options::cache_writes)
  int branch_limit = 4;          // at most this many parallel branches per partition (1: the schedule's order)
  node_desc nodes[N]{};
  bool is_output[N]{};

  // schedule: topological order of the nodes (graph inputs and parameters are not scheduled)
  int step_count = 0;
  int schedule[N]{};             // step -> node
  int step[N]{};                 // node -> step, no_index for graph inputs and parameters

  // place_symmetric: each tensor's memory class (what its op declares, or symmetric where a
  // collective reads it); the op's declared traits stay as the user wrote them.
  memory_class memory[N]{};

  // partition
  static constexpr std::size_t partition_capacity = N < std::size_t(max_partitions) ? N : std::size_t(max_partitions);
  int partition_count = 0;
  partition_desc partitions[partition_capacity]{};
  int partition_of[N]{};         // no_index for graph inputs and parameters

  // view_owners
  int owner[N]{};                // the node whose buffer holds node i's output (itself unless a view)
  // fuse: the root of each node's fused group (the node whose kernel computes it; a root is its
  // own), no_index for a node that runs as its own kernel
  int fused_root[N]{};
  // fuse: for a product, the row normalisation it applies to A as it loads it (its prologue), or
  // no_index; and whether a normalisation runs only in its readers' prologues (no buffer, no launch)
  int prologue[N]{};
  bool in_prologues[N]{};
  // fuse: sibling products (products of one A that one gemv launch runs): for a product run in
  // another's launch, that product (the group's lead), else no_index; and from each lead, the
  // next product of its group, in schedule order (no_index after the last)
  int sibling_lead[N]{};
  int sibling_next[N]{};
  // fuse: for a cache write that the attention reading the cache runs in its own launch, that
  // attention, else no_index
  int writes_in[N]{};
  // branches: each node's branch in its partition (0 in fallback regions), no_index for graph
  // inputs and parameters
  int branch[N]{};
  // lifetimes (shares: hand_over; hoisted: hoist); the offsets are the memory plan's own result
  // (memory_layout, passes/memory_plan.hpp), not a section here
  buffer_desc buffers[N]{};      // indexed by node; meaningful where owner[i] == i
  int hoisted_at_instantiation = 0;  // hoist: hoisted buffers of a leading fallback region

  //! The index of the tensor named `name`, or no_index.
  constexpr int index_of(std::string_view name) const {
    for (int i = 0; i < tensor_count; ++i)
      if (nodes[i].name == name) return i;
    return no_index;
  }

  status error{};                // the first error; passes after a failed one do not run
  int error_count = 0;           // every error found (a pass goes on past a bad node where it can)
  status errors[max_reported_errors]{};
};

namespace detail {
//! The tensor whose storage `v` uses, following views (from the graph alone).
constexpr int storage_of(const node_desc* nodes, int v) {
  while (nodes[v].kind == tensor_kind::node && nodes[v].op->traits.view && nodes[v].input_count > 0 && nodes[v].inputs[0] >= 0)
    v = nodes[v].inputs[0];
  return v;
}
template <std::size_t N>
constexpr int storage_of(const flat_graph<N>& g, int v) {
  return storage_of(g.nodes, v);
}
//! The tensors node v's output rule reads, copied into `in`: its inputs', or for an extra output
//! (output k > 0 of a multi-output node) that node's inputs'.
constexpr std::span<const tensor_desc> rule_inputs(const node_desc* nodes, int v, tensor_desc (&in)[max_inputs]) {
  const node_desc* d = &nodes[v];
  if (d->op->traits.extra_output && d->input_count > 0) d = &nodes[d->inputs[0]];
  for (int k = 0; k < d->input_count; ++k) in[k] = nodes[d->inputs[k]].out;
  return {in, std::size_t(d->input_count)};
}
//! The bytes of the buffer tensor v needs: its own, or a multi-output node's outputs together
//! (asked of its rule again: rare, and cheaper at compile time than an array per tensor).
constexpr std::size_t storage_bytes(const node_desc* nodes, int v) {
  const node_desc& d = nodes[v];
  if (!d.op->multi_output || d.op->output == nullptr) return d.out.bytes();
  tensor_desc in[max_inputs]{};
  return d.op->output(rule_inputs(nodes, v, in)).storage_bytes;
}
//! Where tensor v starts in the storage it uses (`storage_of`): 0 but for the named outputs of a
//! multi-output node, which start where its op put them in its buffer (`output_offset`).
constexpr std::size_t offset_in_storage(const node_desc* nodes, int v) {
  std::size_t at = 0;
  for (; nodes[v].kind == tensor_kind::node && nodes[v].op->traits.view && nodes[v].input_count > 0 && nodes[v].inputs[0] >= 0;
       v = nodes[v].inputs[0]) {
    if (!nodes[v].op->traits.extra_output || nodes[v].op->output == nullptr) continue;
    tensor_desc in[max_inputs]{};
    at += nodes[v].op->output(rule_inputs(nodes, v, in)).view_offset;
  }
  return at;
}
}  // namespace detail

namespace detail {
//! Whether node v is computed inside another node's kernel (a fused group's member, or a
//! normalisation its readers apply in their prologues): no storage, no launch.
template <std::size_t N>
constexpr bool is_fused_member(const flat_graph<N>& g, int v) {
  return (g.fused_root[v] >= 0 && g.fused_root[v] != v) || g.in_prologues[v];
}
}  // namespace detail

namespace detail {
//! The node whose launch computes node v: its sibling lead, the attention that runs a cache
//! write, or v itself.
template <std::size_t N>
constexpr int launched_by(const flat_graph<N>& g, int v) {
  return g.sibling_lead[v] >= 0 ? g.sibling_lead[v] : g.writes_in[v] >= 0 ? g.writes_in[v] : v;
}
//! The step at which node v's output is written: that of the node whose launch computes it.
template <std::size_t N>
constexpr int written_at(const flat_graph<N>& g, int v) {
  return g.step[launched_by(g, v)];
}
//! Whether nothing that may still run when node v's launch starts writes tensor u, so that its
//! kernel may read u before it waits for the kernel before it (programmatic dependent launch): a
//! graph input or parameter, or a state that no node before v writes, the writes v's own launch
//! runs excepted (it does them after its wait). A write after v waits for v (passes/state.hpp
//! orders it after every reader of what it replaces), and earlier runs have completed.
template <std::size_t N>
constexpr bool fixed_at(const flat_graph<N>& g, int v, int u) {
  const int o = g.owner[u];
  const tensor_kind k = g.nodes[o].kind;
  if (k == tensor_kind::input || k == tensor_kind::parameter) return true;
  if (k != tensor_kind::state) return false;
  for (int w = 0; w < g.tensor_count; ++w)
    if (g.nodes[w].kind == tensor_kind::node && g.nodes[w].op->traits.writes_state && g.owner[w] == o && g.step[w] < g.step[v] && g.writes_in[w] != v)
      return false;
  return true;
}
}  // namespace detail

//! A buffer the memory plan places in an arena: a node's own storage (not a view's), neither
//! opaque, fused away nor the user's. Meaningful after lifetimes.
template <std::size_t N>
constexpr bool is_planned(const flat_graph<N>& g, int v) {
  const buffer_desc& b = g.buffers[v];
  return g.nodes[v].kind == tensor_kind::node && g.owner[v] == v && !b.opaque && !detail::is_fused_member(g, v) && b.memory != memory_class::external;
}

//! Records an error; the first one also stops the passes that follow.
template <std::size_t N>
constexpr status report(flat_graph<N>& g, status s) {
  if (g.error.code == errc::ok) g.error = s;
  if (g.error_count < max_reported_errors) g.errors[g.error_count++] = s;
  return s;
}

}  // namespace ctg
