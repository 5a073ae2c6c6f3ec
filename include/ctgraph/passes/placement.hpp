#pragma once
//! placement: collectives read symmetric (peer-addressable) memory.
//!  - insert_copies (before schedule): a collective input whose storage the planner does not
//!    own (a graph input, a parameter, an opaque output, or a view of one) gets exactly one
//!    inserted copy into a symmetric buffer, shared by every collective that reads it. All
//!    tensors are contiguous, so the copy is a DMA memcpy (a memcpy node when captured).
//!  - place_symmetric (after validate): otherwise the producer writes straight into the
//!    symmetric arena, and so does the producer before it while that producer could hand its
//!    buffer over in place (its output's only reader, same size): no copy, no extra buffer.
//!    Reads the reader lists (find_readers); writes `memory`, never the ops' declared traits.
#include <string_view>

#include <ctgraph/graph/ops/copy.hpp>
#include <ctgraph/passes/flat_graph.hpp>
#include <ctgraph/passes/readers.hpp>

namespace ctg {

namespace detail {
//! Storage the planner cannot move into the window: the user's, an opaque op's own, or host
//! memory that a host op or a copy to the host must keep writing.
constexpr bool needs_copy(const node_desc* nodes, int u) {
  const node_desc& s = nodes[storage_of(nodes, u)];
  return s.kind != tensor_kind::node || s.op->traits.result == op_result::opaque ||
         s.op->traits.output_memory == memory_class::pinned_host;
}
template <std::size_t N>
constexpr bool needs_copy(const flat_graph<N>& g, int u) {
  return needs_copy(g.nodes, u);
}
}  // namespace detail

//! What an inserted copy of tensor `x` is called: "x.to_symmetric" (in errors, dumps, NVTX).
inline constexpr std::string_view copy_suffix = ".to_symmetric";

namespace detail {
//! Marks the tensors that get an inserted copy; returns how many.
template <std::size_t N>
constexpr int mark_copy_sources(const flat_graph<N>& g, bool* source) {
  int count = 0;
  for (int v = 0; v < g.tensor_count; ++v) {
    if (!g.nodes[v].op->traits.symmetric_inputs) continue;
    for (int k = 0; k < g.nodes[v].input_count; ++k) {
      const int u = g.nodes[v].inputs[k];
      if (u >= 0 && needs_copy(g, u) && !source[u]) source[u] = true, ++count;
    }
  }
  return count;
}
}  // namespace detail

//! How many copies insert_copies will add (to size the flat graph at compile time).
template <std::size_t N>
constexpr int count_copies(const flat_graph<N>& g) {
  if (g.error.code != errc::ok) return 0;
  bool source[N]{};
  return detail::mark_copy_sources(g, source);
}

//! The names of the copies insert_copies will add, in one buffer: at compile time a constexpr
//! variable of its own, so the names have static storage. Sized by the copies, not the graph.
template <std::size_t Copies, std::size_t Chars>
struct copy_names {
  char chars[Chars + 1]{};
  int source[Copies + 1]{};
  std::size_t begin[Copies + 1]{}, size[Copies + 1]{};
  //! names[u] = the name of the copy of tensor u (the rest untouched).
  constexpr void spread(std::string_view* names) const {
    for (std::size_t c = 0; c < Copies; ++c) names[source[c]] = {chars + begin[c], size[c]};
  }
};

template <std::size_t Copies, std::size_t Chars, std::size_t N>
constexpr copy_names<Copies, Chars> name_copies(const flat_graph<N>& g) {
  copy_names<Copies, Chars> names{};
  bool source[N]{};
  if (g.error.code == errc::ok) detail::mark_copy_sources(g, source);
  std::size_t at = 0, c = 0;
  for (int u = 0; u < g.tensor_count; ++u) {
    if (!source[u]) continue;
    names.source[c] = u;
    names.begin[c] = at;
    for (char ch : g.nodes[u].name) names.chars[at++] = ch;
    for (char ch : copy_suffix) names.chars[at++] = ch;
    names.size[c] = at - names.begin[c];
    ++c;
  }
  return names;
}

//! Inserts the copies. `names[u]` names the copy of tensor u ("u.to_symmetric"); storage the
//! caller keeps alive. Without names a copy carries its source's name.
template <std::size_t N>
constexpr status insert_copies(flat_graph<N>& g, const std::string_view* names = nullptr) {
  if (g.error.code != errc::ok) return g.error;
  const int n = g.tensor_count;
  int copy_of[N]{};
  for (int i = 0; i < n; ++i) copy_of[i] = no_index;
  for (int v = 0; v < n; ++v) {
    if (!g.nodes[v].op->traits.symmetric_inputs) continue;
    for (int k = 0; k < g.nodes[v].input_count; ++k) {
      int u = g.nodes[v].inputs[k];
      if (!detail::needs_copy(g, u)) continue;
      if (copy_of[u] < 0) {
        if (g.tensor_count == int(N)) return report(g, {errc::capacity, v});
        node_desc c{};
        c.name = names ? names[u] : g.nodes[u].name;
        c.kind = tensor_kind::node;
        c.op = &op_desc_of<ops::to_symmetric>;
        c.input_count = 1;
        c.inputs[0] = u;
        c.inserted = true;
        copy_of[u] = g.tensor_count;
        g.nodes[g.tensor_count++] = c;
      }
      g.nodes[v].inputs[k] = copy_of[u];
    }
  }
  return g.error;
}

template <std::size_t N>
constexpr status place_symmetric(flat_graph<N>& g, const reader_lists<N>& readers) {
  if (g.error.code != errc::ok) return g.error;
  for (int v = 0; v < g.tensor_count; ++v) g.memory[v] = g.nodes[v].op->traits.output_memory;
  for (int v = 0; v < g.tensor_count; ++v) {
    if (!g.nodes[v].op->traits.symmetric_inputs) continue;
    for (int k = 0; k < g.nodes[v].input_count; ++k) {
      int s = detail::storage_of(g, g.nodes[v].inputs[k]);
      g.memory[s] = memory_class::symmetric;
      // Upstream through producers that would take over their input in place.
      for (;;) {
        const node_desc& d = g.nodes[s];
        if (!d.op->traits.in_place || d.op->traits.reads_peers || d.op->traits.view || d.input_count == 0) break;
        int q = d.inputs[0];
        const node_desc& p = g.nodes[q];
        bool hands_over = p.kind == tensor_kind::node && !p.op->traits.view && p.op->traits.result == op_result::out_variant &&
                          !g.is_output[q] && readers.count(q) == 1 &&
                          align_up(p.out.bytes()) == align_up(d.out.bytes()) &&
                          g.memory[q] != memory_class::pinned_host;
        if (!hands_over) break;
        g.memory[q] = memory_class::symmetric;
        s = q;
      }
    }
  }
  return g.error;
}

}  // namespace ctg
