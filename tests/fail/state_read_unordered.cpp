// expect: ctgraph: this node writes state that a node \(Other\) also reads or writes without running before it
// expect-node: next
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using cache = state<"cache", bf16, shape<16, 64>>;
using pos = state<"pos", i32, shape<1>>;
using row = input<"row", bf16, shape<1, 64>>;
struct upd : node<"upd", ops::cache_write<0>, cache, pos, row> {};
struct seen : node<"seen", ops::relu, upd> {};
struct next : node<"next", ops::advance<1>, pos> {};  // moves the position upd reads: wait for it (advance<1>, pos, seen)
constexpr auto p = make_plan<graph<seen, next>>();
int main() {}
