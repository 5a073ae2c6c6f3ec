// expect: ctgraph: ops::batch_norm needs a positive epsilon
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", f32, shape<4, 8>>;
using c = parameter<"c", f32, shape<8>>;
struct bn : node<"bn", ops::batch_norm<0.f>, x, c, c, c, c> {};
constexpr auto p = make_plan<graph<bn>>();
int main() {}
