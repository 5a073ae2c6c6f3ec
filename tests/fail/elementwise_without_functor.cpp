// requires: cuda
// expect: ctgraph: this op sets op_traits::elementwise, so the plan fuses it, but it gives no functor
// An op that says it is elementwise is fused with its neighbours, which needs its functor.
#include <ctgraph/runtime.hpp>
using namespace ctg;
struct twice {
  static constexpr std::string_view name = "twice";
  static constexpr op_traits traits{.elementwise = true};
  static constexpr output_result output(std::span<const tensor_desc> in) { return {in[0]}; }
  static void launch(const launch_context&) {}
};
using x = input<"x", f32, shape<1024>>;
struct a : node<"a", twice, x> {};
struct b : node<"b", ops::relu, a> {};
static_assert(make_plan<graph<b>>().fused_group_count() == 1);
void run(float* dx) { auto ex = instantiate<graph<b>>(nullptr, {bind("x", dx, 1024)}); }
int main() {}
