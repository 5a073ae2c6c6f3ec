// expect: ctgraph: a plan family needs at least one size
#include <ctgraph/ctgraph.hpp>
#include <ctgraph/plan/plan_family.hpp>
using namespace ctg;
template <std::int64_t B>
using model = graph<node<"y", ops::relu, input<"x", f32, shape<B, 64>>>>;
constexpr int n = plan_family<model>::size_count;
int main() {}
