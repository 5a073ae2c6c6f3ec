// expect: ctgraph: the input shapes of this node do not fit its op
// expect-node: both
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using a = input<"a", f32, shape<8, 16>>;
using b = input<"b", f32, shape<4, 16>>;
struct both : node<"both", ops::cat<1>, a, b> {};  // rows differ; cat<0> would fit
constexpr auto p = make_plan<graph<both>>();
int main() {}
