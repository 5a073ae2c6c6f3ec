// expect: ctgraph: the input shapes of this node do not fit its op
// expect-node: proj
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using a = input<"a", f32, shape<64>>;  // matmul takes rank-2 tensors: reshape to [1, 64] first
using w = parameter<"w", f32, shape<64, 32>>;
using proj = node<"proj", ops::matmul, a, w>;
constexpr auto p = make_plan<graph<proj>>();
int main() {}
