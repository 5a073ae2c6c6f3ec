// expect: ctgraph: two different tensors share the name of this node
// expect-node: h
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using a = input<"a", f32, shape<8>>;
using h1 = node<"h", ops::relu, a>;
using h2 = node<"h", ops::gelu, a>;
using s = node<"s", ops::add, h1, h2>;
constexpr auto p = make_plan<graph<s>>();
int main() {}
