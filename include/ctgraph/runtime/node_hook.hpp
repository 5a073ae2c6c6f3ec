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
//! The hook of elementwise op Op run alone in its approximate form (plan_options::fast_math).
template <class Op>
node_hook fast_hook() {
  return node_hook{[](const launch_context& c, const void*) { launch_elementwise(c, fast_functor<Op>{}); }, nullptr}.running<fast_functor<Op>>();
}

//! What the hooks of a graph of types read of its plan graph, in a constant about a sixth of its
//! size, under the same names: nvcc's device front end holds a copy of every constant that a
//! constant evaluation reads, and the hooks make a few evaluations per node type (a 22-layer Llama
//! decode step: 21 GB reading the plan graph itself).
struct hook_node {
  std::string_view name;
  int input_count = 0;
  int inputs[max_inputs]{};
  std::uint8_t ref_inputs = 0;
  const op_desc* op = &no_op;
};
template <std::size_t N>
struct hook_view {
  int tensor_count = 0;
  hook_node nodes[N]{};
  int fused_root[N]{}, step[N]{}, prologue[N]{}, writes_in[N]{};
};
template <std::size_t N>
constexpr hook_view<N> view_for_hooks(const flat_graph<N>& g) {
  hook_view<N> h{};
  h.tensor_count = g.tensor_count;
  for (int v = 0; v < g.tensor_count; ++v) {
    const node_desc& d = g.nodes[v];
    hook_node& n = h.nodes[v];
    n.name = d.name, n.input_count = d.input_count, n.ref_inputs = d.ref_inputs, n.op = d.op;
    for (int k = 0; k < d.input_count; ++k) n.inputs[k] = d.inputs[k];
    h.fused_root[v] = g.fused_root[v], h.step[v] = g.step[v], h.prologue[v] = g.prologue[v], h.writes_in[v] = g.writes_in[v];
  }
  return h;
}
template <auto& Lived>
inline constexpr auto hook_view_of = view_for_hooks(Lived);

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

//! The hook of a fused group's root that runs fused program `Program` (a constexpr variable).
template <auto& Program>
node_hook program_hook() {
  node_hook h{[](const launch_context& c, const void*) { launch_fused(c, Program); }, nullptr};
  return h.running<std::remove_cvref_t<decltype(Program)>>().for_group();
}

//! The group whose root is node R of plan graph `Lived`, as a constexpr variable (a reference
//! template argument for the types above).
template <auto& Lived, int R>
inline constexpr fused_group group_at = group_of(Lived, R);

//! The hook of fused root Root (node R): its group's program, composed from the members' ops, or
//! for an activation folded into a product, the product's op with that epilogue.
template <class Root, auto& Lived, int R, bool Fast>
node_hook fused_hook() {
  constexpr auto& group = group_at<Lived, R>;
  if constexpr (!Lived.nodes[group.members[0]].op->traits.elementwise) {  // a product with Root as its epilogue
    using product = typename member_type<Root, group, 0>::type::op_type;
    return hook_of<typename product::template with_epilogue<Root::op_type::traits.as_epilogue>, Root>().for_group();
  } else {
    return program_hook<fused_program_value<Root, group, Fast>>();
  }
}

//! Op as the plan runs it: an attention that runs its cache writes (`Writes`; `Rotary`: the op
//! turning the key write's rows, or void), then with the op `Prologue` folded in (or void).
template <class Op, bool Writes, class Rotary>
struct with_writes {
  using type = Op;
};
template <class Op, class Rotary>
struct with_writes<Op, true, Rotary> {
  using type = typename Op::template with_cache_writes<ops::cache_writes<Rotary>>;
};
template <class Op, class Prologue>
struct with_prologue {
  using type = typename Op::template with_prologue<Prologue>;
};
template <class Op>
struct with_prologue<Op, void> {
  using type = Op;
};
template <class Op, bool Writes, class Rotary, class Prologue>
using planned_op_t = typename with_prologue<typename with_writes<Op, Writes, Rotary>::type, Prologue>::type;

//! The rotary that the key write of attention type Attention (its input 1) turns its rows with
//! (the write's input 2's op) where the plan folded one into it, else void.
template <class Attention, bool Rotated>
struct folded_rotary {
  using type = void;
};
template <class Attention>
struct folded_rotary<Attention, true> {
  using type = typename input_type<input_type<Attention, 1>, 2>::op_type;
};
//! The op of node type T's input K, folded into its prologue, or void (K == no_index).
template <class T, int K>
struct folded_prologue {
  using type = typename input_type<T, std::size_t(K)>::op_type;
};
template <class T>
struct folded_prologue<T, no_index> {
  using type = void;
};

