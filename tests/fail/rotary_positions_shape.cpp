// expect: ctgraph: the input shapes of this node do not fit its op
// expect-node: rk
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using k = input<"k", bf16, shape<2, 8, 4 * 64>>;  // [B, T, H*D]
using pos = input<"pos", i64, shape<2, 8>>;        // one position per token: [T], shared by the batch
struct rk : node<"rk", ops::rotary<64>, k, pos> {};
constexpr auto p = make_plan<graph<rk>>();
int main() {}
