// requires: cuda
// expect: ctgraph: a member of this plan family was rejected
// expect: ctgraph: reshape changes the number of elements
// expect-count: 2
// Size 3 does not divide into the reshape, so that member's graph is rejected (its own error is
// reported too), and the family cannot be instantiated.
#include <ctgraph/runtime.hpp>
using namespace ctg;
template <std::int64_t B>
using model = graph<node<"y", ops::reshape<shape<2, 64>>, input<"x", f32, shape<B, 64>>>>;
using family = plan_family<model, 2, 3>;
void run(float* x) { auto ex = instantiate_family<family>(nullptr, {bind("x", x, 3 * 64)}); }
int main() {}
