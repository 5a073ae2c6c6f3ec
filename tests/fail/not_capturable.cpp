// expect: ctgraph: this node cannot be captured, but the graph was planned as one capturable partition
// expect-node: cpu
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
struct fn {
  void operator()(const host_args&) const {}
};
using x = input<"x", f32, shape<8>>;
using d2h = node<"d2h", ops::to_host, x>;
using cpu = node<"cpu", ops::host_op<fn>, d2h>;
using h2d = node<"h2d", ops::to_device, cpu>;
constexpr auto p = make_plan<graph<h2d>, plan_options{.one_partition = true}>();
int main() {}
