// expect: ctgraph: the input dtypes of this node do not fit its op
// expect-node: upd
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using cache = state<"cache", bf16, shape<16, 64>>;
using row = input<"row", bf16, shape<1, 64>>;
using pos = state<"pos", f32, shape<1>>;  // a position is i32 or i64
struct upd : node<"upd", ops::cache_write<0>, cache, pos, row> {};
constexpr auto p = make_plan<graph<upd>>();
int main() {}
