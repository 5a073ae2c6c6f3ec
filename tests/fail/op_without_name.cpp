// expect: ctgraph: the op of this node has no name
// expect-node: bad
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
struct my_op {
  static constexpr op_traits traits{};
  static constexpr output_result output(std::span<const tensor_desc> in) { return {in[0]}; }
};
using a = input<"a", f32, shape<8>>;
using bad = node<"bad", my_op, a>;
constexpr auto p = make_plan<graph<bad>>();
int main() {}
