// expect: ctgraph: the input shapes of this node do not fit its op
// expect-node: kt
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using k = input<"k", bf16, shape<64, 128>>;
struct kt : node<"kt", ops::transpose<-3, -1>, k> {};  // a rank-2 tensor has no dimension -3
constexpr auto p = make_plan<graph<kt>>();
int main() {}
