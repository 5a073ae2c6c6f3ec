// expect: ctgraph: ops::rms_norm needs a positive epsilon
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", f32, shape<4, 8>>;
using w = parameter<"w", f32, shape<8>>;
struct r : node<"r", ops::rms_norm<-1e-6f>, x, w> {};
constexpr auto p = make_plan<graph<r>>();
int main() {}
