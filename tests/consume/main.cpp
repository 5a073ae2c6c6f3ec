// A tiny consumer: plans a graph and checks the plan.
#include <ctgraph/ctgraph.hpp>

namespace consumer {
using namespace ctg;
using x = input<"x", f16, shape<8, 64>>;
using w = parameter<"w", f16, shape<64, 64>>;
using h = node<"h", ops::matmul, x, w>;
using g = node<"g", ops::gelu, h>;
constexpr auto p = make_plan<graph<g>>();
static_assert(p.partition_count() == 1 && p.arena_bytes(memory_class::device) == 8 * 64 * 2);
}  // namespace consumer

int main() { return check_plan(consumer::p) ? 1 : 0; }
