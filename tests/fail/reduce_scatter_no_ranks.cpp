// expect: ctgraph: ops::reduce_scatter needs at least one rank
// expect-node: rs
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", f32, shape<8, 16>>;
using rs = node<"rs", ops::reduce_scatter<0>, x>;
constexpr auto p = make_plan<graph<rs>>();
int main() {}
