// expect: ctgraph: reshape changes the number of elements in this node
// expect-node: flat
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using a = input<"a", f32, shape<8, 8>>;
using flat = node<"flat", ops::reshape<shape<60>>, a>;
using r = node<"r", ops::relu, flat>;
constexpr auto p = make_plan<graph<r>>();
int main() {}
