#pragma once
//! A text dump of a plan that a person can read: partitions, the schedule with every node's
//! output and buffer, and the arenas against their lower bounds.
#include <cstdio>
#include <ostream>
#include <string>

#include <ctgraph/plan/plan.hpp>

namespace ctg {

namespace detail {
//! What a prologue of this kind does to the input as it is loaded, for the dump.
inline const char* prologue_verb(prologue p) {
  return p == prologue::rotary ? "rotated" : p == prologue::gated ? "gated, silu(x) * y," : "normalised";
}
inline std::string shape_string(const tensor_desc& t) {
  std::string s(name_of(t.dtype));
  s += '[';
  for (int i = 0; i < t.rank; ++i) {
    if (i) s += ',';
    s += std::to_string(t.dims[i]);
  }
  s += ']';
  return s;
}
template <class... A>
std::string format(const char* f, A... a) {
  char buf[256];
  std::snprintf(buf, sizeof buf, f, a...);
  return buf;
}
//! "written by 'a', 'b'" for state tensor v (the nodes that write it, in index order), or
//! "read only".
template <std::size_t N>
std::string state_writers(const flat_graph<N>& g, int v) {
  std::string writers;
  for (int w = 0; w < g.tensor_count; ++w)
    if (g.nodes[w].kind == tensor_kind::node && g.nodes[w].op->traits.writes_state && g.owner[w] == v)
      writers.append(writers.empty() ? "written by '" : ", '").append(g.nodes[w].name).append("'");
  return writers.empty() ? "read only" : writers;
}

//! The dump's state section (empty without state): each state tensor, its bytes and its writers.
template <std::size_t N>
std::string state_section(const plan<N>& p) {
  const flat_graph<N>& g = p.graph;
  if (p.state_count() == 0) return {};
  std::string s = "state (kept across runs; never placed or reused by the planner):\n";
  for (int v = 0; v < g.tensor_count; ++v) {
    const node_desc& d = g.nodes[v];
    if (d.kind != tensor_kind::state) continue;
    s += format("  %-16.*s %-20s %10zu bytes  %s\n", int(d.name.size()), d.name.data(), shape_string(d.out).c_str(),
                d.out.bytes(), state_writers(g, v).c_str());
  }
  s += format("  %d state tensors, %zu bytes: allocated once, zero-filled, where not bound\n", p.state_count(), p.state_bytes());
  return s;
}
}  // namespace detail

template <std::size_t N>
std::string to_string(const plan<N>& p) {
  const flat_graph<N>& g = p.graph;
  std::string s;
  if (!p.ok()) {  // every error found, one line each
    for (int i = 0; i < (g.error_count > 0 ? g.error_count : 1); ++i) {
      const status& e = g.error_count > 0 ? g.errors[i] : g.error;
      s += "plan rejected: ";
      s += describe(e.code);
      if (e.node >= 0) s.append(" in node '").append(g.nodes[e.node].name).append("'");
      s += '\n';
    }
    return s;
  }
  s += detail::format("plan: %d tensors, %d steps, %d launches, %d partitions, %d buffers, %d reuses, %d inserted copies, %d fused groups (%d nodes fused)\n",
                      g.tensor_count, g.step_count, p.launch_count(), g.partition_count, p.buffer_count(), p.reuse_count(),
                      p.copy_count(), p.fused_group_count(), p.fused_node_count());
  s += "partitions:\n";
  for (int i = 0; i < g.partition_count; ++i) {
    const partition_desc& q = g.partitions[i];
    s += detail::format("  #%-3d %-10s steps %d..%d (%d nodes, %d launches)", i,
                        q.kind == partition_kind::capturable ? "capturable" : "fallback", q.first_step,
                        q.last_step, q.node_count(), p.launch_count(i));
    if (q.kind == partition_kind::capturable)
      s += detail::format(", %d static inputs (%d copied), %d hoisted allocations", q.static_inputs,
                          q.static_input_copies, q.hoisted);
    if (q.branches > 1) s += detail::format(", %d parallel branches", q.branches);
    s += '\n';
  }
  s += "schedule:\n";
  s += detail::format("  %4s %4s  %-16s %-12s %-20s %-11s %10s %10s  %s\n", "step", "part", "node", "op",
                      "output", "memory", "offset", "bytes", "lifetime");
  for (int st = 0; st < g.step_count; ++st) {
    int v = g.schedule[st];
    const node_desc& d = g.nodes[v];
    const buffer_desc& b = p.buffer(v);
    const bool member = detail::is_fused_member(g, v);
    const bool state = detail::state_of(g.nodes, v) >= 0;
    std::string where = member ? "registers" : b.opaque ? "opaque" : state ? "state" : std::string(name_of(b.memory));
    std::string note;
    if (g.in_prologues[v]) {
      note.append(" in the prologues of its readers");
    } else if (member) {
      note.append(" fused into '").append(g.nodes[g.fused_root[v]].name).append("'");
    } else if (d.op->traits.writes_state) {
      note.append(" writes state '").append(g.nodes[g.owner[v]].name).append("'");
    } else if (g.owner[v] != v) {
      note.append(" view of '").append(g.nodes[g.owner[v]].name).append("'");
      if (const std::size_t at = p.offset_in_buffer(v); at > 0) note += detail::format(" at +%zu", at);
    }
    else if (b.shares >= 0) note.append(" in place of '").append(g.nodes[b.shares].name).append("'");
    if (d.inserted) note.append(" inserted copy (dma) for a collective");
    if (g.prologue[v] >= 0) note.append(" prologue '").append(g.nodes[g.prologue[v]].name).append("' (its input ").append(std::to_string(d.op->prologue_input)).append(" ").append(detail::prologue_verb(g.nodes[g.prologue[v]].op->traits.as_prologue)).append(" as loaded)");
    if (g.sibling_lead[v] >= 0) note.append(" computed in the launch of '").append(g.nodes[g.sibling_lead[v]].name).append("' (same A)");
    else if (g.sibling_next[v] >= 0) {
      note.append(" one launch with");
      for (int x = g.sibling_next[v]; x >= 0; x = g.sibling_next[x]) note.append(" '").append(g.nodes[x].name).append("'");
    }
    if (g.writes_in[v] >= 0) note.append(" written in the launch of '").append(g.nodes[g.writes_in[v]].name).append("'");
    if (d.op->takes_cache_writes && d.input_count > 2 && g.writes_in[d.inputs[1]] == v)
      note.append(" runs the writes '").append(g.nodes[d.inputs[1]].name).append("' '").append(g.nodes[d.inputs[2]].name).append("'");
    if (b.hoisted && g.owner[v] == v) note += detail::format(" hoisted to #%d", b.hoisted_to);
    if (g.fused_root[v] == v) {
      const fused_group f = detail::group_of(g, v);
      if (!g.nodes[f.members[0]].op->traits.elementwise)
        note.append(" epilogue of '").append(g.nodes[f.members[0]].name).append("' (one call) reading");
      else
        note += detail::format(" fused group of %d nodes, one kernel reading", f.size);
      for (int l = 0; l < f.leaf_count; ++l) note.append(l ? ", '" : " '").append(g.nodes[f.leaves[l]].name).append("'");
    }
    if (g.is_output[v]) note += " output";
    if (g.partitions[g.partition_of[v]].branches > 1) note += detail::format(" branch %d", g.branch[v]);
    if (!member && g.owner[v] == v && b.busy_until > b.lifetime.last) note += detail::format(" busy to %d", b.busy_until);
    if (member) {
      s += detail::format("  %4d %4d  %-16.*s %-12.*s %-20s %-11s %10s %10s  %s\n", st, g.partition_of[v],
                          int(d.name.size()), d.name.data(), int(d.op->name.size()), d.op->name.data(),
                          detail::shape_string(d.out).c_str(), where.c_str(), "-", "-", note.c_str() + 1);
      continue;
    }
    if (state) {  // no offset, no lifetime: it outlives the run
      s += detail::format("  %4d %4d  %-16.*s %-12.*s %-20s %-11s %10s %10zu  across runs%s\n", st, g.partition_of[v],
                          int(d.name.size()), d.name.data(), int(d.op->name.size()), d.op->name.data(),
                          detail::shape_string(d.out).c_str(), where.c_str(), "-", b.bytes, note.c_str());
      continue;
    }
    s += detail::format("  %4d %4d  %-16.*s %-12.*s %-20s %-11s %10zu %10zu  [%d,%d]%s\n", st,
                        g.partition_of[v], int(d.name.size()), d.name.data(), int(d.op->name.size()),
                        d.op->name.data(), detail::shape_string(d.out).c_str(), where.c_str(), p.offset_of(v),
                        b.bytes, b.lifetime.first, b.lifetime.last, note.c_str());
  }
  if (p.copy_count() > 0) {
    s += "inserted copies:\n";
    for (int v = 0; v < g.tensor_count; ++v) {
      const node_desc& d = g.nodes[v];
      if (!d.inserted) continue;
      std::string readers;  // one entry per input slot, in node order
      for (int w = 0; w < g.tensor_count; ++w)
        for (int k = 0; k < g.nodes[w].input_count; ++k)
          if (g.nodes[w].inputs[k] == v) readers.append(readers.empty() ? "" : ", ").append(g.nodes[w].name);
      const std::string_view source = g.nodes[d.inputs[0]].name;  // the copy itself is "<source>.to_symmetric"
      s += detail::format("  %.*s -> symmetric (%s copy, step %d) for %s\n", int(source.size()), source.data(),
                          d.op->traits.copy == copy_kind::dma ? "dma" : "kernel", g.step[v], readers.c_str());
    }
  }
  s += "arenas:\n";
  for (int c = 0; c < memory_class_count; ++c) {
    if (memory_class(c) == memory_class::external || p.buffer_count(memory_class(c)) == 0) continue;
    std::size_t a = p.arena_bytes(memory_class(c)), lb = p.lower_bound(memory_class(c));
    s += detail::format("  %-11s %12zu bytes, lower bound %12zu (%.2fx)\n",
                        std::string(name_of(memory_class(c))).c_str(), a, lb, lb ? double(a) / double(lb) : 1.0);
  }
  s += detail::state_section(p);
  return s;
}

template <std::size_t N>
std::ostream& operator<<(std::ostream& os, const plan<N>& p) {
  return os << to_string(p);
}

}  // namespace ctg
