// expect: ctgraph: input 1 of this elementwise node is larger than input 0
// expect-node: biased
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", f32, shape<16, 64>>;
using bias = parameter<"bias", f32, shape<64>>;
struct biased : node<"biased", ops::add, bias, x> {};  // the output takes input 0's shape: swap them
constexpr auto p = make_plan<graph<biased>>();
int main() {}
