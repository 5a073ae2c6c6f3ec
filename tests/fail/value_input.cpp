// expect: ctgraph: an input of this node is not a tensor of the graph_value added before it
// expect-node: y
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
// y reads tensor 1, which does not exist when y is added (x is tensor 0).
static constexpr auto v = [] {
  graph_value<8> g;
  const int x = g.input("x", tensor_of(dtype_id::f32, {8}));
  g.output(g.add<ops::relu>("y", {x + 1}));
  return g;
}();
constexpr auto p = make_plan<v>();
int main() {}
