#pragma once
//! fuse: elementwise neighbours become one kernel (a fused group). A group grows from its root,
//! the last of its nodes in the schedule, up through producers whose every reader is in the
//! group: each such member is computed in registers inside the root's kernel, so it gets no
//! buffer and no launch, and the group reads its leaves (what it needs from memory) at the
//! root's step. Members and root are elementwise ops (op_traits::elementwise) of one dtype and
//! one element count, in one partition, none a graph output but the root, none asked to run in
//! place (`ctg::in_place<>` keeps its node a kernel of its own); a group has at most
//! `max_fused_nodes` nodes and `max_inputs` leaves.
//! Epilogues are grouped first: a matrix product whose only reader adds a bias [N]
//! (op_traits::as_bias) and then applies an activation its epilogue computes (op_traits::as_epilogue:
//! relu, gelu) or adds a residual of its shape that the product waits for anyway, or does one of
//! the three, becomes one group; the last of them is the root and runs as the product with that
//! epilogue (one cuBLASLt call), reading the product's operands, the bias and the residual
//! (cuBLASLt's C). An activation never follows a residual (cuBLASLt would apply it to the sum).
//! Prologues: a node of bf16 or f16 that can be a prologue (op_traits::as_prologue: an RMS norm or
//! a gated product silu(x) * y of at most `prologue_max_rows` rows, a rotary), whose every reader takes that prologue
//! (op_desc::takes_prologue: a linear with W [N,K]; attention over a cache; a cache write) and
//! reads it only at the input that takes it (op_desc::prologue_input: A, the queries, the rows),
//! in no group and in its partition, is folded into each of them: each normalises (rotates) that
//! input as it loads it, so the node gets no buffer and no launch (a kernel fewer on a decode
//! step's path each), and its readers read its inputs instead, in its place. A gated product
//! folds with its silu (read by it alone), and is decided before the elementwise groups, which
//! would take both; the others after them.
//! Sibling products: products of one A (a layer's q, k and v projections of one normalised row;
//! gate and up) that the gemv can run (`sibling_product`: W [N,K] a parameter, no bias, residual or
//! activation, at most 8 rows) run as one launch of it, the first of them in the schedule (the
//! lead) computing all their outputs: W is streamed as one, with one launch's latency and tail
//! instead of several, and a decode step's path loses the joins of parallel products. Each keeps
//! its buffer, written at the lead's step (`written_at`), and its readers wait for the lead.
//! Cache writes in the attention: where an attention over a K/V cache (op_desc::takes_cache_writes)
//! reads the caches from the two writes that fill this step's rows (ops::cache_write at the
//! position the attention reads, of at most `ops::max_written_tokens` tokens, each write read by
//! it alone and the only reader of the cache it writes, the value rows with no prologue), the
//! attention's launch does their writing too (`writes_in`): it takes the new keys and values from
//! the writes' rows, where the cache would give them back, and two launches of a decode layer go.
//! The writes run, and read their rows, at the attention's step (`written_at`).
//! Reads the schedule, nodes, readers, `partition_of` and `is_output`; writes `fused_root`,
//! `prologue`, `in_prologues`, `sibling_lead`, `sibling_next` and `writes_in`. Off
//! unless `g.fuse` (make_plan's `plan_options::fuse`; run-time builders have no types to compose
//! kernels from).
#include <cstdint>

#include <ctgraph/graph/ops/attention.hpp>
#include <ctgraph/graph/ops/matmul.hpp>
#include <ctgraph/passes/flat_graph.hpp>
#include <ctgraph/passes/readers.hpp>

