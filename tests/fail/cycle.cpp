// expect: ctgraph: this node is on a cycle closed by ctg::ref<>
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using a = input<"a", f32, shape<8>>;
using r = node<"r", ops::add, a, ref<"s">>;
using s = node<"s", ops::relu, r>;
constexpr auto p = make_plan<graph<s>>();
int main() {}
