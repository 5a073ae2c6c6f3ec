// expect: ctgraph: a graph_value's second argument lists its ops
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
inline constexpr auto v = [] {
  graph_value<8, ops::relu> g;  // an op, not an op_list
  g.output(g.input("x", tensor_of(dtype_id::f32, {8})));
  return g;
}();
int main() {}