namespace ctg {

//! The most nodes one fused kernel computes.
inline constexpr int max_fused_nodes = 64;

//! A fused group's members and leaves, from `fused_root` alone: what the passes and the proof read
//! (`members_of`: a tenth of a fused_group's values for a constant evaluator to fill and copy).
struct fused_members {
  int size = 0;                          // 0: not a group (or a corrupt one)
  int members[max_fused_nodes]{};        // in schedule order; the root last
  int leaf_count = 0;
  int leaves[max_inputs]{};              // each tensor once, in order of first read
  //! Member v's place in `members`, or -1.
  constexpr int position(int v) const {
    for (int j = 0; j < size; ++j)
      if (members[j] == v) return j;
    return -1;
  }
};

//! A fused group as the runtime composes its kernel: the members and leaves, and where each
//! member's inputs come from.
struct fused_group : fused_members {
  //! Input k of member j: member `source[j][k]` (>= 0), or leaf `-1 - source[j][k]`.
  std::int8_t source[max_fused_nodes][max_inputs]{};
  //! How the types reach member j from the root: it is input `via_slot[j]` (not a ref) of member
  //! `via[j]`. The root has none.
  std::int8_t via[max_fused_nodes]{};
  std::int8_t via_slot[max_fused_nodes]{};
};

namespace detail {

//! The members and leaves of the group whose root is r (size 0 if r is no root, or the group
//! breaks the limits). `g`: a flat graph, or a view with the members read here (the runtime's
//! hook_view).
template <class G>
constexpr fused_members members_of(const G& g, int r) {
  fused_members f{};
  if (r < 0 || r >= g.tensor_count || g.fused_root[r] != r) return f;
  // Members: r and what reaches it through members (a DAG: each found once).
  f.members[f.size++] = r;
  for (int at = 0; at < f.size; ++at) {
    const auto& d = g.nodes[f.members[at]];
    for (int k = 0; k < d.input_count; ++k) {
      const int u = d.inputs[k];
      if (u < 0 || g.fused_root[u] != r || u == r || f.position(u) >= 0) continue;
      if (f.size == max_fused_nodes) return fused_members{};
      f.members[f.size++] = u;
    }
  }
  for (int i = 1; i < f.size; ++i)  // schedule order (insertion sort: groups are small)
    for (int j = i; j > 0 && g.step[f.members[j - 1]] > g.step[f.members[j]]; --j) {
      const int t = f.members[j];
      f.members[j] = f.members[j - 1];
      f.members[j - 1] = t;
    }
  for (int j = 0; j < f.size; ++j) {  // leaves in order of first read
    const auto& d = g.nodes[f.members[j]];
    for (int k = 0; k < d.input_count; ++k) {
      const int u = d.inputs[k];
      if (f.position(u) >= 0) continue;
      int leaf = 0;
      while (leaf < f.leaf_count && f.leaves[leaf] != u) ++leaf;
      if (leaf < f.leaf_count) continue;
      if (f.leaf_count == max_inputs) return fused_members{};
      f.leaves[f.leaf_count++] = u;
    }
  }
  return f;
}

//! The group whose root is r, with where each member's inputs come from (size 0 as members_of).
template <class G>
constexpr fused_group group_of(const G& g, int r) {
  fused_group f{};
  static_cast<fused_members&>(f) = members_of(g, r);
  for (int j = 0; j < f.size; ++j) {
    const auto& d = g.nodes[f.members[j]];
    for (int k = 0; k < d.input_count; ++k) {
      const int u = d.inputs[k];
      if (const int m = f.position(u); m >= 0) {
        f.source[j][k] = std::int8_t(m);
        if (!(d.ref_inputs & (1u << k))) f.via[m] = std::int8_t(j), f.via_slot[m] = std::int8_t(k);
        continue;
      }
      int leaf = 0;
      while (f.leaves[leaf] != u) ++leaf;  // members_of listed every input that is no member
      f.source[j][k] = std::int8_t(-1 - leaf);
    }
  }
  return f;
}

//! fn(u), or where u is folded into prologues, fn of each tensor it reads in its place (a gated
//! prologue's gate is folded too: two levels at most).
template <std::size_t N, class Fn>
constexpr void read_through_prologues(const flat_graph<N>& g, int u, Fn& fn) {
  if (!g.in_prologues[u]) return fn(u);
  for (int k = 0; k < g.nodes[u].input_count; ++k) read_through_prologues(g, g.nodes[u].inputs[k], fn);
}

//! Calls fn(u) for each tensor node v's own op reads from memory when it runs: its inputs; a
//! fused group's leaves for its root; nothing for a member (its root reads for it); in place of
//! a node folded into its prologue, that node's inputs.
template <std::size_t N, class Fn>
constexpr void for_each_own_read(const flat_graph<N>& g, int v, Fn& fn) {
  const auto read = [&](int u) {  // the common case without a call more (every pass and the proof come here)
    if (!g.in_prologues[u]) fn(u);
    else read_through_prologues(g, u, fn);
  };
  if (g.fused_root[v] < 0) {
    for (int k = 0; k < g.nodes[v].input_count; ++k) read(g.nodes[v].inputs[k]);
  } else if (g.fused_root[v] == v) {
    const fused_members f = members_of(g, v);
    for (int l = 0; l < f.leaf_count; ++l) read(f.leaves[l]);
  }
}

//! Calls fn(u) for each tensor node v reads from memory when it runs (for_each_own_read), and for
//! an attention that runs cache writes, what they read; nothing for a node another's launch
//! computes (its sibling lead or its attention reads for it).
template <std::size_t N, class Fn>
constexpr void for_each_read(const flat_graph<N>& g, int v, Fn fn) {
  if (g.in_prologues[v] || g.sibling_lead[v] >= 0 || g.writes_in[v] >= 0) return;
  for_each_own_read(g, v, fn);
  if (g.nodes[v].op->takes_cache_writes)
    for (int k = 0; k < g.nodes[v].input_count; ++k)
      if (const int w = g.nodes[v].inputs[k]; g.writes_in[w] == v) for_each_own_read(g, w, fn);
}

//! Calls fn(b) for each buffer node v touches when it runs: its own (written, unless it is a view,
//! a fused member or a sibling its lead computes), a lead's siblings' and the owner of each
//! tensor it reads (for_each_read).
template <std::size_t N, class Fn>
constexpr void for_each_access(const flat_graph<N>& g, int v, Fn fn) {
  if (g.owner[v] == v && !is_fused_member(g, v) && launched_by(g, v) == v) fn(v);
  if (g.sibling_lead[v] < 0)
    for (int x = g.sibling_next[v]; x >= 0; x = g.sibling_next[x]) fn(x);
  for_each_read(g, v, [&](int u) { fn(g.owner[u]); });
}

//! The tensor whose storage node v's output may take over in place: input 0, or for a fused
//! root the leaf that input 0 leads to through elementwise members (read at each element's own
//! index); none for an epilogue's root (a product among its members), which may not overwrite
//! its operands.
template <std::size_t N>
constexpr int in_place_source(const flat_graph<N>& g, int v) {
  if (g.nodes[v].input_count == 0) return no_index;
  if (g.fused_root[v] == v)
    for (int k = 0; k < g.nodes[v].input_count; ++k)
      for (int u = g.nodes[v].inputs[k]; u >= 0 && u != v && g.fused_root[u] == v; u = g.nodes[u].inputs[0])
        if (!g.nodes[u].op->traits.elementwise) return no_index;
  int u = g.nodes[v].inputs[0];
  while (g.fused_root[v] == v && u >= 0 && g.fused_root[u] == v && u != v) u = g.nodes[u].inputs[0];
  return u;
}

//! Whether node a can follow node p in an epilogue group: p's only reader, in p's partition, p no
//! graph output and in no group yet, a reading it at input 0 (any input for a residual add) by type.
template <std::size_t N>
constexpr bool only_reader(const flat_graph<N>& g, const reader_lists<N>& readers, int p, int a, bool any_input = false) {
  const node_desc& ad = g.nodes[a];
  if (g.nodes[p].kind != tensor_kind::node || g.is_output[p] || readers.count(p) != 1 ||
      g.partition_of[p] != g.partition_of[a] || g.fused_root[p] != no_index)
    return false;
  for (int k = 0; k < (any_input ? ad.input_count : 1); ++k)
    if (ad.inputs[k] == p && !(ad.ref_inputs & (1u << k))) return true;
  return false;
}

//! Whether tensor r is there before product p can start anyway: a graph input or parameter, or
//! one of p's producers' producers (looked for among at most 32 of them, scheduled after r). A
//! residual that is not would make p wait for it: two independent products added stay apart, so
//! they can run at once (passes/branches.hpp).
template <std::size_t N>
constexpr bool computed_before(const flat_graph<N>& g, int r, int p) {
  if (g.nodes[r].kind != tensor_kind::node) return true;
  int queue[32]{}, size = 0;
  for (int at = -1; at < size; ++at) {
    const node_desc& d = g.nodes[at < 0 ? p : queue[at]];
    for (int k = 0; k < d.input_count; ++k) {
      const int u = d.inputs[k];
      if (u == r) return true;
      if (g.nodes[u].kind != tensor_kind::node || g.step[u] < g.step[r]) continue;
      bool seen = false;
      for (int j = 0; j < size; ++j) seen = seen || queue[j] == u;
      if (seen) continue;
      if (size == 32) return false;
      queue[size++] = u;
    }
  }
  return false;
}

//! Whether product p (its own operands: no residual of its own where an activation follows, as
//! cuBLASLt would apply it to the sum) can run with `bias` and `residual` (tensors, or no_index)
//! added in its epilogue: each operand once, and its epilogue op's rule gives p's output.
template <std::size_t N>
constexpr bool product_takes(const flat_graph<N>& g, int p, int bias, int residual, bool activation) {
  const node_desc& pd = g.nodes[p];
  if (pd.op->epilogue_output == nullptr || pd.in_place || pd.ill_formed || pd.input_count + (bias >= 0) + (residual >= 0) > max_inputs)
    return false;
  if (activation && pd.input_count > 2 + (pd.input_count > 2 && g.nodes[pd.inputs[2]].out.rank == 1)) return false;
  tensor_desc in[max_inputs]{};
  int ids[max_inputs]{}, count = 0;
  for (int k = 0; k < pd.input_count + 2; ++k) {  // each operand once: the leaves are the operands
    const int u = k < pd.input_count ? pd.inputs[k] : k == pd.input_count ? bias : residual;
    if (u < 0) continue;
    for (int j = 0; j < count; ++j)
      if (ids[j] == u) return false;
    ids[count] = u;
    in[count++] = g.nodes[u].out;
  }
  const output_result o = pd.op->epilogue_output(std::span<const tensor_desc>(in, std::size_t(count)));
  return o.error == errc::ok && o.out == pd.out;
}

//! Whether node b adds a bias [N] to its input 0's rows (an epilogue's bias), and so can join it.
constexpr bool adds_bias(const node_desc* nodes, int b) {
  const node_desc& d = nodes[b];
  if (d.kind != tensor_kind::node || !d.op->traits.as_bias || d.in_place || d.ill_formed || d.input_count != 2 || d.out.rank < 1)
    return false;
  const tensor_desc& v = nodes[d.inputs[1]].out;
  return v.rank == 1 && v.dims[0] == d.out.dims[d.out.rank - 1] && !(d.ref_inputs & 2u);
}

//! Whether node v, of the root's dtype and element count, may be in a fused group.
constexpr bool fusable(const node_desc* nodes, int v, const tensor_desc& root) {
  const node_desc& d = nodes[v];
  if (d.kind != tensor_kind::node || !d.op->traits.elementwise || d.in_place || d.inserted || d.op->multi_output ||
      d.ill_formed || d.op->traits.view || d.op->traits.where != executes_on::device || d.op->output == nullptr)
    return false;
  if (d.out.dtype != root.dtype || d.out.elements() != root.elements()) return false;
  if (root.dtype != dtype_id::f32 && root.dtype != dtype_id::f16 && root.dtype != dtype_id::bf16) return false;
  for (int k = 0; k < d.input_count; ++k)
    if (nodes[d.inputs[k]].out.dtype != root.dtype) return false;
  return true;
}

//! Whether node n can run in its readers' prologues instead of as a kernel (see fuse).
template <std::size_t N>
constexpr bool takes_prologues(const flat_graph<N>& g, const reader_lists<N>& readers, int n) {
  const node_desc& d = g.nodes[n];
  const prologue kind = d.op->traits.as_prologue;
  if (d.kind != tensor_kind::node || kind == prologue::none || kind == prologue::gate || d.in_place || d.ill_formed ||
      d.input_count != 2 || g.is_output[n] || g.fused_root[n] != no_index || g.in_prologues[n] ||
      (d.out.dtype != dtype_id::bf16 && d.out.dtype != dtype_id::f16) || readers.count(n) == 0)
    return false;
  if ((kind == prologue::rms_norm || kind == prologue::gated) &&
      (d.out.rank != 2 || d.out.dims[0] > ops::prologue_max_rows || d.out.dims[1] % 8 != 0))
    return false;  // the gemv's rows
  if (kind == prologue::gated) {  // silu(x) * y: x an ops::silu read here only, y of the same shape
    const int x = d.inputs[0], y = d.inputs[1];
    const node_desc& a = g.nodes[x];
    if (x == y || a.kind != tensor_kind::node || a.op->traits.as_prologue != prologue::gate || a.input_count != 1 || a.in_place ||
        a.ill_formed || g.is_output[x] || g.fused_root[x] != no_index || g.in_prologues[x] || readers.count(x) != 1 ||
        g.partition_of[x] != g.partition_of[n] || (d.ref_inputs & 1u) || !(a.out == d.out) || !(g.nodes[y].out == d.out))
      return false;
  }
  for (int i = readers.begin[n]; i < readers.begin[n + 1]; ++i) {
    const int w = readers.list[i];
    const node_desc& r = g.nodes[w];
    const int at = r.op->prologue_input;
    if (!r.op->takes_prologue.has(kind) || r.in_place || r.ill_formed || g.fused_root[w] != no_index || g.prologue[w] != no_index ||
        g.partition_of[w] != g.partition_of[n] || at < 0 || at >= r.input_count || r.inputs[at] != n ||
        ((r.ref_inputs >> at) & 1u))
      return false;
    for (int k = 0; k < r.input_count; ++k)
      if (k != at && r.inputs[k] == n) return false;  // at that input only
  }
  return true;
}

//! Whether product p can be a sibling product (see fuse): a linear with W [N,K] as declared (no
//! bias, residual or activation: inputs A and W), W a graph input or parameter (no kernel writes
//! it), of at most `prologue_max_rows` rows in bf16 or f16, N and K multiples of 8, running as a
//! kernel of its own.
template <std::size_t N>
constexpr bool sibling_product(const flat_graph<N>& g, int p) {
  const node_desc& d = g.nodes[p];
  if (d.kind != tensor_kind::node || !d.op->takes_prologue.has(prologue::rms_norm) || d.op->epilogue_output == nullptr || d.input_count != 2 ||
      d.op->prologue_input != 0 || d.in_place || d.ill_formed || d.op->multi_output || g.fused_root[p] != no_index || g.in_prologues[p] ||
      (d.ref_inputs & 1u))
    return false;
  const tensor_kind w = g.nodes[d.inputs[1]].kind;
  const tensor_desc& a = g.nodes[d.inputs[0]].out;
  return (w == tensor_kind::input || w == tensor_kind::parameter) && (d.out.dtype == dtype_id::bf16 || d.out.dtype == dtype_id::f16) &&
         d.out.rank == 2 && d.out.dims[0] <= ops::prologue_max_rows && d.out.dims[1] % 8 == 0 && a.rank == 2 && a.dims[1] % 8 == 0;
}

//! Groups the sibling products of g (see fuse): each product that can be one leads the products
//! of the same A scheduled after it in its partition that are not in a group yet, at most
//! `max_sibling_products` in all.
template <std::size_t N>
constexpr void group_siblings(flat_graph<N>& g, const reader_lists<N>& readers) {
  for (int s = 0; s < g.step_count; ++s) {
    const int p = g.schedule[s];
    if (g.sibling_lead[p] >= 0 || !sibling_product(g, p)) continue;
    const int a = g.nodes[p].inputs[0];
    int last = p, size = 1;
    for (int i = readers.begin[a]; i < readers.begin[a + 1] && size < ops::max_sibling_products; ++i) {
      const int r = readers.list[i];
      if (g.step[r] <= s || g.sibling_lead[r] >= 0 || g.nodes[r].inputs[0] != a || g.partition_of[r] != g.partition_of[p] ||
          g.nodes[r].out.dtype != g.nodes[p].out.dtype || !sibling_product(g, r))
        continue;
      g.sibling_lead[r] = p;
      ++size;
    }
    for (int t = s + 1; size > 1 && t < g.step_count; ++t)  // the chain, in schedule order
      if (const int r = g.schedule[t]; g.sibling_lead[r] == p) g.sibling_next[last] = r, last = r, --size;
  }
}

//! Whether cache write w can run in the launch of attention a, which reads it at input k (see
//! fuse): a write of at most `max_written_tokens` tokens, as many as a's queries, along the token
//! dimension at a's position, read by a alone and the only reader of the cache it writes; the
//! value write (k = 2) with no prologue.
template <std::size_t N>
constexpr bool written_in(const flat_graph<N>& g, const reader_lists<N>& readers, int w, int a, int k) {
  const node_desc &d = g.nodes[w], &q = g.nodes[g.nodes[a].inputs[0]];
  if (d.kind != tensor_kind::node || !d.op->writes_rows || !d.op->rows_at_position || d.ill_formed || d.in_place || d.input_count != 3 ||
      g.is_output[w] || g.fused_root[w] != no_index || g.in_prologues[w] || g.partition_of[w] != g.partition_of[a] ||
      readers.count(w) != 1 || d.inputs[1] != g.nodes[a].inputs[3] || (k == 2 && g.prologue[w] != no_index) ||
      (d.ref_inputs & 4u))  // the runtime finds a rotary's type through input 2
    return false;
  const int state = d.inputs[0], r = d.out.rank, rotated = g.prologue[w];
  if (rotated >= 0 && g.in_prologues[g.nodes[rotated].inputs[0]]) return false;  // the kernel takes the rotary's rows as they are
  const tensor_desc& rows = g.nodes[d.inputs[2]].out;
  return readers.count(state) == 1 && r >= 2 && rows.rank == r && q.out.rank == r &&
         normalize_dim(d.op->rows_dim, r) == r - 2 && rows.dims[r - 2] == q.out.dims[r - 2] && rows.dims[r - 2] <= ops::max_written_tokens;
}

//! Lets each attention that can run the cache writes it reads run them (see fuse).
template <std::size_t N>
constexpr void fold_cache_writes(flat_graph<N>& g, const reader_lists<N>& readers) {
  for (int s = 0; s < g.step_count; ++s) {
    const int a = g.schedule[s];
    const node_desc& d = g.nodes[a];
    if (d.kind != tensor_kind::node || !d.op->takes_cache_writes || d.ill_formed || d.input_count != 4 || d.inputs[1] == d.inputs[2] || (d.ref_inputs & 6u) ||
        g.fused_root[a] != no_index || g.in_prologues[a] || !written_in(g, readers, d.inputs[1], a, 1) || !written_in(g, readers, d.inputs[2], a, 2))
      continue;
    g.writes_in[d.inputs[1]] = g.writes_in[d.inputs[2]] = a;
  }
}

}  // namespace detail

template <std::size_t N>
constexpr status fuse(flat_graph<N>& g, const reader_lists<N>& readers) {
  if (g.error.code != errc::ok) return g.error;
  for (int i = 0; i < g.tensor_count; ++i)
    g.fused_root[i] = g.prologue[i] = g.sibling_lead[i] = g.sibling_next[i] = g.writes_in[i] = no_index, g.in_prologues[i] = false;
  if (!g.fuse) return g.error;
  // Epilogues first (a product is no elementwise member): the root is an activation or an add of
  // the product (or of the product's bias add) and a residual of its shape; then product + bias.
  for (int s = 0; s < g.step_count; ++s) {
    const int a = g.schedule[s];
    const node_desc& d = g.nodes[a];
    const bool activation = d.op->traits.as_epilogue != activation::none && d.input_count == 1;
    const bool residual = d.op->traits.as_bias && d.input_count == 2 && d.inputs[0] != d.inputs[1];
    if (d.kind != tensor_kind::node || d.in_place || d.ill_formed || (!activation && !residual)) continue;
    for (int k = 0; k < (residual ? 2 : 1); ++k) {
      const int q = d.inputs[k], r = residual ? d.inputs[1 - k] : no_index;
      if (r >= 0 && !(g.nodes[r].out == d.out)) continue;  // a residual has the output's shape
      if (!detail::only_reader(g, readers, q, a, residual)) continue;
      if (detail::adds_bias(g.nodes, q) && detail::only_reader(g, readers, g.nodes[q].inputs[0], q) &&
          (r < 0 || detail::computed_before(g, r, g.nodes[q].inputs[0])) &&
          detail::product_takes(g, g.nodes[q].inputs[0], g.nodes[q].inputs[1], r, activation)) {
        g.fused_root[g.nodes[q].inputs[0]] = g.fused_root[q] = g.fused_root[a] = a;
        break;
      }
      if ((r < 0 || detail::computed_before(g, r, q)) && detail::product_takes(g, q, no_index, r, activation)) {
        g.fused_root[q] = g.fused_root[a] = a;
        break;
      }
    }
  }
  for (int s = 0; s < g.step_count; ++s) {
    const int b = g.schedule[s];
    if (g.fused_root[b] != no_index || !detail::adds_bias(g.nodes, b) || !detail::only_reader(g, readers, g.nodes[b].inputs[0], b) ||
        !detail::product_takes(g, g.nodes[b].inputs[0], g.nodes[b].inputs[1], no_index, false))
      continue;
    g.fused_root[g.nodes[b].inputs[0]] = g.fused_root[b] = b;
  }
  // Gated prologues before elementwise groups, which would take the silu and the mul.
  const auto fold = [&](int n) {
    for (int i = readers.begin[n]; i < readers.begin[n + 1]; ++i) g.prologue[readers.list[i]] = n;
    g.in_prologues[n] = true;
    if (g.nodes[n].op->traits.as_prologue == prologue::gated) g.in_prologues[g.nodes[n].inputs[0]] = true;  // its gate
  };
  for (int s = 0; s < g.step_count; ++s)
    if (const int n = g.schedule[s]; g.nodes[n].op->traits.as_prologue == prologue::gated && detail::takes_prologues(g, readers, n)) fold(n);
  int wanted_by[N]{};  // the root whose group reads tensor i (so far), or no_index
  for (int i = 0; i < g.tensor_count; ++i) wanted_by[i] = no_index;
  for (int s = g.step_count - 1; s >= 0; --s) {
    const int r = g.schedule[s];
    const tensor_desc root = g.nodes[r].out;
    if (g.fused_root[r] != no_index || g.in_prologues[r] || !detail::fusable(g.nodes, r, root)) continue;  // in a group already
    const int first = g.partitions[g.partition_of[r]].first_step;
    int size = 1, reads = 0, open = 0;  // reads: distinct tensors the group reads so far
    auto want = [&](int u) {
      if (wanted_by[u] == r) return;
      wanted_by[u] = r;
      ++reads;
      if (g.nodes[u].kind == tensor_kind::node && g.step[u] >= first) ++open;
    };
    for (int k = 0; k < g.nodes[r].input_count; ++k) want(g.nodes[r].inputs[k]);
    // Producers come before their readers: one walk back through the partition decides each
    // tensor the group reads once all its readers are decided.
    for (int t = s - 1; t >= first && open > 0; --t) {
      const int u = g.schedule[t];
      if (wanted_by[u] != r) continue;
      --open;
      if (size == max_fused_nodes || g.is_output[u] || g.fused_root[u] != no_index || g.in_prologues[u] || !detail::fusable(g.nodes, u, root))
        continue;
      bool inside = true, typed = false;  // every reader in the group; one edge a type leads along
      for (int i = readers.begin[u]; i < readers.begin[u + 1]; ++i) {
        const int w = readers.list[i];
        inside = inside && (w == r || g.fused_root[w] == r);
        for (int k = 0; k < g.nodes[w].input_count; ++k)
          typed = typed || (g.nodes[w].inputs[k] == u && !(g.nodes[w].ref_inputs & (1u << k)));
      }
      int fresh = 0;
      for (int k = 0; k < g.nodes[u].input_count; ++k) {
        const int x = g.nodes[u].inputs[k];
        bool seen = wanted_by[x] == r;
        for (int j = 0; j < k; ++j) seen = seen || g.nodes[u].inputs[j] == x;
        fresh += !seen;
      }
      if (!inside || !typed || reads - 1 + fresh > max_inputs) continue;  // u stays a leaf
      g.fused_root[u] = r;
      ++size;
      --reads;
      for (int k = 0; k < g.nodes[u].input_count; ++k) want(g.nodes[u].inputs[k]);
    }
    if (size > 1) g.fused_root[r] = r;
  }
  for (int s = 0; s < g.step_count; ++s)
    if (const int n = g.schedule[s]; detail::takes_prologues(g, readers, n)) fold(n);
  if (g.siblings) detail::group_siblings(g, readers);
  if (g.cache_writes) detail::fold_cache_writes(g, readers);
  return g.error;
}

}  // namespace ctg
