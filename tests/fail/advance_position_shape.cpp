// expect: ctgraph: the input shapes of this node do not fit its op
// expect-node: next
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using pos = state<"pos", i32, shape<2>>;  // a position is one element
struct next : node<"next", ops::advance<1>, pos> {};
constexpr auto p = make_plan<graph<next>>();
int main() {}
