// expect: ctgraph: the input shapes of this node do not fit its op
// expect-node: ln
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", bf16, shape<16, 768>>;
using w = parameter<"w", bf16, shape<1024>>;  // not the last dimension of x
struct ln : node<"ln", ops::layer_norm<1e-5f>, x, w> {};
constexpr auto p = make_plan<graph<ln>>();
int main() {}
