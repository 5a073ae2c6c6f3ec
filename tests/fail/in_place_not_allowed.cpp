// expect: ctgraph: in-place requested in this node, but its op does not allow it
// expect-node: h
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", f32, shape<8, 8>>;
using w = parameter<"w", f32, shape<8, 8>>;
using h = node<"h", in_place<ops::matmul>, x, w>;
constexpr auto p = make_plan<graph<h>>();
int main() {}
