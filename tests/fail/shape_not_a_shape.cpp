// expect: ctgraph: the shape of a graph input or parameter is not a ctg::shape<...>
// expect-node: x
#include <ctgraph/ctgraph.hpp>
#include <array>
using namespace ctg;
using x = input<"x", f32, std::array<int, 8>>;
using r = node<"r", ops::relu, x>;
constexpr auto p = make_plan<graph<r>>();
int main() {}
