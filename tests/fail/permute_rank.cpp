// expect: ctgraph: the input shapes of this node do not fit its op
// expect-node: heads
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", bf16, shape<2, 3, 4>>;
struct heads : node<"heads", ops::permute<1, 0, 2, 3>, x> {};  // rank 4 for a rank-3 tensor
constexpr auto p = make_plan<graph<heads>>();
int main() {}
