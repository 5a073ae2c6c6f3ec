#pragma once
//! check_plan: proves a plan sound from the graph alone. It recomputes what it checks instead
//! of trusting the planner's records, so it would catch a planner bug:
//!  - outputs from each op's output rule, buffer bytes from those outputs (all of a multi-output
//!    node's), where a view starts in its storage;
//!  - view storage from op traits, lifetimes from the schedule (every read, outputs to the end);
//!  - memory classes from op kinds: collective inputs symmetric, host op inputs on the host
//!    (pinned, or the user's, checked at binding),
//!    every other buffer where its op declares (or moved into the symmetric window);
//!  - the schedule topological, partitions tiling it by capturability;
//!  - branches inside their partition's count (one in fallback regions), and from them the
//!    happens-before order the captured graphs keep (passes/branches.hpp's model of them): a
//!    buffer is busy until the last step placing a buffer that does not wait for all its accesses;
//!  - offsets aligned and inside their arena, no two buffers that may be busy at once overlapping,
//!    an output taking its input's storage only when its op allows in place, at the input's last
//!    read, after every access on every branch, and never for a collective (peers still read that
//!    input);
//!  - buffers written in fallback regions hoisted; lower bounds the peak of live bytes;
//!  - fused groups: elementwise nodes of one dtype, element count and partition, whose members
//!    no one outside the group reads; the group reads its leaves at its root's step;
//!  - state tensors never the planner's (external, unplaced, never taken over in place, the
//!    storage of their writes and views only), and every reader of a state version before the
//!    write that replaces it by the graph's edges.
//! Linear in the graph but for one sweep over a list of live buffers ordered by offset, so a
//! `static_assert(!check_plan(p))` fits the compilers' default budgets for model-sized graphs.
#include <cstdint>
#include <string_view>

#include <ctgraph/passes/branches.hpp>
#include <ctgraph/plan/plan.hpp>

