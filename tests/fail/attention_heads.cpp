// expect: ctgraph: ops::attention needs Heads to be a positive multiple of KVHeads
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using q = input<"q", bf16, shape<16, 12 * 64>>;
using kv = input<"kv", bf16, shape<16, 5 * 64>>;
struct attn : node<"attn", ops::attention<12, 5>, q, kv, kv> {};
constexpr auto p = make_plan<graph<attn>>();
int main() {}
