// 06_pictures: draws two plans. For the 8-layer MLP of 02_mlp and the device-copy round trip of
// 03_round_trip it writes the graph as Graphviz DOT (to_dot: partitions as clusters, hoisted and
// inserted buffers marked, bytes on the edges) and the memory plan as SVG (to_svg: one panel per
// arena, buffers over their lifetimes against the lower bound), into the directory given as the
// first argument or the current one, and prints the file names. Host-only. It checks itself:
// each plan must pass check_plan, and each file must be written and read back intact.
#include <ctgraph/ctgraph.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace mlp {
using namespace ctg;
constexpr std::int64_t tokens = 16, hidden = 4096, layers = 8;
using x = input<"x", bf16, shape<tokens, hidden>>;

template <class X, std::size_t I>
struct layer : node<indexed<"y", I>, ops::relu,
                    node<indexed<"h", I>, ops::matmul, X, parameter<indexed<"w", I>, bf16, shape<hidden, hidden>>>> {};
constexpr auto plan = make_plan<graph<repeat<layers, layer, x>>>();
static_assert(plan.partition_count() == 1 && plan.arena_bytes(memory_class::device) == 2 * tokens * hidden * 2);
}  // namespace mlp

namespace trip {
using namespace ctg;
constexpr std::int64_t m = 16, k = 1024;

struct square_on_host {
  void operator()(const host_args& a) const {
    for (std::int64_t i = 0; i < a.output_desc.elements(); ++i) a.out<float>()[i] = a.input<float>(0)[i] * a.input<float>(0)[i];
  }
};
using x = input<"x", f32, shape<m, k>>;
using w = parameter<"w", f32, shape<k, k>>;
struct h : node<"h", ops::matmul, x, w> {};
struct on_host : node<"on_host", ops::to_host, h> {};
struct squared : node<"squared", ops::host_op<square_on_host>, on_host> {};
struct back : node<"back", ops::to_device, squared> {};
struct y : node<"y", ops::matmul, back, w> {};
constexpr auto plan = make_plan<graph<y>>();
static_assert(plan.partition_count() == 3 && plan.buffer_of<squared>().hoisted_to == 0);
}  // namespace trip

namespace {
//! Writes a file and reads it back: a full disk or a missing directory is a failure, not a
//! silently short picture.
bool write(const std::filesystem::path& path, const std::string& text) {
  {
    std::ofstream out(path, std::ios::binary);
    out << text;
    if (!out.flush()) return false;
  }
  std::ifstream in(path, std::ios::binary);
  std::string back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return back == text;
}

template <std::size_t N>
bool draw(const std::filesystem::path& dir, const char* stem, const ctg::plan<N>& p) {
  if (auto v = ctg::check_plan(p)) {
    std::printf("%s: unsound plan: %.*s\n", stem, int(v.what().size()), v.what().data());
    return false;
  }
  bool ok = true;
  for (auto [ext, text] : {std::pair{".dot", ctg::to_dot(p)}, std::pair{".svg", ctg::to_svg(p)}}) {
    const auto path = dir / (std::string(stem) + ext);
    const bool written = write(path, text);
    std::printf("%s %s\n", written ? "wrote" : "could not write", path.string().c_str());
    ok = ok && written;
  }
  return ok;
}
}  // namespace

int main(int argc, char** argv) {
  const std::filesystem::path dir = argc > 1 ? argv[1] : ".";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  bool ok = draw(dir, "mlp", mlp::plan);
  ok = draw(dir, "round_trip", trip::plan) && ok;
  if (ok) std::printf("render with: dot -Tsvg mlp.dot -o mlp_graph.svg; open the .svg files in a browser\n");
  return ok ? 0 : 1;
}
