// expect: ctgraph: ops::reshape takes a ctg::shape<...>
// expect-node: flat
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", f32, shape<8, 16>>;
using flat = node<"flat", ops::reshape<x>, x>;  // a tensor where its shape belongs
constexpr auto p = make_plan<graph<flat>>();
int main() {}
