// expect: ctgraph: ops::split needs at least two sizes
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", f32, shape<8, 16>>;
struct y : node<"y", ops::split<1, 16>, x> {};  // one part: the input itself
constexpr auto p = make_plan<graph<y>>();
int main() {}
