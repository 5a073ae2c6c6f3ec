// expect: ctgraph: the input shapes of this node do not fit its op
// expect-node: q
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using qkv = input<"qkv", bf16, shape<8, 3 * 64>>;
struct q : node<"q", ops::slice<-1, 128, 256>, qkv> {};  // past the last column
constexpr auto p = make_plan<graph<q>>();
int main() {}
