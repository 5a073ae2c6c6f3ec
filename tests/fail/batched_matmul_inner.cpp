// expect: ctgraph: matmul inner dimensions differ in this node
// expect-node: scores
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using q = input<"q", bf16, shape<12, 64, 32>>;
using k = input<"k", bf16, shape<12, 64, 32>>;
struct scores : node<"scores", ops::batched_matmul<>, q, k> {};  // q k needs batched_matmul<true>
constexpr auto p = make_plan<graph<scores>>();
int main() {}
