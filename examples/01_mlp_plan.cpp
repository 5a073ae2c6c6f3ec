// 01_mlp_plan: the 8-layer MLP of the README (16 tokens, hidden 4096, bf16) planned at compile
// time. It shows repeat<> for layers, the plan's static_asserts, and the text dump; it checks
// itself with check_plan and exits non-zero if the plan is unsound. (Executing the plan on a GPU
// comes with the runtime.)
#include <ctgraph/ctgraph.hpp>

#include <iostream>

namespace mlp {
using namespace ctg;

constexpr std::int64_t tokens = 16, hidden = 4096;
using x = input<"x", bf16, shape<tokens, hidden>>;

// One layer: y_I = relu(matmul(X, w_I)). A struct, so type names stay one level per layer.
template <class X, std::size_t I>
struct layer : node<indexed<"y", I>, ops::relu,
                    node<indexed<"h", I>, ops::matmul, X, parameter<indexed<"w", I>, bf16, shape<hidden, hidden>>>> {};

using model = graph<repeat<8, layer, x>>;
constexpr auto plan = make_plan<model>();

static_assert(plan.partition_count() == 1);                 // one CUDA graph
static_assert(plan.step_count() == 16);
static_assert(plan.arena_bytes(memory_class::device) == plan.lower_bound(memory_class::device));
static_assert(plan.arena_bytes(memory_class::device) == 2 * tokens * hidden * 2);  // two activations
static_assert(plan.buffer_count() == 16 && plan.reuse_count() == 14);
}  // namespace mlp

int main() {
  std::cout << mlp::plan;
  if (auto v = ctg::check_plan(mlp::plan)) {
    std::cerr << "unsound plan: " << v.what << "\n";
    return 1;
  }
  std::cout << "plan checked: sound\n";
}
