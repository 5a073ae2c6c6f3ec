// expect: ctgraph: the graph has no node to run
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using a = input<"a", f32, shape<8>>;
constexpr auto p = make_plan<graph<a>>();
int main() {}
