// expect: ctgraph: the input shapes of this node do not fit its op
// expect-node: scores
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using q = input<"q", bf16, shape<12, 64, 32>>;
using k = input<"k", bf16, shape<4, 64, 32>>;
struct scores : node<"scores", ops::batched_matmul<true>, q, k> {};  // batches differ
constexpr auto p = make_plan<graph<scores>>();
int main() {}
