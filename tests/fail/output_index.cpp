// expect: ctgraph: ctg::output<Name, Node, K> needs 0 < K < the op's number of outputs
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", f32, shape<4, 8>>;
using w = parameter<"w", f32, shape<8>>;
struct ln : node<"ln", ops::layer_norm_stats<1e-5f>, x, w> {};
struct bad : output<"bad", ln, 3> {};  // outputs 0, 1, 2
constexpr auto p = make_plan<graph<bad>>();
int main() {}
