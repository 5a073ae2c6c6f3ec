// expect: ctgraph: the input dtypes of this node do not fit its op
// expect-node: upd
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using cache = state<"cache", bf16, shape<16, 64>>;
using row = input<"row", f32, shape<1, 64>>;  // rows have the cache's dtype (there is no cast op)
using pos = state<"pos", i32, shape<1>>;
struct upd : node<"upd", ops::cache_write<0>, cache, pos, row> {};
constexpr auto p = make_plan<graph<upd>>();
int main() {}
