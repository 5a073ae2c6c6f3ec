// expect: ctgraph: ops::rotary needs a positive theta
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using q = input<"q", bf16, shape<8, 4 * 64>>;
using pos = input<"pos", i32, shape<8>>;
struct rq : node<"rq", ops::rotary<64, 0.f>, q, pos> {};
constexpr auto p = make_plan<graph<rq>>();
int main() {}
