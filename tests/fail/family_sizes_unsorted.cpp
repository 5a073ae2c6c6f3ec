// expect: ctgraph: the sizes of a plan family must be positive and ascending
// A plan family's sizes are listed once each, smallest first.
#include <ctgraph/ctgraph.hpp>
#include <ctgraph/plan/plan_family.hpp>
using namespace ctg;
template <std::int64_t B>
using model = graph<node<"y", ops::relu, input<"x", f32, shape<B, 64>>>>;
constexpr auto bytes = plan_family<model, 4, 2, 8>::arena_bytes(memory_class::device);
int main() {}
