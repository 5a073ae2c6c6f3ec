// expect: ctgraph: the input shapes of this node do not fit its op
// expect-node: sum
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using a = input<"a", f32, shape<16, 32>>;
using b = input<"b", f32, shape<16, 64>>;
using sum = node<"sum", ops::add, a, b>;
constexpr auto p = make_plan<graph<sum>>();
int main() {}
