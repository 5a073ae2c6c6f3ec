// The hooks the executor runs each node with, without a GPU: a graph_value that lists its ops gets,
// node for node, the hooks its graph of types gets (the same planned op or fused program, the same
// groups), for a decode layer with every fusion the plan makes and for the 8-layer MLP in fast
// math. The GPU half (both run, same bits) is in executor.cu.
#include <ctgraph/runtime.hpp>

#include <doctest/doctest.h>

#include <string>

#include "../models.hpp"

namespace hooks_test {
using namespace ctg;

using layer = test_models::decode_layer<bf16>;
inline constexpr auto layer_value = test_models::decode_layer_value<dtype_id::bf16>();

inline constexpr auto mlp_value = test_models::mlp_value();
using mlp_types = graph<repeat<8, test_models::mlp<bf16, 4096>::layer, input<"x", bf16, shape<16, 4096>>>>;

//! Every node of the typed plan `P` and the value's plan `Q` (matched by name) has the same hook:
//! both or neither, the same type run, the same group role. Returns how many nodes have one.
template <class G, auto& V, plan_options Options>
int check_same_hooks() {
  constexpr auto p = make_plan<G, Options>();
  constexpr auto q = make_plan<V, Options>();
  static_assert(p.ok() && q.ok() && p.tensor_count() == q.tensor_count());
  const std::vector<node_hook> typed = hooks_of<G, Options>(p);
  const std::vector<node_hook> valued = hooks_of<detail::value_graph<V>, Options>(q);
  int hooked = 0;
  for (int v = 0; v < p.tensor_count(); ++v) {
    const std::string name(p.node(v).name);
    const int u = q.index_of(name);
    CAPTURE(name);
    REQUIRE(u >= 0);
    const node_hook &a = typed[std::size_t(v)], &b = valued[std::size_t(u)];
    CHECK(bool(a) == bool(b));
    CHECK(a.runs_group() == b.runs_group());
    REQUIRE((a.runs() == nullptr) == (b.runs() == nullptr));
    if (a.runs() == nullptr) continue;
    ++hooked;
    CAPTURE(a.runs()->name());
    CAPTURE(b.runs()->name());
    CHECK(*a.runs() == *b.runs());
  }
  return hooked;
}

TEST_CASE("hooks: a graph_value runs each node with its graph of types' hook") {
  constexpr auto p = make_plan<layer_value>();
  // The plan folds what the layer was written for: norms in prologues (sibling q, k, v), both
  // rotaries, the cache writes into the attention, silu * up into down's prologue, gelu + add.
  static_assert(p.written_in_attention_count() == 2 && p.fused_group_count() == 1 && p.launch_count() == 7);
  static_assert(p.graph.prologue[p.index_of("q")] == p.index_of("nx") && p.graph.prologue[p.index_of("down")] == p.index_of("both"));
  // 19 nodes, 12 with a hook: the norms, rotaries, act and both run in their readers' prologues,
  // smooth in y's kernel (the cache writes' hooks run in the attention's launch, k, v and up in q's
  // and gate's, 7 launches).
  CHECK(check_same_hooks<layer::graph, layer_value, plan_options{}>() == 12);
  CHECK(check_same_hooks<layer::graph, layer_value, plan_options{.fuse = false}>() == 19);
  CHECK(check_same_hooks<mlp_types, mlp_value, plan_options{.fast_math = true}>() == 8);
  // What the attention runs: its op with the query's rotary and both cache writes.
  const std::vector<node_hook> hooks = hooks_of<detail::value_graph<layer_value>>(p);
  CHECK(*hooks[std::size_t(p.index_of("attn"))].runs() ==
        typeid(ops::cache_attention<4, 2, ops::rotary<64>, ops::cache_writes<ops::rotary<64>>>));
}

}  // namespace hooks_test
