// expect: ctgraph: the input dtypes of this node do not fit its op
// expect-node: probs
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", i32, shape<4, 8>>;  // softmax takes floating dtypes
struct probs : node<"probs", ops::softmax, x> {};
constexpr auto p = make_plan<graph<probs>>();
int main() {}
