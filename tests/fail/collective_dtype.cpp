// expect: ctgraph: this collective's dtype has no NCCL symmetric kernel
// expect-node: ar
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", i32, shape<1024>>;
using ar = node<"ar", ops::all_reduce, x>;
constexpr auto p = make_plan<graph<ar>>();
int main() {}
