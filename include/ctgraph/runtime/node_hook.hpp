#pragma once
//! How the runtime runs each node: its op's launch hook, taken from the node's type or, for a
//! graph_value, from the op list in the value's type (the plan holds values only), the state the
//! op's `prepare` hook made at instantiation, and its `check` hook (what a run found wrong on the
//! device, reported by `executor::check()`). `hooks_of<G>(plan)` walks G's node types once, as
//! `flatten` does, with a loop over type-erased sources rather than a recursive template (graphs
//! thousands of nodes deep); a graph_value's nodes take their op's hook from a table of one per op
//! type, and only the nodes the plan changes (fused roots, folded prologues, cache writes run by an
//! attention) are compiled one by one.
#include <algorithm>
#include <memory>
#include <span>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/hana/for_each.hpp>

#include <ctgraph/graph/graph_value.hpp>
#include <ctgraph/graph/node.hpp>
#include <ctgraph/graph/ops/state.hpp>
#include <ctgraph/plan/make_plan.hpp>
#include <ctgraph/plan/plan.hpp>
#include <ctgraph/runtime/launch_context.hpp>
#include <ctgraph/runtime/ops/fused.cuh>
#include <ctgraph/runtime/nccl/available.hpp>

namespace ctg {

class node_hook {
 public:
  using launch_fn = void (*)(const launch_context&, const void* state);
  using prepare_fn = std::shared_ptr<const void> (*)(const launch_context&);
  using check_fn = void (*)(const launch_context&, const void* state);

  node_hook() = default;
  node_hook(launch_fn launch, prepare_fn prepare, check_fn check = nullptr, const std::type_info* state_type = nullptr)
      : launch_(launch), prepare_(prepare), check_(check), state_type_(state_type) {}

  //! False for a node with nothing to run it (a collective in a build without NCCL).
  explicit operator bool() const noexcept { return launch_ != nullptr; }
  //! Whether it runs a fused group (a root's hook must).
  bool runs_group() const noexcept { return group_; }
  //! This hook runs the fused group its node is the root of.
  node_hook& for_group() noexcept {
    group_ = true;
    return *this;
  }
  //! Runs the op's `prepare` hook, if it has one, and keeps what it returns for the launches.
  void prepare(const launch_context& c) {
    if (prepare_) state_ = prepare_(c);
  }
  void launch(const launch_context& c) const { launch_(c, state_.get()); }
  //! Runs the op's `check` hook, if it has one (after the stream has caught up).
  void check(const launch_context& c) const {
    if (check_) check_(c, state_.get());
  }
  //! What the op's `prepare` hook returned, where that is a State; null otherwise.
  template <class State>
  const State* state() const noexcept {
    return state_type_ && *state_type_ == typeid(State) ? static_cast<const State*>(state_.get()) : nullptr;
  }
  //! The op's `position` rule (graph/ops/state.hpp: what the node does with a position held in
  //! state), or null: the executor's guard of positions.
  using position_fn = position_use (*)(std::span<const tensor_desc>);
  position_fn position() const noexcept { return position_; }
  node_hook& with_position(position_fn f) noexcept {
    position_ = f;
    return *this;
  }
  //! The type of what it runs: the op as the plan runs it, or a fused group's program (for tests
  //! and tools: which kernel runs a node). Null for no hook.
  const std::type_info* runs() const noexcept { return runs_; }
  template <class T>
  node_hook& running() noexcept {
    runs_ = &typeid(T);
    return *this;
  }

