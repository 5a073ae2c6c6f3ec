// expect: ctgraph: ops::scale takes numbers
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", f32, shape<8>>;
struct y : node<"y", ops::scale<shape<8>{}>, x> {};  // a shape where a number belongs
constexpr auto p = make_plan<graph<y>>();
int main() {}
