// expect: ctgraph: input 1 of this elementwise node does not broadcast to input 0's shape
// expect-node: scaled
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", f32, shape<16, 64>>;
using row_scale = input<"row_scale", f32, shape<16, 1>>;  // broadcasts inside, not over leading dimensions
struct scaled : node<"scaled", ops::mul, x, row_scale> {};
constexpr auto p = make_plan<graph<scaled>>();
int main() {}
