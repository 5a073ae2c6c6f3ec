// expect: ctgraph: ops::cache_attention needs Heads to be a positive multiple of KVHeads
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using q = input<"q", bf16, shape<1, 12 * 64>>;
using cache = state<"cache", bf16, shape<64, 5 * 64>>;
using pos = state<"pos", i32, shape<1>>;
struct attn : node<"attn", ops::cache_attention<12, 5>, q, cache, cache, pos> {};
constexpr auto p = make_plan<graph<attn>>();
int main() {}
