// requires: cuda
// expect: ctgraph: this graph_value lists no ops, so the executor has no launch hooks to run it
#include <ctgraph/runtime.hpp>
using namespace ctg;
inline constexpr auto v = [] {
  graph_value<8> g;  // no op list: plans, does not run
  const int x = g.input("x", tensor_of(dtype_id::f32, {8}));
  g.output(g.add<ops::relu>("h", {x}));
  return g;
}();
void run(float* dx) { auto ex = instantiate<v>(nullptr, {bind("x", dx, 8)}); }
int main() {}
