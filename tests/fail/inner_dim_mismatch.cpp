// expect: ctgraph: matmul inner dimensions differ in this node
// expect-node: h0
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", bf16, shape<16, 4096>>;
using w = parameter<"w", bf16, shape<1024, 4096>>;
using h0 = node<"h0", ops::matmul, x, w>;
constexpr auto p = make_plan<graph<h0>>();
int main() {}
