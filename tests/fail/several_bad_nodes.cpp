// Three bad nodes, three errors, each naming its node; the plan made is refused by any query.
// expect: ctgraph: input 1 of this elementwise node does not broadcast to input 0's shape
// expect: ctgraph: matmul inner dimensions differ in this node
// expect: ctgraph: the input dtypes of this node do not fit its op
// expect-node: bad_add
// expect-node: bad_matmul
// expect-node: bad_mul
// expect-count: 3
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", f32, shape<8, 8>>;
using y = input<"y", f32, shape<4, 4>>;
using z = input<"z", f16, shape<8, 8>>;
using bad_add = node<"bad_add", ops::add, x, y>;
using bad_matmul = node<"bad_matmul", ops::matmul, x, node<"t", ops::relu, y>>;
using bad_mul = node<"bad_mul", ops::mul, x, z>;
using fine = node<"fine", ops::relu, x>;
constexpr auto p = make_plan<graph<bad_add, bad_matmul, bad_mul, fine>>();
int main() {}
