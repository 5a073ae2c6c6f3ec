// expect: ctgraph: this host op reads a node's output \(Other\) that is not in pinned host memory \(or a state tensor
// expect-node: cpu
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
struct noop {
  void operator()(const host_args&) const {}
};
using table = state<"table", f32, shape<16>>;  // on the device: copy it to the host first (ops::to_host)
struct cpu : node<"cpu", ops::host_op<noop>, table> {};
constexpr auto p = make_plan<graph<cpu>>();
int main() {}
