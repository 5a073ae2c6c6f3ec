#pragma once
//! How the runtime runs each node: its op's launch hook, taken from the node's type (the plan
//! holds values only), the state the op's `prepare` hook made at instantiation, and its `check`
//! hook (what a run found wrong on the device, reported by `executor::check()`).
//! `hooks_of<G>(plan)` walks G's node types once, as `flatten` does, with a loop over type-erased
//! sources rather than a recursive template (graphs thousands of nodes deep).
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

 private:
  launch_fn launch_ = nullptr;
  prepare_fn prepare_ = nullptr;
  check_fn check_ = nullptr;
  bool group_ = false;
  const std::type_info* state_type_ = nullptr;
  std::shared_ptr<const void> state_;
  position_fn position_ = nullptr;
};

namespace detail {
template <class Op, class Node>
node_hook launch_hook_of();
}  // namespace detail

//! The hook of op `Op` in node type `Node` (void: a node with no type, such as an inserted copy).
template <class Op, class Node = void>
node_hook hook_of() {
  node_hook h = detail::launch_hook_of<Op, Node>();
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
//! The type of member J of the fused group `Group` whose root has type Root: reached from the
//! root along the input slots the group records (never a ref<>, which has no type).
template <class Root, auto& Group, int J, bool IsRoot = (J == Group.size - 1)>
struct member_type {
  using type = input_type<typename member_type<Root, Group, Group.via[J]>::type, std::size_t(Group.via_slot[J])>;
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
    return hook_of<typename product::template with_epilogue<Root::op_type::traits.as_epilogue>, Root>().for_group();
  } else {
    node_hook h{[](const launch_context& c, const void*) { launch_fused(c, fused_program_value<Root, group, Fast>); }, nullptr};
    return h.for_group();
  }
}

//! The rotary a cache write of type Write turns its rows with (its input 2's op) where the plan
//! folded one into it, else void.
template <class Write, bool Rotated>
struct folded_rotary {
  using type = void;
};
template <class Write>
struct folded_rotary<Write, true> {
  using type = typename input_type<Write, 2>::op_type;
};

//! Op, the op of node type T, as plan graph `Lived` runs it: an attention with the cache writes it
//! runs (`writes_in`), then any op with the prologue folded into it (`prologue`). The node's index
//! is looked up only for ops that can take either.
template <class T, auto& Lived, class Op>
struct planned_op {
  template <class O>
  static constexpr auto with_writes() {
    if constexpr (requires { O::takes_cache_writes; }) {
      constexpr int v = Lived.index_of(T::name.view());
      constexpr int k = v >= 0 && Lived.nodes[v].input_count == 4 ? Lived.nodes[v].inputs[1] : no_index;  // the key write
      if constexpr (O::takes_cache_writes && k >= 0 && Lived.writes_in[k] == v)
        return std::type_identity<typename O::template with_cache_writes<ops::cache_writes<typename folded_rotary<input_type<T, 1>, (Lived.prologue[k] >= 0)>::type>>>{};
      else
        return std::type_identity<O>{};
    } else {
      return std::type_identity<O>{};
    }
  }
  template <class O>
  static constexpr auto with_prologue() {
    if constexpr (requires { O::takes_prologue; }) {
      constexpr int v = Lived.index_of(T::name.view());
      if constexpr (v >= 0 && Lived.prologue[v] >= 0)
        return std::type_identity<typename O::template with_prologue<typename input_type<T, std::size_t(Lived.nodes[v].prologue_input)>::op_type>>{};
      else
        return std::type_identity<O>{};
    } else {
      return std::type_identity<O>{};
    }
  }
  using type = typename decltype(with_prologue<typename decltype(with_writes<Op>())::type>())::type;
};

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
    if constexpr (requires { typename T::op_type; }) {
      using Op = typename T::op_type;
      if constexpr (Op::traits.elementwise) {  // only these can be fused roots
        constexpr int v = Lived.index_of(T::name.view());
        if constexpr (v >= 0 && Lived.fused_root[v] == v) return fused_hook<T, Lived, v, Fast>();
        if constexpr (Fast && requires { &Op::fast; })
          return {[](const launch_context& c, const void*) { launch_elementwise(c, fast_functor<Op>{}); }, nullptr};
      }
      return hook_of<typename planned_op<T, Lived, Op>::type, T>();
    } else {
      return {};  // a graph input or parameter
    }
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
}  // namespace detail

//! The hook of every node of graph G's plan `p` (`make_plan<G, Options>()`), by node index: a fused
//! root's runs its whole group; empty for graph inputs, parameters, fused members and inserted
//! copies (the executor gives those the copy op's hook).
template <class G, plan_options Options = plan_options{}, std::size_t N>
std::vector<node_hook> hooks_of(const plan<N>& p) {
  constexpr auto& lived = detail::planner<G, Options>::lived;
  std::unordered_map<std::string_view, int> index;
  for (int v = 0; v < p.tensor_count(); ++v) index.emplace(p.node(v).name, v);
  std::vector<node_hook> hooks(std::size_t(p.tensor_count()));
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

}  // namespace ctg
