// expect: ctgraph: the input dtypes of this node do not fit its op
// expect-node: prod
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using a = input<"a", f32, shape<8>>;
using b = input<"b", f16, shape<8>>;
using prod = node<"prod", ops::mul, a, b>;
constexpr auto p = make_plan<graph<prod>>();
int main() {}
