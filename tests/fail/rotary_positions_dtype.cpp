// expect: ctgraph: the input dtypes of this node do not fit its op
// expect-node: rq
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using q = input<"q", bf16, shape<8, 4 * 64>>;
using pos = input<"pos", f32, shape<8>>;  // positions are i32 or i64
struct rq : node<"rq", ops::rotary<64>, q, pos> {};
constexpr auto p = make_plan<graph<rq>>();
int main() {}
