// expect: ctgraph: a state tensor's dtype differs between members of this plan family
// expect-node: pos
// The position is an i32 in the small member and an i64 in the large one: one allocation cannot
// be both.
#include <ctgraph/ctgraph.hpp>
#include <ctgraph/plan/plan_family.hpp>
#include <type_traits>
using namespace ctg;
template <std::int64_t B>
struct step {
  using pos = state<"pos", std::conditional_t<(B < 4), i32, i64>, shape<1>>;
  using y = node<"y", ops::relu, input<"x", f32, shape<B, 64>>>;
  using type = graph<y, node<"next", ops::advance<1>, pos, y>>;
};
template <std::int64_t B>
using step_at = typename step<B>::type;
constexpr bool shared = family_shares_state<plan_family<step_at, 2, 4>>;
int main() {}
