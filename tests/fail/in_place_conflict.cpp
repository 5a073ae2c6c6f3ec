// expect: ctgraph: in-place requested in this node, but its first input \(Other\) is read later
// expect-node: s
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", f32, shape<8>>;
using r = node<"r", ops::relu, x>;
using s = node<"s", in_place<ops::gelu>, r>;
using t = node<"t", ops::add, s, r>;
constexpr auto p = make_plan<graph<t>>();
int main() {}