 private:
  launch_fn launch_ = nullptr;
  prepare_fn prepare_ = nullptr;
  check_fn check_ = nullptr;
  bool group_ = false;
  const std::type_info* state_type_ = nullptr;
  std::shared_ptr<const void> state_;
  position_fn position_ = nullptr;
  const std::type_info* runs_ = nullptr;
};

namespace detail {
template <class Op, class Node>
node_hook launch_hook_of();
}  // namespace detail

//! The hook of op `Op` in node type `Node` (void: a node with no type, such as an inserted copy).
template <class Op, class Node = void>
node_hook hook_of() {
  node_hook h = detail::launch_hook_of<Op, Node>();
  if (h) h.running<Op>();
  if constexpr (requires(std::span<const tensor_desc> in) {
                  { Op::position(in) } -> std::same_as<position_use>;
                })
    h.with_position(&Op::position);
  return h;
}

//! Its launch, prepare and check hooks.
template <class Op, class Node>
node_hook detail::launch_hook_of() {
  using L = node_launch<Node>;
  if constexpr (Op::traits.symmetric_inputs && !CTGRAPH_NCCL) {
    return {};  // instantiate() has said why: this build has no NCCL
  } else if constexpr (requires(const L& l) { Op::prepare(l); }) {
    using S = decltype(Op::prepare(std::declval<const L&>()));
    if constexpr (std::is_void_v<S>) {
      return {[](const launch_context& c, const void*) { Op::launch(L{c}); },
              [](const launch_context& c) -> std::shared_ptr<const void> { Op::prepare(L{c}); return nullptr; }};
    } else {
      node_hook::check_fn check = nullptr;
      if constexpr (requires(const L& l, const S& s) { Op::check(l, s); })
        check = [](const launch_context& c, const void* s) { Op::check(L{c}, *static_cast<const S*>(s)); };
      return {[](const launch_context& c, const void* s) { Op::launch(L{c}, *static_cast<const S*>(s)); },
              [](const launch_context& c) -> std::shared_ptr<const void> { return std::make_shared<const S>(Op::prepare(L{c})); },
              check, &typeid(S)};
    }
  } else {
    static_assert(requires(const L& l) { Op::launch(l); }, "ctgraph: the op of this node has no launch hook, so the runtime cannot run it. Give the op 'static void launch(const ctg::launch_context&)' (or a typed 'template <class Launch> static void launch(const Launch&)').");
    return {[](const launch_context& c, const void*) { Op::launch(L{c}); }, nullptr};
  }
}

namespace detail {
//! A node as the hooks see it, in either form of graph: its op (`op_type`), the node of its input
//! K (`input<K>`), its index in a plan graph (`index<G>`) and the type a typed hook gets as its
//! `Launch::node_type` (`type`). A node of a graph of types, T:
template <class T>
struct typed_node {
  using type = T;
  using op_type = typename T::op_type;
  template <std::size_t K>
  using input = typed_node<input_type<T, K>>;
  template <auto& G>
  static constexpr int index = G.index_of(T::name.view());  // a scan of the names: asked only where needed
};
//! Node I of graph_value V (which lists its ops: graph_value<N, op_list<...>>).
template <auto& V, int I>
struct value_node {
  using type = void;
  using op_type = typename op_at<typename std::remove_cvref_t<decltype(V)>::op_types, std::size_t(V.op_index(I))>::type;
  template <std::size_t K>
  using input = value_node<V, V.records()[I].inputs[K]>;
  template <auto&>
  static constexpr int index = I;  // a value's tensors are the plan's first, in order
};

//! The node of member J of the fused group `Group` whose root is node Root: reached from the root
//! along the input slots the group records (never a ref<>, which has no type).
template <class Root, auto& Group, int J, bool IsRoot = (J == Group.size - 1)>
struct member_type {
  using type = typename member_type<Root, Group, Group.via[J]>::type::template input<std::size_t(Group.via_slot[J])>;
};
template <class Root, auto& Group, int J>
struct member_type<Root, Group, J, true> {
  using type = Root;
};

// Values, not member typedefs: nvcc's host stubs write a typedef for every member typedef a kernel
// is instantiated through, and misprint the graph's types (names are class-type template
// arguments) in it. A variable's type carries no such name.
template <class Op, auto& Group, int J, std::size_t... K>
constexpr fused_step<Op, int(Group.source[J][K])...> make_fused_step(std::index_sequence<K...>) { return {}; }
template <class Root, auto& Group, int J, bool Fast>
inline constexpr auto fused_step_value =
    make_fused_step<functor_of<typename member_type<Root, Group, J>::type::op_type, Fast>, Group, J>(
        std::make_index_sequence<std::size_t(std::max(0, functor_arity<typename member_type<Root, Group, J>::type::op_type>()))>{});
template <class Root, auto& Group, bool Fast, std::size_t... J>
constexpr fused_program<Group.leaf_count, std::remove_cv_t<decltype(fused_step_value<Root, Group, int(J), Fast>)>...>
make_fused_program(std::index_sequence<J...>) {
  return {};
}
template <class Root, auto& Group, bool Fast>
inline constexpr auto fused_program_value =
    make_fused_program<Root, Group, Fast>(std::make_index_sequence<std::size_t(Group.size)>{});

//! The group whose root is node R of plan graph `Lived`, as a constexpr variable (a reference
//! template argument for the types above).
template <auto& Lived, int R>
inline constexpr fused_group group_at = group_of(Lived, R);

//! The hook of fused root Root (node R): its group's program, composed from the members' ops, or
//! for an activation folded into a product, the product's op with that epilogue.
template <class Root, auto& Lived, int R, bool Fast>
node_hook fused_hook() {
  constexpr auto& group = group_at<Lived, R>;
  if constexpr (!Lived.nodes[group.members[0]].traits.elementwise) {  // a product with Root as its epilogue
    using product = typename member_type<Root, group, 0>::type::op_type;
    return hook_of<typename product::template with_epilogue<Root::op_type::traits.as_epilogue>, typename Root::type>().for_group();
  } else {
    constexpr auto& program = fused_program_value<Root, group, Fast>;
    node_hook h{[](const launch_context& c, const void*) { launch_fused(c, program); }, nullptr};
    return h.running<std::remove_cvref_t<decltype(program)>>().for_group();
  }
}

//! The rotary a cache write (node Write) turns its rows with (its input 2's op) where the plan
//! folded one into it, else void.
template <class Write, bool Rotated>
struct folded_rotary {
  using type = void;
};
template <class Write>
struct folded_rotary<Write, true> {
  using type = typename Write::template input<2>::op_type;
};

//! Op, the op of node Node, as plan graph `Lived` runs it: an attention with the cache writes it
//! runs (`writes_in`), then any op with the prologue folded into it (`prologue`). The node's index
//! is asked only for ops that can take either.
template <class Node, auto& Lived, class Op>
struct planned_op {
  template <class O>
  static constexpr auto with_writes() {
    if constexpr (requires { O::takes_cache_writes; }) {
      constexpr int v = Node::template index<Lived>;
      constexpr int k = v >= 0 && Lived.nodes[v].input_count == 4 ? Lived.nodes[v].inputs[1] : no_index;  // the key write
      if constexpr (O::takes_cache_writes && k >= 0 && Lived.writes_in[k] == v)
        return std::type_identity<typename O::template with_cache_writes<ops::cache_writes<typename folded_rotary<typename Node::template input<1>, (Lived.prologue[k] >= 0)>::type>>>{};
      else
        return std::type_identity<O>{};
    } else {
      return std::type_identity<O>{};
    }
  }
  template <class O>
  static constexpr auto with_prologue() {
    if constexpr (requires { O::takes_prologue; }) {
      constexpr int v = Node::template index<Lived>;
      if constexpr (v >= 0 && Lived.prologue[v] >= 0)
        return std::type_identity<typename O::template with_prologue<typename Node::template input<std::size_t(Lived.nodes[v].prologue_input)>::op_type>>{};
      else
        return std::type_identity<O>{};
    } else {
      return std::type_identity<O>{};
    }
  }
  using type = typename decltype(with_prologue<typename decltype(with_writes<Op>())::type>())::type;
};

//! The hook of an elementwise op Op that runs alone, in its fast form where asked and it has one.
template <class Op, class Type, bool Fast>
node_hook alone_hook() {
  if constexpr (Fast && requires { &Op::fast; }) {
    node_hook h{[](const launch_context& c, const void*) { launch_elementwise(c, fast_functor<Op>{}); }, nullptr};
    return h.running<fast_functor<Op>>();
  } else {
    return hook_of<Op, Type>();
  }
}

//! The hook of node Node (a node view above) of plan graph `Lived`: a fused root's runs its whole
//! group; any other node runs its planned op.
template <class Node, auto& Lived, bool Fast>
node_hook hook_for() {
  using Op = typename Node::op_type;
  if constexpr (Op::traits.elementwise) {  // only these can be fused roots
    constexpr int v = Node::template index<Lived>;
    if constexpr (v >= 0 && Lived.fused_root[v] == v) return fused_hook<Node, Lived, v, Fast>();
    else return alone_hook<Op, typename Node::type, Fast>();
  } else {
    return hook_of<typename planned_op<Node, Lived, Op>::type, typename Node::type>();
  }
}

//! One tensor type, erased: its name, its node's hook, its input types.
struct hook_source {
  virtual std::string_view name() const = 0;
  virtual node_hook hook() const = 0;
  virtual void push_inputs(std::vector<const hook_source*>& to) const = 0;
};
template <class T, auto& Lived, bool Fast>
const hook_source* source_of();

//! `Lived`: the compile-time plan's graph, which says which nodes are fused roots; `Fast`:
//! plan_options::fast_math.
template <class T, auto& Lived, bool Fast>
struct hook_source_of final : hook_source {
  std::string_view name() const override { return T::name.view(); }
  node_hook hook() const override {
    if constexpr (requires { typename T::op_type; }) return hook_for<typed_node<T>, Lived, Fast>();
    else return {};  // a graph input or parameter
  }
  void push_inputs(std::vector<const hook_source*>& to) const override {
    if constexpr (requires { typename T::input_types; })
      boost::hana::for_each(typename T::input_types{}, [&](auto t) {
        using In = typename decltype(t)::type;
        // Nodes only: graph inputs and parameters have no hook (and no source class to compile);
        // a ref<> names a type reached elsewhere.
        if constexpr (tensor<In> && requires { typename In::op_type; }) to.push_back(source_of<In, Lived, Fast>());
      });
  }
};

template <class T, auto& Lived, bool Fast>
const hook_source* source_of() {
  static const hook_source_of<T, Lived, Fast> source;
  return &source;
}

//! The nodes of graph_value V whose hook depends on the plan (`Lived`), not on their op alone:
//! fused roots, nodes with a prologue folded in, attentions that run cache writes. Each is
//! compiled on its own; every other node takes its op's hook from a table of one per op type.
template <auto& V, auto& Lived>
constexpr auto planned_nodes() {
  struct list {
    int count = 0;
    int index[std::remove_cvref_t<decltype(Lived)>::capacity]{};
  } r;
  for (int v = 0; v < V.tensor_count(); ++v) {
    const node_desc& d = Lived.nodes[v];
    if (d.kind != tensor_kind::node) continue;
    const bool writes = d.takes_cache_writes && d.input_count == 4 && Lived.writes_in[d.inputs[1]] == v;
    if (Lived.fused_root[v] == v || Lived.prologue[v] >= 0 || writes) r.index[r.count++] = v;
  }
  return r;
}
template <auto& V, auto& Lived>
inline constexpr auto planned_nodes_of = planned_nodes<V, Lived>();

template <auto& V, auto& Lived, bool Fast, class... Ops>
void value_hooks(op_list<Ops...>*, std::vector<node_hook>& hooks) {
  using maker = node_hook (*)();
  static constexpr maker by_op[] = {&alone_hook<Ops, void, Fast>...};
  for (int v = 0; v < V.tensor_count(); ++v)
    if (V.op_index(v) >= 0) hooks[std::size_t(v)] = by_op[V.op_index(v)]();
  constexpr auto& planned = planned_nodes_of<V, Lived>;
  [&]<std::size_t... J>(std::index_sequence<J...>) {
    ((hooks[std::size_t(planned.index[J])] = hook_for<value_node<V, planned.index[J]>, Lived, Fast>()), ...);
  }(std::make_index_sequence<std::size_t(planned.count)>{});
}
}  // namespace detail

//! The hook of every node of graph G's plan `p` (`make_plan<G, Options>()`), by node index: a fused
//! root's runs its whole group; empty for graph inputs, parameters, fused members and inserted
//! copies (the executor gives those the copy op's hook).
template <class G, plan_options Options = plan_options{}, std::size_t N>
std::vector<node_hook> hooks_of(const plan<N>& p) {
  constexpr auto& lived = detail::planner<G, Options>::lived;
  std::vector<node_hook> hooks(std::size_t(p.tensor_count()));
  if constexpr (detail::value_graph_type<G>) {
    constexpr auto& v = G::value;
    using value_type = std::remove_cvref_t<decltype(v)>;
    static_assert(value_type::runnable, "ctgraph: this graph_value lists no ops, so the executor has no launch hooks to run it with. Name its ops in its type: ctg::graph_value<N, ctg::op_list<ops::matmul, ops::relu, ...>>.");
    if constexpr (value_type::runnable) {
      detail::value_hooks<v, lived, Options.fast_math>(static_cast<typename value_type::op_types*>(nullptr), hooks);
      for (int u = 0; u < p.tensor_count(); ++u)
        if (p.fused_away(u)) hooks[std::size_t(u)] = {};
    }
    return hooks;
  } else {
    std::unordered_map<std::string_view, int> index;
    for (int v = 0; v < p.tensor_count(); ++v) index.emplace(p.node(v).name, v);
    std::vector<bool> seen(std::size_t(p.tensor_count()));
    std::vector<const detail::hook_source*> todo;
    boost::hana::for_each(G::outputs, [&](auto t) {
      todo.push_back(detail::source_of<typename decltype(t)::type, lived, Options.fast_math>());
    });
    while (!todo.empty()) {
      const detail::hook_source* s = todo.back();
      todo.pop_back();
      const auto it = index.find(s->name());
      if (it == index.end() || seen[std::size_t(it->second)]) continue;
      seen[std::size_t(it->second)] = true;
      if (!p.fused_away(it->second)) hooks[std::size_t(it->second)] = s->hook();
      s->push_inputs(todo);
    }
    return hooks;
  }
}

}  // namespace ctg
