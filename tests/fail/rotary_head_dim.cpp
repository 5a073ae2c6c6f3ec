// expect: ctgraph: ops::rotary needs a positive, even head dimension
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using q = input<"q", bf16, shape<8, 4 * 63>>;
using pos = input<"pos", i32, shape<8>>;
struct rq : node<"rq", ops::rotary<63>, q, pos> {};  // odd: no halves to pair
constexpr auto p = make_plan<graph<rq>>();
int main() {}
