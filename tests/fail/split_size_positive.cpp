// expect: ctgraph: ops::split's sizes must be positive
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", f32, shape<8, 16>>;
struct y : node<"y", ops::split<1, 16, 0>, x> {};
constexpr auto p = make_plan<graph<y>>();
int main() {}
