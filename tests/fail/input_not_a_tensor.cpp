// expect: ctgraph: an input of this node is not a tensor of the graph
// expect-node: r
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using r = node<"r", ops::relu, float>;
constexpr auto p = make_plan<graph<r>>();
int main() {}
