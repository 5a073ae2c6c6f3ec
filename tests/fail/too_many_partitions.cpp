// expect: ctgraph: this node starts a partition past ctg::max_partitions
// expect-node: h2d
#define CTG_MAX_PARTITIONS 2
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
struct fn {
  void operator()(const host_args&) const {}
};
using x = input<"x", f32, shape<8>>;
using d2h = node<"d2h", ops::to_host, x>;                 // capturable: partition 0
using cpu = node<"cpu", ops::host_op<fn>, d2h>;           // a fallback region: partition 1
using h2d = node<"h2d", ops::to_device, cpu>;             // capturable again: a third partition
constexpr auto p = make_plan<graph<h2d>>();
int main() {}
