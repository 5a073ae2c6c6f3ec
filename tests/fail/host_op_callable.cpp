// expect: ctgraph: the callable of ops::host_op<Fn> cannot be called with the host buffers
// expect-node: cpu
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
struct no_args {
  void operator()() const {}
};
using x = input<"x", f32, shape<8>>;
using d2h = node<"d2h", ops::to_host, x>;
using cpu = node<"cpu", ops::host_op<no_args>, d2h>;
constexpr auto p = make_plan<graph<cpu>>();
int main() {}
