// expect: ctgraph: the dtype of a graph input or parameter is not a dtype
// expect-node: x
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", float, shape<8>>;  // the C++ type, not the dtype ctg::f32
using r = node<"r", ops::relu, x>;
constexpr auto p = make_plan<graph<r>>();
int main() {}
