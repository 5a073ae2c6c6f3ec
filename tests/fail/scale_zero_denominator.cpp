// expect: ctgraph: ops::scale has a zero denominator
// expect-node: half
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", f32, shape<8>>;
using half = node<"half", ops::scale<1, 0>, x>;
constexpr auto p = make_plan<graph<half>>();
int main() {}
