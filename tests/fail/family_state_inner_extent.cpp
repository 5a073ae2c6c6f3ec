// expect: ctgraph: a state tensor's shape differs between members of this plan family in a dimension that is not its outermost
// expect-node: cache
// A KV cache [length, batch, width] over a batch family: a smaller member's cache is not the
// leading rows of the largest one's, so the members cannot share it. [batch, length, width] can.
#include <ctgraph/ctgraph.hpp>
#include <ctgraph/plan/plan_family.hpp>
using namespace ctg;
template <std::int64_t B>
struct step {
  using cache = state<"cache", f32, shape<8, B, 64>>;
  using pos = state<"pos", i32, shape<1>>;
  struct write : node<"write", ops::cache_write<0>, cache, pos, input<"x", f32, shape<1, B, 64>>> {};
  using type = graph<node<"next", ops::advance<1>, pos, write>>;
};
template <std::int64_t B>
using step_at = typename step<B>::type;
constexpr bool shared = family_shares_state<plan_family<step_at, 2, 4>>;
int main() {}
