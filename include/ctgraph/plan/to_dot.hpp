#pragma once
//! to_dot: the plan as a Graphviz graph (`dot -Tsvg plan.dot > plan.svg`). One node per tensor,
//! clustered by partition and filled by its kind (capturable: blue, fallback: orange); graph
//! inputs and parameters are plain boxes; state tensors are green with a double border, as are
//! the borders of the nodes that write them (the edge into a write is bold green); inserted
//! copies have a dashed border; each label says the op, the output, where its buffer lives and
//! whether it is hoisted; edges carry the bytes of the tensor that flows along them. A picture of what the text dump (to_string) says.
#include <string>
#include <string_view>

#include <ctgraph/plan/plan.hpp>
#include <ctgraph/plan/to_string.hpp>

namespace ctg {

namespace detail {

//! Bytes in the unit a person reads: "512 B", "1.5 KiB", "128 KiB", "32 MiB".
inline std::string human_bytes(std::size_t b) {
  if (b < 1024) return std::to_string(b) + " B";
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = double(b) / 1024;
  int u = 0;
  while (v >= 1024 && u < 3) v /= 1024, ++u;
  std::string s = format("%.1f", v);
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
  return s + ' ' + units[u];
}

//! "1 step", "2 steps".
inline std::string counted(int n, std::string_view one, std::string_view many) {
  return std::to_string(n) + ' ' + std::string(n == 1 ? one : many);
}

//! A DOT quoted string's body: quotes and backslashes escaped (a backslash would otherwise start
//! a label escape such as \N), newlines as \n, other control characters dropped.
inline std::string dot_escape(std::string_view s) {
  std::string r;
  for (char c : s) {
    if (c == '"' || c == '\\') r += '\\', r += c;
    else if (c == '\n') r += "\\n";
    else if ((unsigned char)c >= 0x20 && c != 0x7f) r += c;
  }
  return r;
}

inline constexpr const char* capturable_fill = "#cfe2ff";
inline constexpr const char* capturable_stroke = "#2f5f9e";
inline constexpr const char* fallback_fill = "#ffd8a8";
inline constexpr const char* fallback_stroke = "#b8500f";
//! State tensors (kept across runs): green, with a double border in DOT.
inline constexpr const char* state_fill = "#d3f9d8";
inline constexpr const char* state_stroke = "#2b8a3e";

//! Where a node's output lives and how big it is, in label lines.
template <std::size_t N>
std::string placement_lines(const plan<N>& p, int v) {
  const flat_graph<N>& g = p.graph;
  const buffer_desc& b = p.buffer(v);
  const std::string size = human_bytes(g.nodes[v].out.bytes());
  if (g.nodes[v].kind == tensor_kind::state) return "state (kept across runs, never reused): " + size;
  if (g.nodes[v].kind != tensor_kind::node) return "external (user-owned): " + size;
  if (g.in_prologues[v]) return "registers: in its readers' prologues, no buffer";
  if (detail::is_fused_member(g, v)) return "registers: fused into '" + std::string(g.nodes[g.fused_root[v]].name) + "', no buffer";
  if (g.nodes[v].op->traits.writes_state) {
    std::string s = "state: writes '" + std::string(g.nodes[g.owner[v]].name) + "'";
    if (g.writes_in[v] >= 0) s.append("\nwritten in the launch of '").append(g.nodes[g.writes_in[v]].name).append("'");
    return s;
  }
  std::string s(state_of(g.nodes, v) >= 0 ? "state" : name_of(b.memory));
  if (g.owner[v] != v) {
    s.append(": view of '").append(g.nodes[g.owner[v]].name).append("'");
    const std::size_t at = p.offset_in_buffer(v);
    return at > 0 ? s.append(" at +").append(human_bytes(at)) : s;
  }
  if (b.opaque) return "opaque: " + size + " the op allocates in " + s;
  s.append(": ").append(human_bytes(b.bytes)).append(" at offset ").append(human_bytes(p.offset_of(v)));
  if (b.shares >= 0) s.append("\nin place of '").append(g.nodes[b.shares].name).append("'");
  if (g.sibling_lead[v] >= 0) s.append("\ncomputed in the launch of '").append(g.nodes[g.sibling_lead[v]].name).append("'");
  return s;
}

}  // namespace detail

//! The plan as Graphviz DOT. A rejected plan gives a graph whose label says why.
template <std::size_t N>
std::string to_dot(const plan<N>& p) {
  using detail::dot_escape;
  const flat_graph<N>& g = p.graph;
  std::string s = "digraph plan {\n";
  if (!p.ok()) {
    std::string why = std::string("plan rejected: ") + std::string(describe(g.error.code));
    if (g.error.node >= 0) why.append(" in node '").append(g.nodes[g.error.node].name).append("'");
    return s.append("  label=\"").append(dot_escape(why)).append("\";\n}\n");
  }
  s += "  rankdir=TB;\n  fontname=\"Helvetica\";\n";
  s += "  node [shape=box, fontname=\"Helvetica\", fontsize=10];\n";
  s += "  edge [fontname=\"Helvetica\", fontsize=9, color=\"#555555\", fontcolor=\"#333333\"];\n";
  auto node_line = [&](int v) {
    const node_desc& d = g.nodes[v];
    const buffer_desc& b = p.buffer(v);
    std::string label(d.name);
    std::string style, extra;
    if (d.kind == tensor_kind::state) {
      label.append("\nstate ").append(detail::shape_string(d.out));
      style = "filled";
      extra = std::string(", peripheries=2, fillcolor=\"") + detail::state_fill + "\", color=\"" + detail::state_stroke + "\"";
    } else if (d.kind != tensor_kind::node) {
      label.append(d.kind == tensor_kind::input ? "\ngraph input " : "\nparameter ");
      label += detail::shape_string(d.out);
      style = "solid";
    } else {
      const bool fallback = g.partitions[g.partition_of[v]].kind == partition_kind::fallback;
      if (d.inserted) label.append("\ncopy (dma): ").append(d.op->name);
      else label.append("\n").append(d.op->name);
      label.append(" -> ").append(detail::shape_string(d.out));
      style = d.inserted ? "dashed,filled" : "rounded,filled";
      const char* stroke = d.op->traits.writes_state ? detail::state_stroke : fallback ? detail::fallback_stroke : detail::capturable_stroke;
      extra = std::string(", fillcolor=\"") + (fallback ? detail::fallback_fill : detail::capturable_fill) + "\", color=\"" + stroke + "\"";
      if (g.is_output[v]) extra += ", penwidth=2";
      if (d.op->traits.writes_state) extra += ", peripheries=2";
    }
    label.append("\n").append(detail::placement_lines(p, v));
    if (is_planned(g, v))
      label += detail::format("\nsteps %d..%d", b.lifetime.first, b.lifetime.last);
    if (is_planned(g, v) && g.owner[v] == v && b.busy_until > b.lifetime.last) label += detail::format(", busy to %d", b.busy_until);
    if (d.kind == tensor_kind::node && g.partitions[g.partition_of[v]].branches > 1) label += detail::format("\nbranch %d", g.branch[v]);
    if (b.hoisted && g.owner[v] == v)
      label += b.hoisted_to >= 0 ? detail::format("\nhoisted to #%d", b.hoisted_to) : "\nhoisted: at instantiation";
    if (g.is_output[v]) label += "\ngraph output";
    return detail::format("n%d [label=\"", v) + dot_escape(label) + "\", style=\"" + style + "\"" + extra + "];\n";
  };
  // Graph inputs and parameters outside every cluster; dot puts each near its first reader.
  for (int v = 0; v < g.tensor_count; ++v)
    if (g.nodes[v].kind != tensor_kind::node) s += "  " + node_line(v);
  for (int i = 0; i < g.partition_count; ++i) {
    const partition_desc& q = g.partitions[i];
    const bool fallback = q.kind == partition_kind::fallback;
    s += detail::format("  subgraph cluster_%d {\n    label=\"%s %d%s\";\n", i,
                        fallback ? "fallback region" : "partition", i,
                        fallback ? "" : q.branches > 1 ? detail::format(" (capturable, %d parallel branches)", q.branches).c_str() : " (capturable)");
    s += std::string("    style=\"rounded") + (fallback ? ",dashed" : "") + "\";\n    color=\"" +
         (fallback ? detail::fallback_stroke : detail::capturable_stroke) + "\";\n";
    for (int st = q.first_step; st <= q.last_step; ++st) {
      const int v = g.schedule[st];
      if (g.fused_root[v] < 0) {
        s += "    " + node_line(v);
      } else if (g.fused_root[v] == v) {  // a fused group: its own dotted cluster, members in order
        const fused_group f = detail::group_of(g, v);
        s += detail::format("    subgraph cluster_fused_%d {\n      label=\"fused group: one kernel, %d nodes\";\n", v, f.size);
        s += "      style=\"rounded,dotted\";\n";
        for (int j = 0; j < f.size; ++j) s += "      " + node_line(f.members[j]);
        s += "    }\n";
      }
    }
    s += "  }\n";
  }
  for (int st = 0; st < g.step_count; ++st) {
    const int v = g.schedule[st];
    for (int k = 0; k < g.nodes[v].input_count; ++k) {
      const int u = g.nodes[v].inputs[k];
      s += detail::format("  n%d -> n%d [label=\"", u, v) + dot_escape(detail::human_bytes(g.nodes[u].out.bytes())) + "\"" +
           (k == 0 && g.nodes[v].op->traits.writes_state ? std::string(", color=\"") + detail::state_stroke + "\", style=bold" : "") +
           "];\n";
    }
  }
  using detail::counted;
  std::string summary = counted(g.step_count, "step", "steps") + ", " +
                        counted(g.partition_count, "partition", "partitions") + ", " +
                        counted(p.buffer_count(), "buffer", "buffers") + ", " +
                        counted(p.reuse_count(), "reuse", "reuses") + ", " +
                        counted(p.copy_count(), "inserted copy", "inserted copies") + ", " +
                        counted(p.fused_group_count(), "fused group", "fused groups");
  if (p.state_count() > 0)
    summary += "\n" + counted(p.state_count(), "state tensor", "state tensors") + " kept across runs, " + detail::human_bytes(p.state_bytes());
  for (int c = 0; c < memory_class_count; ++c) {
    if (memory_class(c) == memory_class::external || p.buffer_count(memory_class(c)) == 0) continue;
    summary.append("\n").append(name_of(memory_class(c))).append(" arena ");
    summary += detail::human_bytes(p.arena_bytes(memory_class(c))) + ", lower bound " + detail::human_bytes(p.lower_bound(memory_class(c)));
  }
  s += "  labelloc=b;\n  label=\"" + dot_escape(summary) + "\";\n}\n";
  return s;
}

}  // namespace ctg
