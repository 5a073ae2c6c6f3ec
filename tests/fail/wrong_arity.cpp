// expect: ctgraph: this node gives its op the wrong number of inputs
// expect-node: r
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using a = input<"a", f32, shape<8>>;
using r = node<"r", ops::relu, a, a>;
constexpr auto p = make_plan<graph<r>>();
int main() {}
