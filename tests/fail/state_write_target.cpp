// expect: ctgraph: this node writes state, but its input 0 \(Other\) is not a state tensor
// expect-node: upd
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using cache = input<"cache", bf16, shape<16, 64>>;  // a graph input, not ctg::state: nothing keeps it across runs
using pos = state<"pos", i32, shape<1>>;
using row = input<"row", bf16, shape<1, 64>>;
struct upd : node<"upd", ops::cache_write<0>, cache, pos, row> {};
constexpr auto p = make_plan<graph<upd>>();
int main() {}
