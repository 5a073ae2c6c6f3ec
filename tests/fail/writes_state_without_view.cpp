// expect: ctgraph: the op of this node sets op_traits::writes_state but not op_traits::view
// expect-node: bump
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
struct bump_op {  // writes into its input's storage, but would get a buffer of its own
  static constexpr std::string_view name = "bump";
  static constexpr op_traits traits{.writes_state = true};
  static constexpr output_result output(std::span<const tensor_desc> in) { return {in[0]}; }
};
using counter = state<"counter", i32, shape<1>>;
struct bump : node<"bump", bump_op, counter> {};
constexpr auto p = make_plan<graph<bump>>();
int main() {}
