// expect: ctgraph: shape has too many dimensions
// expect-node: x
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", f32, shape<2, 2, 2, 2, 2, 2, 2>>;
using r = node<"r", ops::relu, x>;
constexpr auto p = make_plan<graph<r>>();
int main() {}