//! The nodes whose hooks the plan changes (fused roots, nodes with a folded prologue, attentions
//! running their cache writes), by name, with what their hooks read: a node type's hook looks its
//! node up in this small constant rather than in the whole plan graph (see hook_view).
struct changed_node {
  std::string_view name;
  int index = no_index;
  bool root = false;                // a fused group's root
  bool writes = false;              // an attention that runs its cache writes
  bool rotated = false;             // ... with a rotary folded into the key write
  int prologue_input = no_index;    // the input whose node is folded into its prologue
  constexpr bool changed() const { return root || writes || prologue_input != no_index; }
};
template <std::size_t P>
struct changed_nodes {
  int count = 0;
  changed_node node[P > 0 ? P : 1]{};
  //! The place of the node named `name`, or no_index (the plan left it as it is).
  constexpr int find(std::string_view name) const {
    for (int i = 0; i < count; ++i)
      if (node[i].name == name) return i;
    return no_index;
  }
};
//! What the plan changed at node v of plan graph (or view) g; `changed()` says whether anything.
template <class G>
constexpr changed_node changed_at(const G& g, int v) {
  const auto& d = g.nodes[v];
  const int key = d.input_count == 4 ? d.inputs[1] : no_index;  // an attention's key write
  changed_node c{d.name, v, g.fused_root[v] == v, key >= 0 && g.writes_in[key] == v};
  c.rotated = c.writes && g.prologue[key] >= 0;
  if (g.prologue[v] >= 0) c.prologue_input = d.op->prologue_input;
  return c;
}
template <std::size_t P, class G>
constexpr changed_nodes<P> find_changed_nodes(const G& g) {
  changed_nodes<P> t{};
  for (int v = 0; v < g.tensor_count; ++v) {
    const changed_node c = changed_at(g, v);
    if (!c.changed()) continue;
    if constexpr (P > 0) t.node[t.count] = c;
    ++t.count;
  }
  return t;
}
template <auto& Lived>
inline constexpr auto changed_count = find_changed_nodes<0>(Lived).count;
template <auto& Lived>
inline constexpr auto changed_nodes_of = find_changed_nodes<std::size_t(changed_count<Lived>)>(Lived);

//! Op, the op of node type T, as plan graph `Lived` runs it (planned_op_t): what the plan changed
//! at the node, looked up once, and only for ops that can take cache writes or a prologue.
template <class T, auto& Lived, class Op>
struct planned_op {
  static constexpr changed_node node = [] {
    if constexpr (requires { Op::takes_cache_writes; } || requires { Op::takes_prologue; }) {
      constexpr auto& changed = changed_nodes_of<Lived>;
      const int at = changed.find(T::name.view());
      return at >= 0 ? changed.node[at] : changed_node{};
    } else {
      return changed_node{};
    }
  }();
  using type = planned_op_t<Op, node.writes, typename folded_rotary<T, node.rotated>::type, typename folded_prologue<T, node.prologue_input>::type>;
};

//! One tensor type, erased: its name, its node's hook, its input types.
struct hook_source {
  virtual std::string_view name() const = 0;
  virtual node_hook hook() const = 0;
  virtual void push_inputs(std::vector<const hook_source*>& to) const = 0;
};
template <class T, auto& Lived, bool Fast>
const hook_source* source_of();

