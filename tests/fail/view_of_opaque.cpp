// expect: ctgraph: this node is a view of an opaque op's output
// expect-node: flat
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
struct opaque_relu : ops::relu {
  static constexpr op_traits traits{.result = op_result::opaque};
};
using x = input<"x", f32, shape<8, 8>>;
using o = node<"o", opaque_relu, x>;
using flat = node<"flat", ops::reshape<shape<64>>, o>;
constexpr auto p = make_plan<graph<flat>>();
int main() {}
