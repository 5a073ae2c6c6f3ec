// expect: ctgraph: the input shapes of this node do not fit its op
// expect-node: parts
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", f32, shape<8, 16>>;
struct parts : node<"parts", ops::split<1, 8, 4>, x> {};  // 12 of 16 columns
struct rest : output<"rest", parts, 1> {};
constexpr auto p = make_plan<graph<parts, rest>>();
int main() {}
