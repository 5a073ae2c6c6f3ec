// expect: ctgraph: the graph_value has no output
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
static constexpr auto v = [] {
  graph_value<8> g;
  const int x = g.input("x", tensor_of(dtype_id::f32, {8}));
  g.add<ops::relu>("y", {x});  // never marked: g.output(...)
  return g;
}();
constexpr auto p = make_plan<v>();
int main() {}
