// expect: ctgraph: the graph_value has more tensors or name characters than its capacity
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
// Room for two tensors, and three are added.
static constexpr auto v = [] {
  graph_value<2> g;
  const int x = g.input("x", tensor_of(dtype_id::f32, {8}));
  const int y = g.add<ops::relu>("y", {x});
  g.output(g.add<ops::relu>("z", {y}));
  return g;
}();
constexpr auto p = make_plan<v>();
int main() {}