//! `Lived`: what the compile-time plan's graph says of the nodes (hook_view), such as which are
//! fused roots; `Fast`: plan_options::fast_math.
template <class T, auto& Lived, bool Fast>
struct hook_source_of final : hook_source {
  std::string_view name() const override { return T::name.view(); }
  node_hook hook() const override {
    if constexpr (requires { typename T::op_type; }) {
      using Op = typename T::op_type;
      if constexpr (Op::traits.elementwise) {  // only these can be fused roots
        constexpr auto& changed = changed_nodes_of<Lived>;
        constexpr int at = changed.find(T::name.view());
        if constexpr (at >= 0 && changed.node[at].root) return fused_hook<T, Lived, changed.node[at].index, Fast>();
        if constexpr (Fast && requires { &Op::fast; })
          return fast_hook<Op>();
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

// A graph_value's hooks (hooks_of): the op as planned, from the value's op list.

//! The hook of op Op on a node the plan left as it is, in its fast form where asked and it has one.
template <class Op, bool Fast>
node_hook op_hook() {
  if constexpr (Fast && requires { &Op::fast; })
    return fast_hook<Op>();
  else
    return hook_of<Op>();
}

//! What a node of a graph_value runs where the plan changed it, as a value (ops by their place in
//! the value's op list): nodes that run the same code have equal ones, and each distinct one is
//! compiled once. nvcc's device front end holds a copy of the plan for every constant evaluation
//! that reads it, so the hooks must not be compiled node by node (a 1,024-node graph: 19.6 GB).
struct value_kind {
  enum class form : std::uint8_t { op, epilogue, group } how = form::op;
  int op = no_index;        // op: the node's op; epilogue: the product's
  int root = no_index;      // epilogue: the root's op (the activation)
  bool writes = false;      // op: an attention that runs its cache writes
  int rotary = no_index;    // ... the op turning the key write's rows, if folded in
  int prologue = no_index;  // op: the op folded into its prologue
  int size = 0, leaf_count = 0;  // group: its members' ops (schedule order) and sources (fused_group)
  std::int16_t ops[max_fused_nodes]{};
  std::int8_t source[max_fused_nodes][max_inputs]{};
  // By hand: nvcc 13's constant evaluator steps past the rows of a defaulted == on `source`.
  friend constexpr bool operator==(const value_kind& a, const value_kind& b) {
    if (a.how != b.how || a.op != b.op || a.root != b.root || a.writes != b.writes || a.rotary != b.rotary ||
        a.prologue != b.prologue || a.size != b.size || a.leaf_count != b.leaf_count)
      return false;
    for (int j = 0; j < a.size; ++j) {
      if (a.ops[j] != b.ops[j]) return false;
      for (int i = 0; i < max_inputs; ++i)
        if (a.source[j][i] != b.source[j][i]) return false;
    }
    return true;
  }
};

//! The kind of node n of graph_value `v`, which the plan (graph `g`) changed as `c` (changed_at).
template <class V, class G>
constexpr value_kind kind_of(const V& v, const G& g, const changed_node& c) {
  value_kind k{};
  const int n = c.index;
  if (c.root) {
    const fused_group f = group_of(g, n);
    if (!g.nodes[f.members[0]].op->traits.elementwise) {
      k.how = value_kind::form::epilogue, k.op = v.op_index(f.members[0]), k.root = v.op_index(n);
    } else {
      k.how = value_kind::form::group, k.size = f.size, k.leaf_count = f.leaf_count;
      for (int j = 0; j < f.size; ++j) {
        k.ops[j] = std::int16_t(v.op_index(f.members[j]));
        for (int i = 0; i < max_inputs; ++i) k.source[j][i] = f.source[j][i];
      }
    }
    return k;
  }
  const node_desc& d = g.nodes[n];
  k.op = v.op_index(n), k.writes = c.writes;
  if (c.rotated) k.rotary = v.op_index(g.nodes[d.inputs[1]].inputs[2]);
  if (c.prologue_input != no_index) k.prologue = v.op_index(d.inputs[c.prologue_input]);
  return k;
}

//! The nodes of graph_value V that the plan `Lived` changed, each with its kind, and the distinct
//! kinds: Kinds == 0 counts them (`planned_size`), else fills a table of that size.
template <int Nodes, int Kinds>
struct planned_table {
  int nodes = 0, kinds = 0;
  int node[Nodes > 0 ? Nodes : 1]{};
  int kind_index[Nodes > 0 ? Nodes : 1]{};
  value_kind kind[Kinds > 0 ? Kinds : 1]{};
};
template <int Nodes, int Kinds, auto& V, auto& Lived>
constexpr auto planned_kinds() {
  planned_table<Nodes, Kinds> t{};
  std::vector<value_kind> seen;
  for (int n = 0; n < V.tensor_count(); ++n) {
    const changed_node c = changed_at(Lived, n);
    if (Lived.nodes[n].kind != tensor_kind::node || !c.changed()) continue;
    const value_kind k = kind_of(V, Lived, c);
    int at = 0;
    while (at < int(seen.size()) && !(seen[std::size_t(at)] == k)) ++at;
    if (at == int(seen.size())) seen.push_back(k);
    if constexpr (Nodes > 0) t.node[t.nodes] = n, t.kind_index[t.nodes] = at;
    if constexpr (Kinds > 0) t.kind[at] = k;
    ++t.nodes;
  }
  t.kinds = int(seen.size());
  return t;
}
template <auto& V, auto& Lived>
inline constexpr auto planned_size = planned_kinds<0, 0, V, Lived>();
template <auto& V, auto& Lived>
inline constexpr auto planned_table_of = planned_kinds<planned_size<V, Lived>.nodes, planned_size<V, Lived>.kinds, V, Lived>();

template <class Ops, int I>
using listed_op = typename op_at<Ops, std::size_t(I)>::type;
template <class Ops, int I>
struct listed_or_void {
  using type = listed_op<Ops, I>;
};
template <class Ops>
struct listed_or_void<Ops, no_index> {
  using type = void;
};

// As fused_step_value and fused_program_value, with member J's op from the op list.
template <class Ops, auto& K, int J, bool Fast>
inline constexpr auto kind_step_value = make_fused_step<functor_of<listed_op<Ops, K.ops[J]>, Fast>, K, J>(
    std::make_index_sequence<std::size_t(std::max(0, functor_arity<listed_op<Ops, K.ops[J]>>()))>{});
template <class Ops, auto& K, bool Fast, std::size_t... J>
constexpr fused_program<K.leaf_count, std::remove_cv_t<decltype(kind_step_value<Ops, K, int(J), Fast>)>...> kind_program(std::index_sequence<J...>) {
  return {};
}
template <class Ops, auto& K, bool Fast>
inline constexpr auto kind_program_value = kind_program<Ops, K, Fast>(std::make_index_sequence<std::size_t(K.size)>{});

//! Kind I of table T, as a constexpr variable (a reference template argument for the above).
template <auto& T, int I>
inline constexpr value_kind kind_at = T.kind[I];

//! The hook of kind K (ops from list Ops).
template <class Ops, auto& K, bool Fast>
node_hook kind_hook() {
  if constexpr (K.how == value_kind::form::group) {
    return program_hook<kind_program_value<Ops, K, Fast>>();
  } else if constexpr (K.how == value_kind::form::epilogue) {
    using product = listed_op<Ops, K.op>;
    return hook_of<typename product::template with_epilogue<listed_op<Ops, K.root>::traits.as_epilogue>>().for_group();
  } else {
    return hook_of<planned_op_t<listed_op<Ops, K.op>, K.writes, typename listed_or_void<Ops, K.rotary>::type,
                                typename listed_or_void<Ops, K.prologue>::type>>();
  }
}

//! The hooks of graph_value V's nodes under plan graph `Lived`: each node its op's (a table of one
//! per op type), then each node the plan changed its kind's (one compiled per distinct kind).
template <auto& V, auto& Lived, bool Fast, class... Ops>
void value_hooks(op_list<Ops...>*, std::vector<node_hook>& hooks) {
  using list = op_list<Ops...>;
  using maker = node_hook (*)();
  static constexpr maker by_op[] = {&op_hook<Ops, Fast>...};
  for (int v = 0; v < V.tensor_count(); ++v)
    if (V.op_index(v) >= 0) hooks[std::size_t(v)] = by_op[V.op_index(v)]();
  constexpr auto& t = planned_table_of<V, Lived>;
  const std::vector<node_hook> kinds = [&]<std::size_t... K>(std::index_sequence<K...>) {
    return std::vector<node_hook>{kind_hook<list, kind_at<t, int(K)>, Fast>()...};
  }(std::make_index_sequence<std::size_t(t.kinds)>{});
  for (int i = 0; i < t.nodes; ++i) hooks[std::size_t(t.node[i])] = kinds[std::size_t(t.kind_index[i])];
}
}  // namespace detail

//! The hook of every node of graph G's plan `p` (`make_plan<G, Options>()`), by node index: a fused
//! root's runs its whole group; empty for graph inputs, parameters, fused members and inserted
//! copies (the executor gives those the copy op's hook).
template <class G, plan_options Options = plan_options{}, std::size_t N>
std::vector<node_hook> hooks_of(const plan<N>& p) {
  constexpr auto& lived = detail::planner<G, Options>::lived;
  constexpr auto& view = detail::hook_view_of<lived>;
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
      todo.push_back(detail::source_of<typename decltype(t)::type, view, Options.fast_math>());
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
