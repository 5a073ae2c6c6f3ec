// expect: ctgraph: this host op reads a node's output \(Other\) that is not in pinned host memory
// expect-node: cpu
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
struct fn {
  void operator()(const host_args&) const {}
};
using x = input<"x", f32, shape<8>>;
using r = node<"r", ops::relu, x>;
using cpu = node<"cpu", ops::host_op<fn>, r>;  // r is in device memory: insert ops::to_host
constexpr auto p = make_plan<graph<cpu>>();
int main() {}
