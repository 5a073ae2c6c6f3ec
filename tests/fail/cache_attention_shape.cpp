// expect: ctgraph: the input shapes of this node do not fit its op
// expect-node: attn
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using q = input<"q", bf16, shape<1, 32 * 64>>;
using k = state<"k", bf16, shape<64, 4 * 64>>;
using v = state<"v", bf16, shape<64, 8 * 64>>;  // the caches must have one shape: [S, KVHeads * D]
using pos = state<"pos", i32, shape<1>>;
struct attn : node<"attn", ops::cache_attention<32, 4>, q, k, v, pos> {};
constexpr auto p = make_plan<graph<attn>>();
int main() {}
