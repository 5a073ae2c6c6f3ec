// expect: ctgraph: two different tensors share the name of this node
// expect-node: h
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
static constexpr auto v = [] {
  graph_value<8> g;
  const int x = g.input("x", tensor_of(dtype_id::f32, {8}));
  const int h = g.add<ops::relu>("h", {x});
  g.output(g.add<ops::relu>("h", {h}));  // a second tensor named "h"
  return g;
}();
constexpr auto p = make_plan<v>();
int main() {}
