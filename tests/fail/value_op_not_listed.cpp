// expect: ctgraph: graph_value::add<Op>: Op is not in the graph_value's op list
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
inline constexpr auto v = [] {
  graph_value<8, op_list<ops::relu>> g;
  const int x = g.input("x", tensor_of(dtype_id::f32, {8}));
  g.output(g.add<ops::gelu>("h", {x}));  // gelu is not listed
  return g;
}();
int main() {}
