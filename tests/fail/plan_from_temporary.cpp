// expect: ctgraph: a plan refers to the graph and memory layout it was made from
// A plan made from a builder's temporary result would refer to a graph gone at the semicolon.
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
void plan_it() {
  graph_builder<8> b;
  const int x = b.input("x", tensor_desc{dtype_id::f32, 1, {64}});
  b.output(b.add<ops::relu>("r", {x}));
  const plan<8> p = b.build();  // keep the owned_plan: auto p = b.build();
  (void)p;
}
int main() {}
