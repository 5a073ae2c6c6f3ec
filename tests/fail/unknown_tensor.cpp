// expect: ctgraph: this node uses a tensor that is not in the graph
// expect-node: skip
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using a = input<"a", f32, shape<8>>;
using r = node<"r", ops::relu, a>;
using skip = node<"skip", ops::add, r, ref<"rr">>;
constexpr auto p = make_plan<graph<skip>>();
int main() {}
