// expect: ctgraph: the graph has more tensors than plan within the compilers' default constexpr budgets
// expect: -fconstexpr-ops-limit=[0-9]+ -fconstexpr-loop-limit=[0-9]+
// expect: -Xcudafe --max_cost_constexpr_call=[0-9]+
// The budget is 5463 tensors; this test lowers it so a small graph is over it.
#define CTG_DEFAULT_BUDGET_TENSORS 2
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using a = input<"a", f32, shape<8>>;
using r = node<"r", ops::relu, a>;
using s = node<"s", ops::gelu, r>;
constexpr auto p = make_plan<graph<s>>();
int main() {}
