// expect: ctgraph: a state tensor of a smaller member of this plan family is larger than the largest member's
// expect-node: cache
// The cache shrinks as the batch grows (32 / B sequences): the family allocates each state at its
// largest member's extents, so a smaller member's would not fit.
#include <ctgraph/ctgraph.hpp>
#include <ctgraph/plan/plan_family.hpp>
using namespace ctg;
template <std::int64_t B>
struct step {
  using cache = state<"cache", f32, shape<32 / B, 8, 64>>;
  using pos = state<"pos", i32, shape<1>>;
  struct write : node<"write", ops::cache_write<1>, cache, pos, input<"x", f32, shape<32 / B, 1, 64>>> {};
  using type = graph<node<"next", ops::advance<1>, pos, write>>;
};
template <std::int64_t B>
using step_at = typename step<B>::type;
constexpr bool shared = family_shares_state<plan_family<step_at, 2, 4>>;
int main() {}
