// to_svg and to_dot: the SVG is well-formed XML (checked by a small checker that is itself shown
// to reject broken documents), has exactly one rectangle per planned buffer, at the geometry
// svg_rects reports, and rectangles of buffers alive at one step never overlap; the DOT has one
// node per tensor, a cluster per partition, dashed inserted copies, hoisting and escaped names.
#include <ctgraph/ctgraph.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "../models.hpp"

namespace pictures_test {
using namespace ctg;

// ---- a small XML well-formedness checker -----------------------------------------------------

bool name_char(char c, bool first) {
  const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
  return alpha || (!first && ((c >= '0' && c <= '9') || c == '-' || c == '.'));
}

//! Whether `s` at `i` starts a valid entity reference (after the '&'); advances past it.
bool entity(std::string_view s, std::size_t& i) {
  const std::size_t end = s.find(';', i);
  if (end == std::string_view::npos || end == i + 1) return false;
  std::string_view e = s.substr(i + 1, end - i - 1);
  bool ok = e == "amp" || e == "lt" || e == "gt" || e == "quot" || e == "apos";
  if (!ok && e.size() > 1 && e[0] == '#') {
    const bool hex = e[1] == 'x';
    std::string_view digits = e.substr(hex ? 2 : 1);
    ok = !digits.empty() && std::all_of(digits.begin(), digits.end(), [&](char c) {
      return (c >= '0' && c <= '9') || (hex && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')));
    });
  }
  if (ok) i = end + 1;
  return ok;
}

//! "" when `s` is one well-formed XML document (balanced, properly nested tags; quoted,
//! unique attributes; no raw '&', '<' or '>' in text or values), else what is wrong and where.
std::string xml_error(std::string_view s) {
  auto at = [&](std::size_t i, const char* what) { return std::string(what) + " at " + std::to_string(i); };
  auto space = [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; };
  std::vector<std::string_view> open;
  bool root_done = false;
  std::size_t i = 0;
  if (s.substr(0, 5) == "<?xml") {
    const std::size_t end = s.find("?>");
    if (end == std::string_view::npos) return at(0, "unterminated XML declaration");
    i = end + 2;
  }
  while (i < s.size()) {
    const char c = s[i];
    if (c != '<') {  // text
      if (open.empty() && !space(c)) return at(i, "text outside the root element");
      if (c == '>') return at(i, "raw '>' in text");
      if (c == '&') {
        if (!entity(s, i)) return at(i, "raw '&' in text");
        continue;
      }
      ++i;
      continue;
    }
    if (s.substr(i, 4) == "<!--") {
      const std::size_t end = s.find("--", i + 4);
      if (end == std::string_view::npos || s.substr(end, 3) != "-->") return at(i, "bad comment");
      i = end + 3;
      continue;
    }
    const bool closing = i + 1 < s.size() && s[i + 1] == '/';
    std::size_t j = i + (closing ? 2 : 1);
    const std::size_t name_begin = j;
    if (j >= s.size() || !name_char(s[j], true)) return at(i, "'<' that starts no tag");
    while (j < s.size() && name_char(s[j], false)) ++j;
    const std::string_view name = s.substr(name_begin, j - name_begin);
    if (closing) {
      while (j < s.size() && space(s[j])) ++j;
      if (j >= s.size() || s[j] != '>') return at(j, "unterminated closing tag");
      if (open.empty() || open.back() != name) return at(i, "closing tag that matches no open tag");
      open.pop_back();
      root_done = open.empty();
      i = j + 1;
      continue;
    }
    if (root_done) return at(i, "second root element");
    std::vector<std::string_view> attrs;
    bool self_closing = false;
    for (;;) {
      const std::size_t before = j;
      while (j < s.size() && space(s[j])) ++j;
      if (j >= s.size()) return at(i, "unterminated tag");
      if (s[j] == '>') break;
      if (s.substr(j, 2) == "/>") {
        self_closing = true;
        ++j;
        break;
      }
      if (j == before) return at(j, "no space before an attribute");
      const std::size_t a = j;
      if (!name_char(s[j], true)) return at(j, "bad attribute name");
      while (j < s.size() && name_char(s[j], false)) ++j;
      const std::string_view attr = s.substr(a, j - a);
      if (std::find(attrs.begin(), attrs.end(), attr) != attrs.end()) return at(a, "duplicate attribute");
      attrs.push_back(attr);
      if (j >= s.size() || s[j] != '=') return at(j, "attribute without '='");
      ++j;
      if (j >= s.size() || (s[j] != '"' && s[j] != '\'')) return at(j, "unquoted attribute value");
      const char quote = s[j++];
      while (j < s.size() && s[j] != quote) {
        if (s[j] == '<' || s[j] == '>') return at(j, "raw '<' or '>' in an attribute value");
        if (s[j] == '&') {
          if (!entity(s, j)) return at(j, "raw '&' in an attribute value");
          continue;
        }
        ++j;
      }
      if (j >= s.size()) return at(a, "unterminated attribute value");
      ++j;
    }
    if (!self_closing) open.push_back(name);
    else root_done = open.empty();
    i = j + 1;
  }
  if (!open.empty()) return "unclosed <" + std::string(open.back()) + ">";
  if (!root_done) return "no root element";
  return "";
}

TEST_CASE("pictures: the XML checker accepts good documents and catches broken ones") {
  CHECK(xml_error("<?xml version=\"1.0\"?>\n<svg a=\"1\" b='x &amp; y'><g><text>a &lt; b &#60; &#x3c;</text></g><!-- c --></svg>\n") == "");
  CHECK(xml_error("<svg/>") == "");
  const char* broken[] = {
      "",                                   // no root
      "<svg><g></svg>",                     // unbalanced
      "<svg><g></svg></g>",                 // badly nested
      "<svg>",                              // unclosed
      "<svg a=1/>",                         // unquoted
      "<svg a=\"1\"b=\"2\"/>",              // no space between attributes
      "<svg a=\"1\" a=\"2\"/>",             // duplicate attribute
      "<svg a=\"1/>",                       // unterminated value
      "<svg a=\"x<y\"/>",                   // raw '<' in a value
      "<svg a=\"x & y\"/>",                 // raw '&' in a value
      "<svg>x & y</svg>",                   // raw '&' in text
      "<svg>x &bogus; y</svg>",             // unknown entity
      "<svg>x < y</svg>",                   // raw '<' in text
      "<svg>x > y</svg>",                   // raw '>' in text
      "<svg/><svg/>",                       // two roots
      "text<svg/>",                         // text outside the root
      "<svg><!-- a -- b --></svg>",         // '--' in a comment
      "<svg",                               // unterminated tag
  };
  for (const char* b : broken) {
    INFO(b);
    CHECK(xml_error(b) != "");
  }
}

// ---- reading the drawn rectangles back --------------------------------------------------------

struct drawn_rect {
  int node = -1;
  double x = 0, y = 0, width = 0, height = 0;
};

//! The attributes of the tag that starts at `i`.
std::map<std::string, std::string> attributes(const std::string& s, std::size_t i) {
  std::map<std::string, std::string> m;
  const std::size_t end = s.find('>', i);
  std::size_t j = s.find(' ', i);
  while (j < end) {
    const std::size_t eq = s.find('=', j);
    if (eq >= end) break;
    const std::size_t q = eq + 1, q2 = s.find(s[q], q + 1);
    std::string key = s.substr(j + 1, eq - j - 1);
    m[key] = s.substr(q + 1, q2 - q - 1);
    j = q2 + 1;
  }
  return m;
}

std::vector<drawn_rect> buffer_rects(const std::string& svg) {
  std::vector<drawn_rect> r;
  for (std::size_t i = svg.find("<rect "); i != std::string::npos; i = svg.find("<rect ", i + 1)) {
    auto a = attributes(svg, i);
    if (a["class"] != "buffer") continue;
    REQUIRE(a["id"].rfind("buffer-", 0) == 0);
    r.push_back({std::atoi(a["id"].c_str() + 7), std::atof(a["x"].c_str()), std::atof(a["y"].c_str()),
                 std::atof(a["width"].c_str()), std::atof(a["height"].c_str())});
  }
  return r;
}

template <std::size_t N>
bool planned(const plan<N>& p, int v) {
  const auto& g = p.graph;
  return g.nodes[v].kind == tensor_kind::node && g.owner[v] == v && !g.buffers[v].opaque && !detail::is_fused_member(g, v) &&
         g.buffers[v].memory != memory_class::external;
}

//! The first pair of rectangles whose buffers are alive at one step in one arena and that
//! overlap in the picture, or {-1, -1}.
template <std::size_t N>
std::pair<int, int> first_overlap(const plan<N>& p, const std::vector<detail::svg_rect>& rects) {
  const double eps = 1e-6;
  for (std::size_t a = 0; a < rects.size(); ++a)
    for (std::size_t b = a + 1; b < rects.size(); ++b) {
      const detail::svg_rect &x = rects[a], &y = rects[b];
      const buffer_desc &bx = p.graph.buffers[x.node], &by = p.graph.buffers[y.node];
      if (bx.memory != by.memory || !bx.lifetime.overlaps(by.lifetime)) continue;
      const bool apart = x.x + x.width <= y.x + eps || y.x + y.width <= x.x + eps || x.y + x.height <= y.y + eps ||
                         y.y + y.height <= x.y + eps;
      if (!apart) return {x.node, y.node};
    }
  return {-1, -1};
}

//! Everything the SVG must satisfy for plan `p`.
template <std::size_t N>
void check_svg(const plan<N>& p) {
  const std::string svg = to_svg(p);
  CHECK(xml_error(svg) == "");
  CHECK(svg.find("viewBox=\"0 0 ") != std::string::npos);
  const detail::svg_layout l = detail::layout_svg(p);
  const std::vector<detail::svg_rect>& rects = l.rects;
  // Exactly one rectangle per planned buffer, and none for anything else.
  std::vector<int> count(std::size_t(p.tensor_count()), 0);
  for (const auto& r : rects) ++count[std::size_t(r.node)];
  for (int v = 0; v < p.tensor_count(); ++v) CHECK(count[std::size_t(v)] == (planned(p, v) ? 1 : 0));
  // The document draws exactly those rectangles, at the reported geometry.
  const std::vector<drawn_rect> drawn = buffer_rects(svg);
  REQUIRE(drawn.size() == rects.size());
  for (const auto& r : rects) {
    auto it = std::find_if(drawn.begin(), drawn.end(), [&](const drawn_rect& d) { return d.node == r.node; });
    REQUIRE(it != drawn.end());
    CHECK(std::abs(it->x - r.x) < 0.006);
    CHECK(std::abs(it->y - r.y) < 0.006);
    CHECK(std::abs(it->width - r.width) < 0.006);
    CHECK(std::abs(it->height - r.height) < 0.006);
  }
  // Each rectangle sits in its arena's panel, at its offset, and covers the middle of every step
  // of its lifetime (so an empty or misplaced rectangle cannot pass the overlap check).
  for (const auto& r : rects) {
    const buffer_desc& b = p.graph.buffers[r.node];
    auto q = std::find_if(l.panels.begin(), l.panels.end(), [&](const auto& panel) { return panel.memory == b.memory; });
    REQUIRE(q != l.panels.end());
    const double eps = 1e-6;
    CHECK(r.x >= q->plot_x - eps);
    CHECK(r.x + r.width <= q->plot_x + q->plot_w + eps);
    CHECK(std::abs(r.y + r.height - q->y_of(p.offset_of(r.node))) < 1e-6);
    CHECK(std::abs(r.height - double(b.bytes) * q->plot_h / double(q->y_max)) < 1e-6);
    CHECK(r.y >= q->plot_y - eps);
    CHECK(r.x <= q->plot_x + q->cell * (b.lifetime.first + 0.5) + eps);
    CHECK(r.x + r.width >= q->plot_x + q->cell * (b.lifetime.last + 0.5) - eps);
  }
  const auto overlap = first_overlap(p, rects);
  CHECK(overlap.first == -1);
  CHECK(overlap.second == -1);
}

// ---- the plans ------------------------------------------------------------------------------

// The README example.
using x = input<"x", bf16, shape<16, 4096>>;
using w0 = parameter<"w0", bf16, shape<4096, 4096>>;
using h0 = node<"h0", ops::matmul, x, w0>;
using r0 = node<"r0", ops::relu, h0>;
constexpr auto readme = make_plan<graph<r0>, plan_options{.fuse = false}>();  // h0 hands its storage to r0
constexpr auto readme_fused = make_plan<graph<r0>>();                           // r0 in h0's epilogue

// Two collectives reading a graph input share one inserted copy into symmetric memory.
struct a1 : node<"a1", ops::all_reduce, x> {};
struct a2 : node<"a2", ops::all_reduce, x> {};
struct sum : node<"sum", ops::add, a1, a2> {};
constexpr auto copied = make_plan<graph<sum>>();
static_assert(copied.copy_count() == 1);

// The device-copy round trip: a fallback region between two CUDA graphs, its buffer hoisted.
using w = parameter<"w", f32, shape<1024, 1024>>;
using xf = input<"xf", f32, shape<16, 1024>>;
using round_trip = test_models::round_trip<xf, w>;
using cpu = round_trip::cpu;
constexpr auto trip = make_plan<graph<round_trip::m1>>();
static_assert(trip.partition_count() == 3 && trip.buffer_of<cpu>().hoisted_to == 0);

// A fallback region first: its buffer is allocated at instantiation.
using leading_region = test_models::leading_fallback<xf>;
using first = leading_region::first;
struct after : node<"after", ops::matmul, leading_region::up, w> {};
constexpr auto leading = make_plan<graph<after>>();
static_assert(leading.hoisted_at_instantiation() == 1 && leading.buffer_of<first>().hoisted_to == no_index);

TEST_CASE("pictures: to_svg of the README example, a copy, the round trip and a leading fallback") {
  check_svg(readme);
  check_svg(copied);
  check_svg(trip);
  check_svg(leading);
  const std::string s = to_svg(trip);
  CHECK(s.find("id=\"arena-device\"") != std::string::npos);
  CHECK(s.find("id=\"arena-pinned_host\"") != std::string::npos);
  CHECK(s.find("id=\"arena-symmetric\"") == std::string::npos);
  CHECK(s.find("hoisted to #0") != std::string::npos);
  CHECK(to_svg(copied).find("id=\"arena-symmetric\"") != std::string::npos);
  CHECK(to_svg(leading).find("hoisted: at instantiation") != std::string::npos);
  // README: h0 hands its storage to r0 in place, in the middle of step 1.
  auto r = detail::svg_rects(readme);
  REQUIRE(r.size() == 2);
  if (r[0].node != readme.index_of<h0>()) std::swap(r[0], r[1]);
  CHECK(r[1].node == readme.index_of<r0>());
  CHECK(r[0].y == r[1].y);
  CHECK(std::abs(r[0].x + r[0].width - r[1].x) < 1e-9);
}

TEST_CASE("pictures: the overlap check fails on overlapping rectangles") {
  auto r = detail::svg_rects(readme);
  REQUIRE(r.size() == 2);
  if (r[0].node != readme.index_of<h0>()) std::swap(r[0], r[1]);
  r[0].width += 1;  // h0 now reaches into r0, which takes over its storage at step 1
  CHECK(first_overlap(readme, r).first >= 0);
  auto t = detail::svg_rects(trip);
  CHECK(first_overlap(trip, t).first == -1);
  for (auto& q : t) q.y = 0, q.height = 1;  // everything at one offset
  CHECK(first_overlap(trip, t).first >= 0);
}

TEST_CASE("pictures: names are escaped in SVG and DOT") {
  graph_builder<8> b;
  const int in = b.input("in<&>\"'", tensor_desc{dtype_id::f32, 1, {1000}});
  const int r = b.add<ops::relu>("r\\\"<x>&y", {in});
  const int s = b.add<ops::scale<2, 1>>("s\nline", {r});
  b.output(s);
  const owned_plan<8> p = b.build();
  REQUIRE(p.ok());
  check_svg(p);
  const std::string svg = to_svg(p);
  CHECK(svg.find("r\\&quot;&lt;x&gt;&amp;y") != std::string::npos);
  CHECK(svg.find("<x>") == std::string::npos);
  // A name spliced in unescaped is what the checker must catch.
  std::string bad = svg;
  const std::size_t at = bad.find("&lt;x&gt;");
  REQUIRE(at != std::string::npos);
  bad.replace(at, 9, "<x>");
  CHECK(xml_error(bad) != "");
  const std::string dot = to_dot(p);
  CHECK(dot.find("label=\"r\\\\\\\"<x>&y\\n") != std::string::npos);  // r\\\"<x>&y
  CHECK(dot.find("label=\"s\\nline\\n") != std::string::npos);
  CHECK(dot.find("label=\"in<&>\\\"'\\n") != std::string::npos);
}

TEST_CASE("pictures: random graphs draw without overlaps") {
  std::mt19937 rng(606);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto size = [&] { return tensor_desc{dtype_id::f32, 1, {pick(1, 40000)}}; };
  int rects = 0, handovers = 0;
  for (int i = 0; i < 300; ++i) {
    // In-place chains, fallback regions, pinned host buffers, collectives (symmetric memory and
    // inserted copies) and opaque outputs; at most 11 tensors and 11 copies.
    graph_builder<24> b;
    std::vector<tensor_desc> out{size()};
    std::vector<int> t{b.input("in", out[0])};
    const int nodes = pick(1, 10);
    for (int k = 0; k < nodes; ++k) {
      op_traits tr{};
      tr.in_place = pick(0, 1);
      tr.capturable = pick(0, 4) > 0;
      tr.output_memory = pick(0, 4) > 0 ? memory_class::device : memory_class::pinned_host;
      tr.symmetric_inputs = pick(0, 7) == 0;
      tr.result = pick(0, 9) == 0 ? op_result::opaque : op_result::out_variant;
      const std::size_t a = std::size_t(pick(std::max(0, int(t.size()) - 3), int(t.size()) - 1));
      const int ins[2] = {t[a], t[std::size_t(pick(0, int(t.size()) - 1))]};
      const tensor_desc o = pick(0, 1) ? out[a] : size();
      t.push_back(b.add("n" + std::to_string(k), "random", tr, ins, pick(1, 2), o));
      out.push_back(o);
    }
    b.output(t.back());
    const owned_plan<24> p = b.build();
    REQUIRE(p.ok());
    REQUIRE(!check_plan(p));
    check_svg(p);
    rects += int(detail::svg_rects(p).size());
    for (int v = 0; v < p.tensor_count(); ++v) handovers += planned(p, v) && p.graph.buffers[v].shares >= 0;
  }
  CHECK(rects > 1000);
  CHECK(handovers > 50);
}

// ---- DOT ------------------------------------------------------------------------------------

//! The node lines of a DOT text: node index -> (the line, the cluster it is in or -1).
std::map<int, std::pair<std::string, int>> dot_nodes(const std::string& dot) {
  std::map<int, std::pair<std::string, int>> m;
  int cluster = -1;
  std::size_t i = 0;
  while (i < dot.size()) {
    std::size_t e = dot.find('\n', i);
    std::string line = dot.substr(i, e - i);
    i = e + 1;
    std::size_t k = line.find_first_not_of(' ');
    if (line.compare(k, 16, "subgraph cluster") == 0) cluster = std::atoi(line.c_str() + k + 17);
    else if (line.compare(k, 1, "}") == 0) cluster = -1;
    else if (line[k] == 'n' && line.compare(line.find_first_not_of("0123456789", k + 1), 8, " [label=") == 0) {
      const int v = std::atoi(line.c_str() + k + 1);
      CHECK(m.count(v) == 0);
      m[v] = {line, cluster};
    }
  }
  return m;
}

//! Quoted strings end (a backslash escapes the next character) and braces balance outside them.
bool dot_balanced(const std::string& dot) {
  int depth = 0;
  bool quoted = false;
  for (std::size_t i = 0; i < dot.size(); ++i) {
    if (quoted) {
      if (dot[i] == '\\') ++i;
      else if (dot[i] == '"') quoted = false;
      else if (dot[i] == '\n') return false;
    } else if (dot[i] == '"') quoted = true;
    else if (dot[i] == '{') ++depth;
    else if (dot[i] == '}' && --depth < 0) return false;
  }
  return !quoted && depth == 0;
}

template <std::size_t N>
void check_dot(const plan<N>& p) {
  const std::string dot = to_dot(p);
  CHECK(dot_balanced(dot));
  const auto nodes = dot_nodes(dot);
  CHECK(int(nodes.size()) == p.tensor_count());
  for (int v = 0; v < p.tensor_count(); ++v) {
    REQUIRE(nodes.count(v) == 1);
    const auto& [line, cluster] = nodes.at(v);
    CHECK(cluster == (p.node(v).kind == tensor_kind::node ? p.graph.partition_of[v] : -1));
    CHECK(line.find(std::string("label=\"") + std::string(p.node(v).name)) != std::string::npos);
    const bool member = p.graph.fused_root[v] >= 0 && p.graph.fused_root[v] != v;
    const bool state = detail::state_of(p.graph.nodes, v) >= 0;  // external, but drawn as state
    CHECK(line.find(member ? std::string("registers: fused into") : state ? std::string("state") : std::string(name_of(p.buffer(v).memory))) != std::string::npos);
    CHECK((line.find("dashed") != std::string::npos) == p.node(v).inserted);
    CHECK((line.find("copy (dma)") != std::string::npos) == p.node(v).inserted);
    CHECK((line.find("hoisted") != std::string::npos) == p.buffer(v).hoisted);
  }
  for (int i = 0; i < p.partition_count(); ++i) {
    const bool fallback = p.partition(i).kind == partition_kind::fallback;
    const std::string label = fallback ? "label=\"fallback region " + std::to_string(i) + "\""
                                       : "label=\"partition " + std::to_string(i) + " (capturable)\"";
    CHECK(dot.find("subgraph cluster_" + std::to_string(i) + " {\n    " + label) != std::string::npos);
  }
  CHECK(dot.find("subgraph cluster_" + std::to_string(p.partition_count())) == std::string::npos);
  int edges = 0, inputs = 0;  // edge lines: "  nU -> nV [label=...]" (labels hold " -> " too)
  for (std::size_t i = dot.find("\n  n"); i != std::string::npos; i = dot.find("\n  n", i + 1))
    edges += dot.compare(dot.find_first_not_of("0123456789", i + 4), 4, " -> ") == 0;
  for (int v = 0; v < p.tensor_count(); ++v) inputs += p.node(v).input_count;
  CHECK(edges == inputs);
}

TEST_CASE("pictures: to_dot has a node per tensor, a cluster per partition, copies and hoisting") {
  check_dot(readme);
  check_dot(copied);
  check_dot(trip);
  check_dot(leading);
  check_dot(readme_fused);
  CHECK(to_dot(readme_fused).find("subgraph cluster_fused_") != std::string::npos);
  check_svg(readme_fused);
  const std::string r = to_dot(readme);
  CHECK(r.find(detail::format("n%d -> n%d [label=\"128 KiB\"]", readme.index_of<x>(), readme.index_of<h0>())) != std::string::npos);
  CHECK(r.find(detail::format("n%d -> n%d [label=\"32 MiB\"]", readme.index_of<w0>(), readme.index_of<h0>())) != std::string::npos);
  CHECK(r.find("in place of 'h0'") != std::string::npos);
  const std::string c = to_dot(copied);
  const int copy = copied.copy_of<x>();
  CHECK(c.find(detail::format("n%d [label=\"x.to_symmetric\\ncopy (dma): to_symmetric", copy)) != std::string::npos);
  CHECK(c.find(detail::format("n%d -> n%d", copy, copied.index_of<a1>())) != std::string::npos);
  CHECK(c.find(detail::format("n%d -> n%d", copy, copied.index_of<a2>())) != std::string::npos);
  CHECK(to_dot(trip).find("hoisted to #0") != std::string::npos);
  CHECK(to_dot(trip).find("label=\"fallback region 1\"") != std::string::npos);
  CHECK(to_dot(leading).find("hoisted: at instantiation") != std::string::npos);
}

// A decode step: state tensors in a band of their own under the arena, marked where written.
using decode = test_models::decode_step<f32, 32, 2, 64>;
constexpr auto decode_plan = make_plan<decode::graph>();

TEST_CASE("pictures: state tensors, their writes and their views") {
  check_svg(decode_plan);
  check_dot(decode_plan);
  const std::string svg = to_svg(decode_plan);
  const detail::svg_layout l = detail::layout_svg(decode_plan);
  REQUIRE(l.panels.size() == 1);
  REQUIRE(l.state_bands.size() == 2);  // cache and pos, in no arena panel
  const detail::svg_panel& arena = l.panels[0];
  CHECK(l.state_top >= arena.plot_y + arena.plot_h);
  CHECK(l.state_bands[0].y >= l.state_top);
  CHECK(l.state_bands[0].y + l.state_bands[0].height <= l.state_bands[1].y);  // stacked, apart
  CHECK(l.state_bands[1].y + l.state_bands[1].height <= l.height);
  for (const auto& b : l.state_bands) {
    CHECK(decode_plan.node(b.node).kind == tensor_kind::state);
    CHECK(svg.find("id=\"state-" + std::to_string(b.node) + "\"") != std::string::npos);
    CHECK(b.x == arena.plot_x);
    CHECK(b.width == arena.plot_w);  // across every step: it outlives the run
  }
  int ticks = 0;  // one per write: cache at 'write', pos at 'pos_next'
  for (std::size_t i = svg.find("class=\"state-write\""); i != std::string::npos; i = svg.find("class=\"state-write\"", i + 1)) ++ticks;
  CHECK(ticks == 2);
  CHECK(svg.find("cache: state f32[32,2,64], 16 KiB, written by &apos;write&apos;") != std::string::npos);
  CHECK(svg.find("state (kept across runs, never placed or reused by the planner): 2 tensors") != std::string::npos);
  const std::string dot = to_dot(decode_plan);
  const int cache = decode_plan.index_of<decode::cache>(), write = decode_plan.index_of<decode::write>();
  CHECK(dot.find(detail::format("n%d [label=\"cache\\nstate f32[32,2,64]\\nstate (kept across runs, never reused): 16 KiB\", style=\"filled\", peripheries=2", cache)) != std::string::npos);
  CHECK(dot.find(detail::format("n%d [label=\"write\\ncache_write -> f32[32,2,64]\\nstate: writes 'cache'\"", write)) != std::string::npos);
  CHECK(dot.find(detail::format("n%d -> n%d [label=\"16 KiB\", color=\"%s\", style=bold]", cache, write, detail::state_stroke)) != std::string::npos);
  CHECK(dot.find("state: view of 'cache'") != std::string::npos);  // whole, the cache reshaped
  CHECK(dot.find("2 state tensors kept across runs") != std::string::npos);
  // Without state: no state panel, nothing said of state.
  CHECK(detail::layout_svg(readme).state_bands.empty());
  CHECK(to_svg(readme).find("state") == std::string::npos);
  CHECK(to_dot(readme).find("state") == std::string::npos);
}

TEST_CASE("pictures: rejected plans and byte units") {
  graph_builder<4> b;
  b.input("x", tensor_desc{dtype_id::f32, 1, {4}});
  const owned_plan<4> p = b.build();
  REQUIRE(!p.ok());
  CHECK(xml_error(to_svg(p)) == "");
  CHECK(to_svg(p).find("plan rejected") != std::string::npos);
  CHECK(dot_balanced(to_dot(p)));
  CHECK(to_dot(p).find("plan rejected") != std::string::npos);
  CHECK(detail::human_bytes(0) == "0 B");
  CHECK(detail::human_bytes(1023) == "1023 B");
  CHECK(detail::human_bytes(1536) == "1.5 KiB");
  CHECK(detail::human_bytes(131072) == "128 KiB");
  CHECK(detail::human_bytes(std::size_t(32) << 20) == "32 MiB");
  CHECK(detail::human_bytes(std::size_t(3) << 30) == "3 GiB");
}

}  // namespace pictures_test
