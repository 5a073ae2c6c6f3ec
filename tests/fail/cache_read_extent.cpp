// expect: ctgraph: ops::cache_read needs Extent > 0 and Offset >= 0
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using tokens = state<"tokens", i32, shape<16>>;
using pos = state<"pos", i32, shape<1>>;
struct token : node<"token", ops::cache_read<0, 0>, tokens, pos> {};
constexpr auto p = make_plan<graph<token>>();
int main() {}
