// expect: ctgraph: ops::cache_write needs an Offset >= 0
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using cache = state<"cache", i32, shape<16>>;
using pos = state<"pos", i32, shape<1>>;
using row = input<"row", i32, shape<1>>;
struct upd : node<"upd", ops::cache_write<0, -1>, cache, pos, row> {};
constexpr auto p = make_plan<graph<upd>>();
int main() {}
