// expect: ctgraph: an output of the graph is not a tensor
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", f32, shape<8>>;
using r = node<"r", ops::relu, x>;
constexpr auto p = make_plan<graph<r, ops::relu>>();  // an op where a node belongs
int main() {}
