#pragma once
//! to_svg: the memory plan as a picture, written by the library (no renderer needed). One panel
//! per arena: time steps across, offsets up, one rectangle per planned buffer over its lifetime,
//! with lines at the lower bound and at the arena size, so that wasted memory shows as gaps
//! below the arena line; state tensors, which no arena holds, as bands across every step under
//! the arenas, marked where a node writes them. An in-place chain shares one offset: storage passes from buffer to
//! buffer in the middle of the handover step, so no two rectangles overlap.
#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include <ctgraph/plan/plan.hpp>
#include <ctgraph/plan/to_dot.hpp>  // human_bytes and the partition colours, shared with to_dot

namespace ctg {

namespace detail {

//! Text and attribute values for XML: the five special characters as entities; control
//! characters, which XML 1.0 cannot carry even escaped, dropped.
inline std::string xml_escape(std::string_view s) {
  std::string r;
  for (char c : s) {
    switch (c) {
      case '&': r += "&amp;"; break;
      case '<': r += "&lt;"; break;
      case '>': r += "&gt;"; break;
      case '"': r += "&quot;"; break;
      case '\'': r += "&apos;"; break;
      default:
        if ((unsigned char)c >= 0x20 || c == '\t' || c == '\n') r += c;
    }
  }
  return r;
}

//! One planned buffer's rectangle in the picture.
struct svg_rect {
  int node = -1;  // the buffer's producer
  memory_class memory = memory_class::device;
  double x = 0, y = 0, width = 0, height = 0;
};

//! One arena's panel: the plot area and its scales.
struct svg_panel {
  memory_class memory = memory_class::device;
  double top = 0;                                     // the panel's heading
  double plot_x = 0, plot_y = 0, plot_w = 0, plot_h = 0;
  double cell = 0;                                    // pixels per step
  std::size_t y_max = 1;                              // bytes at the top of the plot (the arena)
  double y_of(std::size_t bytes) const { return plot_y + plot_h - double(bytes) * plot_h / double(y_max); }
};

struct svg_layout {
  double width = 0, height = 0;
  std::vector<svg_panel> panels;
  std::vector<svg_rect> rects;
  //! State tensors, under the arenas: one band each across every step (they live across runs),
  //! in a panel of their own that starts at `state_top` (memory `external`: no arena holds them).
  double state_top = 0;
  std::vector<svg_rect> state_bands;
};

inline constexpr double svg_pad = 16, svg_header = 64, svg_heading = 34, svg_plot_h = 240, svg_axis = 54;
inline constexpr double svg_left = 84, svg_right = 190, svg_font = 11, svg_state_band = 20;

//! Where to_svg draws everything; the tests check the rectangles' geometry through it.
template <std::size_t N>
svg_layout layout_svg(const plan<N>& p) {
  const flat_graph<N>& g = p.graph;
  svg_layout l;
  const int steps = std::max(g.step_count, 1);
  const double plot_w = std::clamp(steps * 56.0, 560.0, 960.0);  // at least the legend's width
  l.width = svg_left + plot_w + svg_right;
  l.height = svg_header;
  if (!p.ok()) return l;
  // A buffer handed over in place at its last step ends in the middle of that step, where its
  // successor begins.
  std::vector<bool> handed(std::size_t(g.tensor_count), false);
  for (int v = 0; v < g.tensor_count; ++v)
    if (is_planned(g, v) && g.buffers[v].shares >= 0) handed[std::size_t(g.buffers[v].shares)] = true;
  for (int c = 0; c < memory_class_count; ++c) {
    const memory_class m = memory_class(c);
    if (m == memory_class::external) continue;
    bool any = false;
    for (int v = 0; v < g.tensor_count; ++v) any = any || (is_planned(g, v) && g.buffers[v].memory == m);
    if (!any) continue;
    svg_panel q;
    q.memory = m;
    q.top = l.height;
    q.plot_x = svg_left;
    q.plot_y = q.top + svg_heading;
    q.plot_w = plot_w;
    q.plot_h = svg_plot_h;
    q.cell = plot_w / steps;
    q.y_max = std::max<std::size_t>(p.arena_bytes(m), 1);
    for (int v = 0; v < g.tensor_count; ++v) {
      if (!is_planned(g, v) || g.buffers[v].memory != m) continue;
      const buffer_desc& b = g.buffers[v];
      svg_rect r;
      r.node = v;
      r.memory = m;
      const double x0 = q.plot_x + q.cell * (b.lifetime.first + (b.shares >= 0 ? 0.5 : 0.0));
      const double x1 = q.plot_x + q.cell * (b.lifetime.last + (handed[std::size_t(v)] ? 0.5 : 1.0));
      r.x = x0;
      r.width = x1 - x0;
      r.y = q.y_of(p.offset_of(v) + b.bytes);
      r.height = q.y_of(p.offset_of(v)) - r.y;
      l.rects.push_back(r);
    }
    l.panels.push_back(q);
    l.height = q.plot_y + q.plot_h + svg_axis;
  }
  if (p.state_count() > 0) {
    l.state_top = l.height;
    double y = l.state_top + svg_heading;
    for (int v = 0; v < g.tensor_count; ++v) {
      if (g.nodes[v].kind != tensor_kind::state) continue;
      l.state_bands.push_back({v, memory_class::external, svg_left, y, plot_w, svg_state_band - 4});
      y += svg_state_band;
    }
    l.height = y + svg_pad;
  }
  l.height += svg_pad;
  return l;
}

//! The rectangles to_svg draws, one per planned buffer.
template <std::size_t N>
std::vector<svg_rect> svg_rects(const plan<N>& p) {
  return layout_svg(p).rects;
}

inline std::string svg_num(double v) { return format("%.2f", v); }

//! Fill and stroke of what a capturable partition or a fallback region writes (as in to_dot).
inline std::string svg_colours(bool fallback) {
  return std::string("fill=\"") + (fallback ? fallback_fill : capturable_fill) + "\" stroke=\"" +
         (fallback ? fallback_stroke : capturable_stroke) + "\"";
}

}  // namespace detail

//! The plan's arenas as an SVG document. A rejected plan gives a picture that says why.
template <std::size_t N>
std::string to_svg(const plan<N>& p) {
  using detail::format;
  using detail::human_bytes;
  using detail::svg_num;
  using detail::xml_escape;
  const flat_graph<N>& g = p.graph;
  const detail::svg_layout l = detail::layout_svg(p);
  std::string s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + svg_num(l.width) + "\" height=\"" +
       svg_num(l.height) + "\" viewBox=\"0 0 " + svg_num(l.width) + ' ' + svg_num(l.height) +
       "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"11\">\n";
  s += "<rect class=\"background\" x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
  auto text = [&](double x, double y, std::string_view body, std::string_view attrs = {}) {
    s += "<text x=\"" + svg_num(x) + "\" y=\"" + svg_num(y) + "\"";
    if (!attrs.empty()) s.append(" ").append(attrs);
    s += ">" + xml_escape(body) + "</text>\n";
  };
  auto line = [&](double x1, double y1, double x2, double y2, std::string_view attrs) {
    s += "<line x1=\"" + svg_num(x1) + "\" y1=\"" + svg_num(y1) + "\" x2=\"" + svg_num(x2) + "\" y2=\"" +
         svg_num(y2) + "\" ";
    s.append(attrs).append("/>\n");
  };
  auto box = [&](std::string_view cls, double x, double y, double w, double h, std::string_view attrs) {
    s.append("<rect class=\"").append(cls).append("\" x=\"" + svg_num(x) + "\" y=\"" + svg_num(y) + "\" width=\"" +
                                                   svg_num(w) + "\" height=\"" + svg_num(h) + "\" ");
    s.append(attrs).append("/>\n");
  };
  if (!p.ok()) {
    std::string why = std::string("plan rejected: ") + std::string(describe(g.error.code));
    if (g.error.node >= 0) why.append(" in node '").append(g.nodes[g.error.node].name).append("'");
    text(detail::svg_pad, 28, why, "font-size=\"15\" font-weight=\"bold\"");
    return s + "</svg>\n";
  }
  // Title and legend.
  text(detail::svg_pad, 24,
       "ctgraph memory plan: " + detail::counted(g.step_count, "step", "steps") +
           format("; partitions: %d capturable, %d fallback; ", p.partition_count(partition_kind::capturable),
                  p.partition_count(partition_kind::fallback)) +
           detail::counted(p.copy_count(), "inserted copy", "inserted copies"),
       "font-size=\"15\" font-weight=\"bold\"");
  {
    double x = detail::svg_pad;
    const double y = 40;
    auto swatch = [&](std::string_view label, std::string_view attrs) {
      box("legend", x, y, 14, 12, attrs);
      text(x + 19, y + 10, label);
      x += 28 + 6.2 * double(label.size());
    };
    swatch("written in a capturable partition", detail::svg_colours(false));
    swatch("written in a fallback region", detail::svg_colours(true));
    swatch("inserted copy", "fill=\"#ffffff\" stroke=\"#333333\" stroke-dasharray=\"4 2\"");
    line(x, y + 6, x + 22, y + 6, "stroke=\"#d62728\" stroke-width=\"1.5\" stroke-dasharray=\"6 3\"");
    text(x + 27, y + 10, "lower bound");
    x += 27 + 6.2 * 11 + 14;
    line(x, y + 6, x + 22, y + 6, "stroke=\"#222222\" stroke-width=\"1.5\"");
    text(x + 27, y + 10, "arena size");
  }
  if (l.panels.empty())
    text(detail::svg_pad, detail::svg_header + 16, "no planned buffers: every buffer is opaque or user-owned");
  std::size_t next_rect = 0;
  for (const detail::svg_panel& q : l.panels) {
    const std::string arena_name(name_of(q.memory));
    const std::size_t arena = p.arena_bytes(q.memory), lb = p.lower_bound(q.memory);
    int buffers = 0;
    for (const detail::svg_rect& r : l.rects) buffers += r.memory == q.memory;
    s += "<g class=\"arena\" id=\"arena-" + arena_name + "\">\n";
    text(q.plot_x, q.top + 20,
         arena_name + " arena: " + human_bytes(arena) + ", lower bound " + human_bytes(lb) +
             format(" (ratio %.2f), ", lb ? double(arena) / double(lb) : 1.0) +
             detail::counted(buffers, "buffer", "buffers") + ", " +
             detail::counted(p.reuse_count(q.memory), "reuse", "reuses"),
         "font-size=\"13\" font-weight=\"bold\"");
    box("frame", q.plot_x, q.plot_y, q.plot_w, q.plot_h, "fill=\"#fafafa\" stroke=\"#bbbbbb\"");
    // Offsets: ticks at quarters of the arena, with faint grid lines.
    for (int t = 0; t <= 4; ++t) {
      const std::size_t b = q.y_max * std::size_t(t) / 4;
      const double y = q.y_of(b);
      if (t > 0 && t < 4) line(q.plot_x, y, q.plot_x + q.plot_w, y, "stroke=\"#e4e4e4\"");
      line(q.plot_x - 4, y, q.plot_x, y, "stroke=\"#555555\"");
      text(q.plot_x - 7, y + 4, human_bytes(b), "text-anchor=\"end\"");
    }
    text(18, q.plot_y + q.plot_h / 2, "offset",
         format("text-anchor=\"middle\" transform=\"rotate(-90 18 %.2f)\"", q.plot_y + q.plot_h / 2));
    // Steps: a number under every k-th step, then a strip with each partition.
    const int every = std::max(1, int(22.0 / q.cell + 0.999));
    const double base = q.plot_y + q.plot_h;
    for (int st = 0; st < g.step_count; st += every) {
      const double x = q.plot_x + q.cell * (st + 0.5);
      line(x, base, x, base + 4, "stroke=\"#555555\"");
      text(x, base + 15, std::to_string(st), "text-anchor=\"middle\"");
    }
    for (int i = 0; i < g.partition_count; ++i) {
      const partition_desc& pd = g.partitions[i];
      const bool fallback = pd.kind == partition_kind::fallback;
      const double x = q.plot_x + q.cell * pd.first_step, w = q.cell * pd.node_count();
      s += "<g><title>" +
           xml_escape(format("partition %d: %s, steps %d..%d", i, fallback ? "fallback region" : "capturable",
                             pd.first_step, pd.last_step)) +
           "</title>\n";
      box("partition", x, base + 20, w, 12, detail::svg_colours(fallback));
      const std::string label = format(fallback ? "#%d fallback" : "#%d", i);
      if (w >= 6.0 * double(label.size()) + 4)
        text(x + w / 2, base + 30, label, "text-anchor=\"middle\" font-size=\"9\"");
      s += "</g>\n";
    }
    text(q.plot_x - 7, base + 30, "partition", "text-anchor=\"end\"");
    text(q.plot_x + q.plot_w / 2, base + 48, "step", "text-anchor=\"middle\"");
    // Buffers.
    for (; next_rect < l.rects.size() && l.rects[next_rect].memory == q.memory; ++next_rect) {
      const detail::svg_rect& r = l.rects[next_rect];
      const int v = r.node;
      const node_desc& d = g.nodes[v];
      const buffer_desc& b = g.buffers[v];
      const bool fallback = g.partitions[g.partition_of[v]].kind == partition_kind::fallback;
      std::string note;  // hoisting, shown under the name where it fits
      if (b.hoisted) note = b.hoisted_to >= 0 ? format("hoisted to #%d", b.hoisted_to) : "hoisted: at instantiation";
      std::string tip(d.name);
      tip.append(" (").append(d.op->name).append("): ").append(human_bytes(b.bytes)).append(" in ").append(arena_name);
      tip += format(" at offset %zu, steps %d..%d", p.offset_of(v), b.lifetime.first, b.lifetime.last);
      if (b.shares >= 0) tip.append(", in place of '").append(g.nodes[b.shares].name).append("'");
      if (d.inserted) tip += ", inserted copy (dma)";
      if (!note.empty()) tip += ", " + note;
      if (g.is_output[v]) tip += ", graph output";
      s += "<g><title>" + xml_escape(tip) + "</title>\n";
      std::string attrs = "id=\"buffer-" + std::to_string(v) + "\" " + detail::svg_colours(fallback);
      if (d.inserted) attrs += " stroke-dasharray=\"4 2\"";
      box("buffer", r.x, r.y, r.width, r.height, attrs);
      const std::string label = std::string(d.name) + (d.inserted ? " (copy)" : "");
      // Helvetica at 11 px: about 6.2 px a character.
      const bool fits = r.width >= 6.2 * double(label.size()) + 6 && r.height >= detail::svg_font + 3;
      const bool note_fits = fits && !note.empty() && r.width >= 6.2 * double(note.size()) + 6 && r.height >= 32;
      const double cx = r.x + r.width / 2, cy = r.y + r.height / 2;
      if (fits) text(cx, cy + (note_fits ? -2 : 4), label, "text-anchor=\"middle\"");
      if (note_fits) text(cx, cy + 12, note, "text-anchor=\"middle\" font-style=\"italic\"");
      s += "</g>\n";
    }
    // The lower bound and the arena size; labels apart when the lines are close.
    const double ya = q.y_of(arena), yl = q.y_of(lb), lx = q.plot_x + q.plot_w + 8;
    line(q.plot_x, ya, q.plot_x + q.plot_w, ya, "stroke=\"#222222\" stroke-width=\"1.5\"");
    line(q.plot_x, yl, q.plot_x + q.plot_w, yl, "stroke=\"#d62728\" stroke-width=\"1.5\" stroke-dasharray=\"6 3\"");
    if (arena == lb) {
      text(lx, ya + 4, "arena = lower bound");
      text(lx, ya + 18, human_bytes(arena));
    } else {
      const bool close = yl - ya < 30;
      text(lx, ya + (close ? -2 : 4), "arena " + human_bytes(arena));
      text(lx, yl + (close ? 12 : 4), "lower bound " + human_bytes(lb), "fill=\"#d62728\"");
    }
    s += "</g>\n";
  }
  // State: one band per state tensor across every step, a tick where a node writes it.
  if (!l.state_bands.empty()) {
    const double cell = (l.state_bands[0].width) / std::max(g.step_count, 1);
    s += "<g class=\"state\" id=\"state\">\n";
    text(detail::svg_left, l.state_top + 20,
         "state (kept across runs, never placed or reused by the planner): " +
             detail::counted(p.state_count(), "tensor", "tensors") + ", " + human_bytes(p.state_bytes()),
         "font-size=\"13\" font-weight=\"bold\"");
    const std::string colours = std::string("fill=\"") + detail::state_fill + "\" stroke=\"" + detail::state_stroke + "\"";
    for (const detail::svg_rect& r : l.state_bands) {
      const node_desc& d = g.nodes[r.node];
      std::string tip(d.name);
      tip += ": state " + detail::shape_string(d.out) + ", " + human_bytes(d.out.bytes());
      s += "<g><title>" + xml_escape(tip + ", " + detail::state_writers(g, r.node)) + "</title>\n";
      box("state", r.x, r.y, r.width, r.height, "id=\"state-" + std::to_string(r.node) + "\" " + colours);
      for (int w = 0; w < g.tensor_count; ++w)
        if (g.nodes[w].kind == tensor_kind::node && g.nodes[w].op->traits.writes_state && g.owner[w] == r.node) {
          const double x = r.x + cell * (g.step[w] + 0.5);
          line(x, r.y, x, r.y + r.height, std::string("class=\"state-write\" stroke=\"") + detail::state_stroke + "\" stroke-width=\"3\"");
        }
      text(r.x + 6, r.y + r.height - 4, d.name);
      s += "</g>\n";
    }
    s += "</g>\n";
  }
  return s + "</svg>\n";
}

}  // namespace ctg
