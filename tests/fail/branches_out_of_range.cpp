// expect: ctgraph: plan_options::branches is out of range
// A partition's CUDA graph runs 1 to ctg::max_branches parallel branches.
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", f32, shape<64>>;
struct y : node<"y", ops::relu, x> {};
constexpr auto p = make_plan<graph<y>, plan_options{.branches = 0}>();
int main() {}
