// expect: ctgraph: a state tensor is in some members of this plan family and not in others
// expect-node: seen
// Only the members of size 4 and more keep a count of what they saw: the members share each
// state tensor, so every member must have the same ones.
#include <ctgraph/ctgraph.hpp>
#include <ctgraph/plan/plan_family.hpp>
using namespace ctg;
template <std::int64_t B>
struct step {
  using pos = state<"pos", i32, shape<1>>;
  using y = node<"y", ops::relu, input<"x", f32, shape<B, 64>>>;
  using type = graph<y, node<"next", ops::advance<1>, pos, y>>;
};
template <std::int64_t B>
struct counted {
  using seen = state<"seen", i32, shape<1>>;
  using type = graph<typename step<B>::y, node<"next", ops::advance<1>, typename step<B>::pos, typename step<B>::y>,
                     node<"counted", ops::advance<B>, seen, typename step<B>::y>>;
};
template <std::int64_t B>
using step_at = std::conditional_t<(B < 4), typename step<B>::type, typename counted<B>::type>;
constexpr bool shared = family_shares_state<plan_family<step_at, 2, 4>>;
int main() {}
