// expect: ctgraph: the input shapes of this node do not fit its op
// expect-node: attn
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using qkv = input<"qkv", bf16, shape<512, 3 * 12 * 48>>;  // head dimension 48: attention takes 64 or 128
struct attn : node<"attn", ops::attention<12>, qkv> {};
constexpr auto p = make_plan<graph<attn>>();
int main() {}
