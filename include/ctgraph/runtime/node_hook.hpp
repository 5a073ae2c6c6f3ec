#pragma once
//! How the runtime runs each node: its op's launch hook, taken from the node's type (the plan
//! holds values only), the state the op's `prepare` hook made at instantiation, and its `check`
//! hook (what a run found wrong on the device, reported by `executor::check()`).
//! `hooks_of<G>(plan)` walks G's node types once, as `flatten` does, with a loop over type-erased
//! sources rather than a recursive template (graphs thousands of nodes deep).
#include <memory>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/hana/for_each.hpp>

#include <ctgraph/graph/node.hpp>
#include <ctgraph/plan/plan.hpp>
#include <ctgraph/runtime/launch_context.hpp>
#include <ctgraph/runtime/nccl/available.hpp>

namespace ctg {

class node_hook {
 public:
  using launch_fn = void (*)(const launch_context&, const void* state);
  using prepare_fn = std::shared_ptr<const void> (*)(const launch_context&);
  using check_fn = void (*)(const launch_context&, const void* state);

  node_hook() = default;
  node_hook(launch_fn launch, prepare_fn prepare, check_fn check = nullptr)
      : launch_(launch), prepare_(prepare), check_(check) {}

  //! False for a node with nothing to run it (a collective in a build without NCCL).
  explicit operator bool() const noexcept { return launch_ != nullptr; }
  //! Runs the op's `prepare` hook, if it has one, and keeps what it returns for the launches.
  void prepare(const launch_context& c) {
    if (prepare_) state_ = prepare_(c);
  }
  void launch(const launch_context& c) const { launch_(c, state_.get()); }
  //! Runs the op's `check` hook, if it has one (after the stream has caught up).
  void check(const launch_context& c) const {
    if (check_) check_(c, state_.get());
  }

 private:
  launch_fn launch_ = nullptr;
  prepare_fn prepare_ = nullptr;
  check_fn check_ = nullptr;
  std::shared_ptr<const void> state_;
};

//! The hook of op `Op` in node type `Node` (void: a node with no type, such as an inserted copy).
template <class Op, class Node = void>
node_hook hook_of() {
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
              check};
    }
  } else {
    static_assert(requires(const L& l) { Op::launch(l); }, "ctgraph: the op of this node has no launch hook, so the runtime cannot run it. Give the op 'static void launch(const ctg::launch_context&)' (or a typed 'template <class Launch> static void launch(const Launch&)').");
    return {[](const launch_context& c, const void*) { Op::launch(L{c}); }, nullptr};
  }
}

namespace detail {
//! One tensor type, erased: its name, its node's hook, its input types.
struct hook_source {
  virtual std::string_view name() const = 0;
  virtual node_hook hook() const = 0;
  virtual void push_inputs(std::vector<const hook_source*>& to) const = 0;
};
template <class T>
const hook_source* source_of();

template <class T>
struct hook_source_of final : hook_source {
  std::string_view name() const override { return T::name.view(); }
  node_hook hook() const override {
    if constexpr (requires { typename T::op_type; }) return hook_of<typename T::op_type, T>();
    else return {};  // a graph input or parameter
  }
  void push_inputs(std::vector<const hook_source*>& to) const override {
    if constexpr (requires { typename T::input_types; })
      boost::hana::for_each(typename T::input_types{}, [&](auto t) {
        using In = typename decltype(t)::type;
        // Nodes only: graph inputs and parameters have no hook (and no source class to compile);
        // a ref<> names a type reached elsewhere.
        if constexpr (tensor<In> && requires { typename In::op_type; }) to.push_back(source_of<In>());
      });
  }
};

template <class T>
const hook_source* source_of() {
  static const hook_source_of<T> source;
  return &source;
}
}  // namespace detail

//! The hook of every node of graph G's plan `p`, by node index; empty for graph inputs,
//! parameters and inserted copies (the executor gives those the copy op's hook).
template <class G, std::size_t N>
std::vector<node_hook> hooks_of(const plan<N>& p) {
  const flat_graph<N>& g = p.graph;
  std::unordered_map<std::string_view, int> index;
  for (int v = 0; v < g.tensor_count; ++v) index.emplace(g.nodes[v].name, v);
  std::vector<node_hook> hooks(std::size_t(g.tensor_count));
  std::vector<bool> seen(std::size_t(g.tensor_count));
  std::vector<const detail::hook_source*> todo;
  boost::hana::for_each(G::outputs, [&](auto t) { todo.push_back(detail::source_of<typename decltype(t)::type>()); });
  while (!todo.empty()) {
    const detail::hook_source* s = todo.back();
    todo.pop_back();
    const auto it = index.find(s->name());
    if (it == index.end() || seen[std::size_t(it->second)]) continue;
    seen[std::size_t(it->second)] = true;
    hooks[std::size_t(it->second)] = s->hook();
    s->push_inputs(todo);
  }
  return hooks;
}

}  // namespace ctg
