// expect: ctgraph: shape has a dimension that is not positive
// expect-node: x
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", f32, shape<16, 0>>;
using r = node<"r", ops::relu, x>;
constexpr auto p = make_plan<graph<r>>();
int main() {}
