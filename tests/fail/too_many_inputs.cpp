// expect: ctgraph: too many inputs in this node
// expect-node: sum
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", f32, shape<8>>;
using sum = node<"sum", ops::add, x, x, x, x, x, x, x, x, x>;  // 9 inputs
constexpr auto p = make_plan<graph<sum>>();
int main() {}