namespace ctg {

//! Why a plan is unsound; each corruption of a plan has its own.
enum class plan_fault : std::uint8_t {
  none,
  carries_error,
  bad_schedule,
  not_topological,
  wrong_output,
  view_rehomed,
  collective_not_symmetric,
  host_reads_device,
  wrong_memory,
  buffer_too_small,
  bad_partitions,
  uncapturable_in_graph,
  wrong_lifetime,
  not_hoisted,
  misaligned,
  outside_arena,
  collective_writes_peer_input,
  in_place_not_allowed,
  in_place_early,
  overlap,
  wrong_lower_bound,
  arena_below_bound,
  bad_fusion,
  fused_read_outside,
  bad_branches,
  in_place_concurrent,
  state_placed,
  state_handed_over,
  state_unordered,
};

constexpr std::string_view describe(plan_fault f) {
  switch (f) {
    case plan_fault::none: return "sound";
    case plan_fault::carries_error: return "the plan carries an error";
    case plan_fault::bad_schedule: return "a node is not in the schedule exactly once";
    case plan_fault::not_topological: return "the schedule is not topological";
    case plan_fault::wrong_output: return "a node's output differs from its op's output rule";
    case plan_fault::view_rehomed: return "a tensor's storage is not its view source's (or its own)";
    case plan_fault::collective_not_symmetric: return "a collective reads memory that is not symmetric";
    case plan_fault::host_reads_device: return "a host op reads memory that is not pinned host";
    case plan_fault::wrong_memory: return "a buffer is not in the memory its op declares";
    case plan_fault::buffer_too_small: return "a buffer is smaller than its tensor";
    case plan_fault::bad_partitions: return "partitions do not tile the schedule";
    case plan_fault::uncapturable_in_graph: return "a node is in a partition of the wrong kind (capturable or fallback)";
    case plan_fault::wrong_lifetime: return "a buffer's lifetime is not from its write to its last read";
    case plan_fault::not_hoisted: return "a buffer written in a fallback region is not hoisted to the capturable partition before it";
    case plan_fault::misaligned: return "an offset is not aligned";
    case plan_fault::outside_arena: return "a buffer ends outside its arena";
    case plan_fault::collective_writes_peer_input: return "a collective writes storage that peers read in the same collective";
    case plan_fault::in_place_not_allowed: return "an output takes its input's storage, but its op does not allow in place";
    case plan_fault::in_place_early: return "an output takes its input's storage before the input's last read";
    case plan_fault::overlap: return "two buffers that may be busy at once overlap in memory";
    case plan_fault::wrong_lower_bound: return "the lower bound is not the peak of live bytes";
    case plan_fault::arena_below_bound: return "an arena is smaller than its lower bound";
    case plan_fault::bad_fusion: return "a fused group, prologue, sibling group or cache write in an attention breaks fusion's rules (an op not elementwise, another dtype, size or partition, too many nodes or leaves, a prologue's reader that does not fold it in, siblings that are not products of one A, or a write the attention cannot run)";
    case plan_fault::fused_read_outside: return "a tensor computed inside a fused kernel is read outside it (or is a graph output)";
    case plan_fault::bad_branches: return "a node's branch is outside its partition's branches (or not 0 in a fallback region)";
    case plan_fault::in_place_concurrent: return "an output takes its input's storage while another branch may still use it";
    case plan_fault::state_placed: return "a state tensor's storage is planned (in an arena, opaque, hoisted, or holding a tensor that neither writes nor views it), or a write's or view's of state is not the state's";
    case plan_fault::state_handed_over: return "an output takes over a state tensor's storage in place";
    case plan_fault::state_unordered: return "a node reads or writes state that a write replaces without preceding the write by the graph's edges";
  }
  return "?";
}

struct plan_violation {
  plan_fault fault = plan_fault::none;
  int node = -1;
  int other = -1;
  constexpr std::string_view what() const { return describe(fault); }
  constexpr explicit operator bool() const { return fault != plan_fault::none; }
};

namespace detail {

//! The checker's own facts, recomputed from nodes, outputs and the schedule.
template <std::size_t N>
struct recomputed {
  int storage[N]{};      // the tensor whose storage each tensor uses
  int last[N]{};         // of a storage: its last read (the last step if a graph output uses it)
  bool output[N]{};      // of a storage: a graph output uses it
  int taker[N]{};        // of a storage: the node that took it over in place, or -1
  int busy[N]{};         // of a storage: the last step that may run while it is in use
  //! The branches' clocks (passes/branches.hpp) and, of each storage, its last access on each branch.
  scratch<int> clock, reach;
};

//! An epilogue group: a product, then a bias add (reading it at input 0), then an activation (of
//! a product with no residual of its own) or a residual add (reading it at either input), or one
//! or two of the three.
template <std::size_t N>
constexpr bool epilogue_shape(const flat_graph<N>& g, const fused_members& f) {
  if (f.size < 2 || f.size > 3) return false;
  const int before = f.members[f.size - 2];
  const node_desc &product = g.nodes[f.members[0]], &root = g.nodes[f.members[f.size - 1]], &bias = g.nodes[f.members[1]];
  const bool own_residual = product.input_count > 2 + (product.input_count > 2 && g.nodes[product.inputs[2]].out.rank == 1);
  const bool activation_root = root.op->traits.as_epilogue != activation::none && root.input_count == 1 && root.inputs[0] == before && !own_residual;
  const bool add_root = root.op->traits.as_bias && root.input_count == 2 && (root.inputs[0] == before || root.inputs[1] == before);
  if (f.size == 2) return activation_root || add_root;
  return (activation_root || add_root) && bias.op->traits.as_bias && bias.input_count == 2 && bias.inputs[0] == f.members[0] &&
         g.nodes[bias.inputs[1]].out.rank == 1;
}

//! Fused groups: roots and members elementwise, of the root's dtype, element count and partition,
//! members before their root and read by no one outside the group, groups within the limits.
template <std::size_t N>
constexpr plan_violation check_fusion(const flat_graph<N>& g) {
  const int n = g.tensor_count;
  for (int v = 0; v < n; ++v) {
    const int root = g.fused_root[v];
    if (root == no_index) continue;
    if (root < 0 || root >= n || g.fused_root[root] != root || g.nodes[v].kind != tensor_kind::node) return {plan_fault::bad_fusion, v};
    const node_desc &d = g.nodes[v], &rd = g.nodes[root];
    // A product is a member only as the first of an epilogue group (epilogue_shape).
    const bool product = v != root && !d.op->traits.elementwise;
    if (product && (d.op->epilogue_output == nullptr || members_of(g, root).members[0] != v)) return {plan_fault::bad_fusion, v, root};
    if ((!product && !d.op->traits.elementwise) || d.out.dtype != rd.out.dtype || d.out.elements() != rd.out.elements() ||
        g.partition_of[v] != g.partition_of[root] || (v != root && g.step[v] >= g.step[root]))
      return {plan_fault::bad_fusion, v, root};
    if (v != root && g.is_output[v]) return {plan_fault::fused_read_outside, v};
    if (v == root) {
      const fused_members f = members_of(g, root);
      if (f.size < 2 || (!g.nodes[f.members[0]].op->traits.elementwise && !epilogue_shape(g, f))) return {plan_fault::bad_fusion, v};
      for (int l = 0; l < f.leaf_count; ++l)
        if (g.nodes[f.leaves[l]].out.dtype != rd.out.dtype) return {plan_fault::bad_fusion, v, f.leaves[l]};
    }
  }
  // Prologues: a folded node can be one, read only at the input that takes it by readers that
  // fold it in; a reader's prologue is such a node, which it reads there.
  for (int v = 0; v < n; ++v) {
    if (g.in_prologues[v] && (g.fused_root[v] != no_index || g.is_output[v] || g.nodes[v].op->traits.as_prologue == prologue::none ||
                              g.nodes[v].kind != tensor_kind::node))
      return {plan_fault::bad_fusion, v};
    if (const int p = g.prologue[v];
        p != no_index && (p < 0 || p >= n || !g.in_prologues[p] || g.nodes[v].op->prologue_input < 0 ||
                          g.nodes[v].op->prologue_input >= g.nodes[v].input_count || g.nodes[v].inputs[g.nodes[v].op->prologue_input] != p || !g.nodes[v].op->takes_prologue.has(g.nodes[p].op->traits.as_prologue)))
      return {plan_fault::bad_fusion, v, p};
  }
  for (int w = 0; w < n; ++w)
    for (int k = 0; k < g.nodes[w].input_count; ++k) {
      const int u = g.nodes[w].inputs[k];
      if (g.in_prologues[u]) {
        // A folded node is read where its reader folds it, or, a gated product's gate, by that product.
        const bool folded_read = g.in_prologues[w] ? k == 0 && g.nodes[u].op->traits.as_prologue == prologue::gate &&
                                                         g.nodes[w].op->traits.as_prologue == prologue::gated
                                                   : k == g.nodes[w].op->prologue_input && g.prologue[w] == u;
        if (!folded_read) return {plan_fault::fused_read_outside, w, u};
      } else if (const int root = g.fused_root[u]; root >= 0 && root != u && g.fused_root[w] != root) {  // a fused member
        return {plan_fault::fused_read_outside, w, u};
      }
    }
  // Sibling products: each of a lead's, after it in its partition, a product of the lead's A (and
  // prologue) with W a graph input or parameter, no bias, residual or epilogue, of the lead's rows
  // and dtype; the lead's chain lists exactly them, in schedule order, within the limit.
  const auto product = [&](int v) {
    const node_desc& d = g.nodes[v];
    return d.kind == tensor_kind::node && d.op->takes_prologue.has(prologue::rms_norm) && d.op->epilogue_output != nullptr && d.input_count == 2 &&
           g.fused_root[v] == no_index && !g.in_prologues[v] && !d.in_place &&
           (g.nodes[d.inputs[1]].kind == tensor_kind::input || g.nodes[d.inputs[1]].kind == tensor_kind::parameter);
  };
  for (int v = 0; v < n; ++v) {
    const int p = g.sibling_lead[v];
    if (p == no_index) continue;
    if (p < 0 || p >= n || g.sibling_lead[p] != no_index || !product(v) || !product(p) || g.nodes[v].inputs[0] != g.nodes[p].inputs[0] ||
        g.prologue[v] != g.prologue[p] || g.partition_of[v] != g.partition_of[p] || g.step[p] >= g.step[v] ||
        g.nodes[v].out.dtype != g.nodes[p].out.dtype || g.nodes[v].out.dims[0] != g.nodes[p].out.dims[0] ||
        g.nodes[v].out.dims[0] > ops::prologue_max_rows)
      return {plan_fault::bad_fusion, v, p};
  }
  // Each chain member names the chain's lead and chains run forward, so a sibling is on no chain
  // but its lead's, at most once: the chains hold every sibling where their lengths add up.
  int siblings = 0, chained = 0;
  for (int p = 0; p < n; ++p) {
    if (g.sibling_lead[p] != no_index) {
      ++siblings;
      if (g.sibling_next[p] != no_index && (g.sibling_next[p] < 0 || g.sibling_next[p] >= n || g.sibling_lead[g.sibling_next[p]] != g.sibling_lead[p]))
        return {plan_fault::bad_fusion, p};
      continue;
    }
    int size = 1, at = p;
    for (int x = g.sibling_next[p]; x != no_index; at = x, x = g.sibling_next[x], ++size, ++chained)
      if (x < 0 || x >= n || g.sibling_lead[x] != p || g.step[x] <= g.step[at] || size == ops::max_sibling_products)
        return {plan_fault::bad_fusion, x, p};
  }
  if (siblings != chained) return {plan_fault::bad_fusion};
  // Cache writes in an attention: both writes it reads at inputs 1 and 2, at the position it
  // reads, before it in its partition, each read by it alone and the only reader of its cache;
  // the value write with no prologue.
  scratch<int> readers;
  for (int w = 0; w < n; ++w) {
    const int a = g.writes_in[w];
    if (a == no_index) continue;
    if (readers.empty()) {
      readers = scratch<int>(std::size_t(n), 0);
      for (int x = 0; x < n; ++x)
        for (int k = 0; k < g.nodes[x].input_count; ++k) ++readers[std::size_t(g.nodes[x].inputs[k])];
    }
    if (a < 0 || a >= n) return {plan_fault::bad_fusion, w};
    const node_desc &d = g.nodes[w], &at = g.nodes[a];
    const int k = at.input_count != 4 ? 0 : at.inputs[1] == w ? 1 : at.inputs[2] == w ? 2 : 0;
    if (k == 0 || !at.op->takes_cache_writes || d.kind != tensor_kind::node || !d.op->writes_rows || !d.op->rows_at_position || d.input_count != 3 ||
        d.inputs[1] != at.inputs[3] || g.writes_in[at.inputs[3 - k]] != a || g.partition_of[w] != g.partition_of[a] || g.step[w] >= g.step[a] ||
        g.is_output[w] || readers[std::size_t(w)] != 1 || readers[std::size_t(d.inputs[0])] != 1 || (k == 2 && g.prologue[w] != no_index))
      return {plan_fault::bad_fusion, w, a};
  }
  return {};
}

//! State (ctg::state) is never the planner's: each state tensor external and unplaced, the storage
//! of exactly its writes and views (from the graph), and no output takes it over in place. Before
//! check_structure, so that a write or view of state given other storage is this fault.
template <std::size_t N>
constexpr plan_violation check_state_storage(const flat_graph<N>& g, const memory_layout<N>& m) {
  const int n = g.tensor_count;
  bool any = false;  // every fault below involves a state tensor: none, nothing to check
  for (int v = 0; v < n && !any; ++v) any = g.nodes[v].kind == tensor_kind::state;
  for (int v = 0; v < n && any; ++v) {
    const buffer_desc& b = g.buffers[v];
    if (g.nodes[v].kind == tensor_kind::state &&
        (b.memory != memory_class::external || m.offset[v] != 0 || b.opaque || b.hoisted || b.shares != no_index))
      return {plan_fault::state_placed, v};
    const int s = state_of(g.nodes, v), o = g.owner[v];
    if (s >= 0 && o != s) return {plan_fault::state_placed, v, s};
    if (o >= 0 && o < n && g.nodes[o].kind == tensor_kind::state && s != o) return {plan_fault::state_placed, v, o};
    if (b.shares >= 0 && b.shares < n && state_of(g.nodes, b.shares) >= 0) return {plan_fault::state_handed_over, v, b.shares};
  }
  return {};
}

//! Every reader of a state version runs before the write that replaces it, by the graph's edges
//! (which a captured graph keeps however it orders the rest); after check_structure (the schedule
//! is topological).
template <std::size_t N>
constexpr plan_violation check_state_order(const flat_graph<N>& g) {
  plan_violation bad{};
  visit_state_writes(
      g, [&](int w) { if (!bad) bad = {plan_fault::state_placed, w, g.nodes[w].input_count > 0 ? g.nodes[w].inputs[0] : no_index}; },
      [&](int w, int r) { if (!bad) bad = {plan_fault::state_unordered, w, r}; });
  return bad;
}

template <std::size_t N>
constexpr plan_violation check_structure(const flat_graph<N>& g, recomputed<N>& r) {
  const int n = g.tensor_count;
  // Schedule: every node once (the sweep below checks that its inputs come earlier).
  if (g.step_count < 0 || g.step_count > n) return {plan_fault::bad_schedule};
  int scheduled = 0;
  for (int v = 0; v < n; ++v) {
    r.storage[v] = v, r.last[v] = -1, r.output[v] = false, r.taker[v] = -1;
    const node_desc& d = g.nodes[v];
    const int s = g.step[v];
    if (d.kind != tensor_kind::node) {
      if (s != -1) return {plan_fault::bad_schedule, v};
      continue;
    }
    ++scheduled;
    if (s < 0 || s >= g.step_count || g.schedule[s] != v || d.input_count < 0 || d.input_count > max_inputs) return {plan_fault::bad_schedule, v};
  }
  // Each node has its own step, so the schedule's steps are exactly the nodes.
  if (scheduled != g.step_count) return {plan_fault::bad_schedule};
  // Where a folded node is read: the last launch that folds it in (a cache write reads in its
  // attention's launch), and a gated product's gate where that product's readers fold it. Found,
  // where a graph has folded nodes, in two sweeps over the readers, not one per folded node (that
  // was quadratic).
  scratch<int> folded_at, gate_at;
  auto find_folded_reads = [&] {
    const scratch<int> folded_step(std::size_t(n) + 1, -1);
    folded_at = scratch<int>(std::size_t(n) + 1, -1), gate_at = scratch<int>(std::size_t(n) + 1, -1);
    for (int w = 0; w < n; ++w) {
      const int p = g.prologue[w];
      if (p < 0 || p >= n) continue;
      const int t = g.step[g.writes_in[w] >= 0 && g.writes_in[w] < n ? g.writes_in[w] : w];
      if (t > folded_at[std::size_t(p)]) folded_at[std::size_t(p)] = t;
      if (g.step[w] > folded_step[std::size_t(p)]) folded_step[std::size_t(p)] = g.step[w];
    }
    for (int w = 0; w < n; ++w)
      if (g.in_prologues[w] && g.nodes[w].input_count > 0 && g.nodes[w].inputs[0] >= 0 && g.nodes[w].inputs[0] < n) {
        int& at = gate_at[std::size_t(g.nodes[w].inputs[0])];
        if (folded_step[std::size_t(w)] > at) at = folded_step[std::size_t(w)];
      }
  };
  tensor_desc in[max_inputs]{};  // a rule's inputs (each call writes and reads its own count)
  for (int s = 0; s < g.step_count; ++s) {
    const int v = g.schedule[s];
    const node_desc& d = g.nodes[v];
    int at = s;  // a fused member's root reads for it; a folded node's readers, in their prologues
    if (g.in_prologues[v]) {
      if (folded_at.empty()) find_folded_reads();
      if (folded_at[std::size_t(v)] > at) at = folded_at[std::size_t(v)];
      if (gate_at[std::size_t(v)] > at) at = gate_at[std::size_t(v)];
    } else if (g.fused_root[v] >= 0 && g.fused_root[v] != v) at = g.step[g.fused_root[v]];  // a fused member
    else if (g.sibling_lead[v] >= 0) at = g.step[g.sibling_lead[v]];  // its lead's launch reads for it
    else if (g.writes_in[v] >= 0 && g.writes_in[v] < n) at = g.step[g.writes_in[v]];  // its attention's launch reads for it
    for (int k = 0; k < d.input_count; ++k) {  // inputs: tensors of the graph, nodes scheduled earlier
      const int u = d.inputs[k];
      if (u < 0 || u >= n) return {plan_fault::bad_schedule, v};
      if (g.nodes[u].kind == tensor_kind::node && g.step[u] >= s) return {plan_fault::not_topological, v, u};
      if (int& last = r.last[r.storage[u]]; last < at) last = at;
    }
    if (d.op->output != nullptr) {
      const output_result o = d.op->output(detail::rule_inputs(g.nodes, v, in));
      if (o.error != errc::ok || !(o.out == d.out)) return {plan_fault::wrong_output, v};
    }
    if (d.op->traits.view && d.input_count > 0) r.storage[v] = r.storage[d.inputs[0]];
  }
  for (int v = 0; v < n; ++v) {
    if (g.owner[v] != r.storage[v]) return {plan_fault::view_rehomed, v, g.owner[v]};
    if (g.is_output[v]) r.output[r.storage[v]] = true;
  }
  for (int v = 0; v < n; ++v)
    if (r.output[v]) r.last[v] = g.step_count - 1;
  return check_fusion(g);  // after the outputs: it compares their sizes
}

template <std::size_t N>
constexpr plan_violation check_memory(const flat_graph<N>& g, const recomputed<N>& r) {
  const int n = g.tensor_count;
  // What readers require first: it names the reader.
  for (int v = 0; v < n; ++v) {
    const node_desc& d = g.nodes[v];
    if (d.kind != tensor_kind::node || (!d.op->traits.symmetric_inputs && d.op->traits.where != executes_on::host)) continue;
    for (int k = 0; k < d.input_count; ++k) {
      const int u = r.storage[d.inputs[k]];
      const buffer_desc& b = g.buffers[u];
      if (d.op->traits.symmetric_inputs && (b.memory != memory_class::symmetric || b.opaque))
        return {plan_fault::collective_not_symmetric, v, d.inputs[k]};
      if (d.op->traits.where == executes_on::host && b.memory != memory_class::pinned_host &&
          (b.memory != memory_class::external || g.nodes[u].kind == tensor_kind::state))  // state is on the device
        return {plan_fault::host_reads_device, v, d.inputs[k]};
    }
  }
  for (int v = 0; v < n; ++v) {
    if (r.storage[v] != v) continue;
    const node_desc& d = g.nodes[v];
    const buffer_desc& b = g.buffers[v];
    if (d.kind != tensor_kind::node) {
      if (b.memory != memory_class::external) return {plan_fault::wrong_memory, v};
      continue;
    }
    const memory_class declared = d.op->traits.output_memory;
    const bool moved = declared == memory_class::device && b.memory == memory_class::symmetric;  // placement
    if ((b.memory != declared && !moved) || b.memory == memory_class::external ||
        b.opaque != (d.op->traits.result == op_result::opaque))
      return {plan_fault::wrong_memory, v};
  }
  // Every tensor fits the storage it uses.
  for (int v = 0; v < n; ++v) {
    const node_desc& d = g.nodes[v];
    const std::size_t bytes = g.buffers[r.storage[v]].bytes, own = d.out.bytes();
    const std::size_t at = d.op->traits.view ? detail::offset_in_storage(g.nodes, v) : 0;  // only a view starts inside
    if (bytes < at + own || (v == r.storage[v] && d.op->multi_output && bytes < detail::storage_bytes(g.nodes, v)))
      return {plan_fault::buffer_too_small, r.storage[v], v};
  }
  return {};
}

//! Branches within their partition's count; then, from the clocks they give, each storage's last
//! access on each branch and the last step that may run while it is in use.
template <std::size_t N>
constexpr plan_violation check_branches(const flat_graph<N>& g, recomputed<N>& r) {
  if (g.partition_count < 0 || g.partition_count > int(g.partition_capacity)) return {plan_fault::bad_partitions};  // before reading them
  int most = 1;
  for (int i = 0; i < g.partition_count; ++i) {
    const partition_desc& q = g.partitions[i];
    if (q.branches < 1 || q.branches > max_branches || (q.kind == partition_kind::fallback && q.branches != 1)) return {plan_fault::bad_branches};
    if (q.branches > most) most = q.branches;
    for (int s = q.first_step; s <= q.last_step; ++s)
      if (g.branch[g.schedule[s]] < 0 || g.branch[g.schedule[s]] >= q.branches) return {plan_fault::bad_branches, g.schedule[s]};
  }
  for (int v = 0; v < g.tensor_count; ++v) r.busy[v] = r.last[v] < g.step[v] ? g.step[v] : r.last[v];
  if (most == 1) return {};
  r.clock = branch_clocks(g);
  r.reach = scratch<int>(std::size_t(g.tensor_count) * max_branches, -1);
  // Only a step that places a buffer (its node's own, planned storage) can take memory in use.
  const unordered_after after = unordered_steps(r.clock.data(), g.step_count, most, [&](int t) { return is_planned(g, g.schedule[t]); });
  for (int s = 0; s < g.step_count; ++s) {
    const int v = g.schedule[s], b = g.branch[v];
    auto access = [&](int u) {
      r.reach[std::size_t(u * max_branches + b)] = s;
      const int until = after.last_unordered(b, s);
      if (until > r.busy[u]) r.busy[u] = until;
    };
    if (r.storage[v] == v && !is_fused_member(g, v) && g.sibling_lead[v] < 0) access(v);
    if (g.sibling_lead[v] < 0)  // a lead writes its siblings' outputs
      for (int x = g.sibling_next[v]; x >= 0; x = g.sibling_next[x]) access(x);
    detail::for_each_read(g, v, [&](int u) { access(r.storage[u]); });
  }
  return {};
}

template <std::size_t N>
constexpr plan_violation check_partitions(const flat_graph<N>& g, const recomputed<N>& r) {
  int expect = 0;  // (check_branches has bounded partition_count)
  for (int i = 0; i < g.partition_count; ++i) {
    const partition_desc& q = g.partitions[i];
    if (q.first_step != expect || q.last_step < q.first_step || q.last_step >= g.step_count) return {plan_fault::bad_partitions};
    for (int s = q.first_step; s <= q.last_step; ++s) {
      const int v = g.schedule[s];
      if (g.partition_of[v] != i) return {plan_fault::bad_partitions, v};
      if (g.nodes[v].op->traits.capturable != (q.kind == partition_kind::capturable)) return {plan_fault::uncapturable_in_graph, v};
    }
    if (i > 0 && g.partitions[i - 1].kind == q.kind) return {plan_fault::bad_partitions};  // not maximal
    expect = q.last_step + 1;
  }
  if (expect != g.step_count) return {plan_fault::bad_partitions};
  // Lifetimes from the schedule; hoisting to the capturable partition before a fallback region.
  int prior_capturable = -1;
  for (int i = 0; i < g.partition_count; ++i) {
    const partition_desc& q = g.partitions[i];
    if (q.kind == partition_kind::capturable) {
      prior_capturable = i;
      continue;
    }
    for (int s = q.first_step; s <= q.last_step; ++s) {
      const int v = g.schedule[s];
      const buffer_desc& b = g.buffers[v];
      if (r.storage[v] != v || b.opaque || is_fused_member(g, v)) continue;
      if (!b.hoisted || b.hoisted_to != prior_capturable) return {plan_fault::not_hoisted, v};
    }
  }
  for (int v = 0; v < g.tensor_count; ++v) {
    if (r.storage[v] != v || g.nodes[v].kind != tensor_kind::node || is_fused_member(g, v)) continue;
    const lifetime want{written_at(g, v), r.last[v] < g.step[v] ? g.step[v] : r.last[v]};
    if (!(g.buffers[v].lifetime == want) || g.buffers[v].busy_until != r.busy[v]) return {plan_fault::wrong_lifetime, v};
  }
  return {};
}

//! Offsets, overlaps and in place. One sweep over the schedule per memory class keeps the live
//! buffers ordered by offset; each step writes at most one new buffer, which must fit between
//! its neighbours or take over its input's storage legally.
template <std::size_t N>
constexpr plan_violation check_offsets(const flat_graph<N>& g, const memory_layout<N>& m, recomputed<N>& r) {
  auto planned = [&](int v) {
    return g.nodes[v].kind == tensor_kind::node && r.storage[v] == v && !g.buffers[v].opaque &&
           !is_fused_member(g, v) && g.buffers[v].memory != memory_class::external;
  };
  auto end_of = [&](int v) { return m.offset[v] + detail::storage_bytes(g.nodes, v); };
  bool used[memory_class_count]{};  // classes with a planned buffer: only those are swept below
  for (int v = 0; v < g.tensor_count; ++v) {
    if (!planned(v)) continue;
    if (m.offset[v] % arena_alignment != 0) return {plan_fault::misaligned, v};
    if (end_of(v) > m.arena_bytes[int(g.buffers[v].memory)]) return {plan_fault::outside_arena, v};
    used[int(g.buffers[v].memory)] = true;
  }
  // Why y, new at step s, may not share memory with x, alive at s (none: a legal hand-over).
  auto judge = [&](int x, int y, int s) {
    const node_desc& d = g.nodes[y];
    bool reads_x = false;
    for (int k = 0; k < d.input_count; ++k) reads_x = reads_x || r.storage[d.inputs[k]] == x;
    if (reads_x && d.op->traits.reads_peers) return plan_fault::collective_writes_peer_input;
    const int source = in_place_source(g, y);
    if (d.input_count == 0 || source < 0 || r.storage[source] != x) return plan_fault::overlap;
    if (!d.op->traits.in_place || d.op->traits.view) return plan_fault::in_place_not_allowed;
    if (r.last[x] != s || r.output[x]) return plan_fault::in_place_early;
    for (int b = 0; b < max_branches && !r.reach.empty(); ++b)
      if (r.reach[std::size_t(x * max_branches + b)] > r.clock[std::size_t(s * max_branches + b)]) return plan_fault::in_place_concurrent;
    if (m.offset[x] != m.offset[y] || align_up(g.buffers[x].bytes) != align_up(g.buffers[y].bytes))
      return plan_fault::overlap;
    return plan_fault::none;
  };
  int live[N]{};
  for (int c = 0; c < memory_class_count; ++c) {
    if (!used[c]) continue;
    int count = 0;  // live[0..count): disjoint, by offset
    for (int s = 0; s < g.step_count; ++s) {
      int keep = 0;
      for (int i = 0; i < count; ++i)
        if (r.busy[live[i]] >= s) live[keep++] = live[i];
      count = keep;
      // New at s: the node's buffer and a lead's siblings' (a sibling's is new at its lead's step).
      const int v = g.schedule[s];
      int fresh[ops::max_sibling_products]{}, fresh_count = 0;
      for (int x = g.sibling_lead[v] < 0 ? v : no_index; x >= 0 && fresh_count < ops::max_sibling_products; x = g.sibling_next[x])
        fresh[fresh_count++] = x;
      for (int i_fresh = 0; i_fresh < fresh_count; ++i_fresh) {
        const int y = fresh[i_fresh];
        if (!planned(y) || int(g.buffers[y].memory) != c) continue;
        const std::size_t at = m.offset[y];
        for (;;) {
          int pos = 0;  // first live buffer at or after y's offset
          while (pos < count && m.offset[live[pos]] < at) ++pos;
          int x = -1;
          if (pos > 0 && end_of(live[pos - 1]) > at) x = pos - 1;
          else if (pos < count && m.offset[live[pos]] < end_of(y)) x = pos;
          if (x < 0) {
            for (int i = count; i > pos; --i) live[i] = live[i - 1];
            live[pos] = y;
            ++count;
            break;
          }
          const plan_fault f = judge(live[x], y, s);
          if (f != plan_fault::none) return {f, y, live[x]};
          r.taker[live[x]] = y;  // its storage passes to y at this step, busy as long as either
          if (r.busy[live[x]] > r.busy[y]) r.busy[y] = r.busy[live[x]];
          for (int i = x; i + 1 < count; ++i) live[i] = live[i + 1];
          --count;
        }
      }
    }
  }
  // Lower bounds: the peak of busy (aligned) bytes; a hand-over step counts the storage once.
  long long delta[N + 1]{};
  for (int c = 0; c < memory_class_count; ++c) {
    if (memory_class(c) == memory_class::external) continue;
    if (!used[c]) {  // nothing placed: no bytes live
      if (m.lower_bound[c] != 0) return {plan_fault::wrong_lower_bound};
      continue;
    }
    for (int s = 0; s <= g.step_count; ++s) delta[s] = 0;
    for (int v = 0; v < g.tensor_count; ++v) {
      if (!planned(v) || int(g.buffers[v].memory) != c) continue;
      const long long b = (long long)align_up(g.buffers[v].bytes);
      const int first = written_at(g, v), last = r.taker[v] >= 0 ? g.step[r.taker[v]] - 1 : r.busy[v];
      delta[first] += b;
      delta[last + 1] -= b;
    }
    long long live_bytes = 0, peak = 0;
    for (int s = 0; s < g.step_count; ++s) {
      live_bytes += delta[s];
      if (live_bytes > peak) peak = live_bytes;
    }
    if (std::size_t(peak) != m.lower_bound[c]) return {plan_fault::wrong_lower_bound};
    if (m.arena_bytes[c] < m.lower_bound[c]) return {plan_fault::arena_below_bound};
  }
  return {};
}

}  // namespace detail

template <std::size_t N>
constexpr plan_violation check_plan(const plan<N>& p) {
  const flat_graph<N>& g = p.graph;
  if (g.error.code != errc::ok) return {plan_fault::carries_error, g.error.node};
  detail::recomputed<N> r{};
  if (plan_violation v = detail::check_state_storage(g, p.memory)) return v;
  if (plan_violation v = detail::check_structure(g, r)) return v;
  if (plan_violation v = detail::check_state_order(g)) return v;
  if (plan_violation v = detail::check_memory(g, r)) return v;
  if (plan_violation v = detail::check_branches(g, r)) return v;
  if (plan_violation v = detail::check_partitions(g, r)) return v;
  return detail::check_offsets(g, p.memory, r);
}

}  // namespace ctg
