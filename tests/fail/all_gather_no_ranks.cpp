// expect: ctgraph: ops::all_gather needs at least one rank
// expect-node: ag
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", f32, shape<8, 16>>;
using ag = node<"ag", ops::all_gather<0>, x>;
constexpr auto p = make_plan<graph<ag>>();
int main() {}
