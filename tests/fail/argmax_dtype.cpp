// expect: ctgraph: the input dtypes of this node do not fit its op
// expect-node: choice
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using ids = input<"ids", i32, shape<4, 100>>;  // argmax reads f32, f16 or bf16 rows
struct choice : node<"choice", ops::argmax, ids> {};
constexpr auto p = make_plan<graph<choice>>();
int main() {}
