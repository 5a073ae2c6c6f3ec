// expect: ctgraph: ops::permute needs a permutation of 0 .. rank-1
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", bf16, shape<2, 3, 4>>;
struct y : node<"y", ops::permute<0, 2, 2>, x> {};
constexpr auto p = make_plan<graph<y>>();
int main() {}
