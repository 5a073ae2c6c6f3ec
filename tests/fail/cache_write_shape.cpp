// expect: ctgraph: the input shapes of this node do not fit its op
// expect-node: upd
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using cache = state<"cache", bf16, shape<16, 8, 64>>;
using pos = state<"pos", i32, shape<1>>;
using row = input<"row", bf16, shape<1, 8, 128>>;  // rows must match the cache in every dimension but Dim
struct upd : node<"upd", ops::cache_write<0>, cache, pos, row> {};
constexpr auto p = make_plan<graph<upd>>();
int main() {}
