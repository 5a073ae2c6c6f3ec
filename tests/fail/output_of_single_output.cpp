// expect: ctgraph: ctg::output<Name, Node, K> names an output of a node whose op has several outputs
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", f32, shape<4, 8>>;
struct h : node<"h", ops::relu, x> {};
struct h1 : output<"h1", h, 1> {};  // relu has one output
constexpr auto p = make_plan<graph<h1>>();
int main() {}
