// requires: cuda
// expect: ctgraph: the op of this node has no launch hook, so the runtime cannot run it
// An op can be planned without a launch hook; instantiating an executor for it cannot.
#include <ctgraph/runtime.hpp>
using namespace ctg;
struct plan_only {
  static constexpr std::string_view name = "plan_only";
  static constexpr op_traits traits{};
  static constexpr output_result output(std::span<const tensor_desc> in) { return {in[0]}; }
};
using x = input<"x", f32, shape<1024>>;
struct h : node<"h", plan_only, x> {};
static_assert(make_plan<graph<h>>().ok());
void run(float* dx) { auto ex = instantiate<graph<h>>(nullptr, {bind("x", dx, 1024)}); }
int main() {}
