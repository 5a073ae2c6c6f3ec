// expect: ctgraph: ops::slice needs 0 <= Begin < End
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", f32, shape<8, 16>>;
struct y : node<"y", ops::slice<1, 4, 4>, x> {};  // empty
constexpr auto p = make_plan<graph<y>>();
int main() {}
