// expect: ctgraph: ops::layer_norm_stats needs a positive epsilon
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", f32, shape<4, 8>>;
using w = parameter<"w", f32, shape<8>>;
struct ln : node<"ln", ops::layer_norm_stats<0.f>, x, w> {};
constexpr auto p = make_plan<graph<ln>>();
int main() {}
