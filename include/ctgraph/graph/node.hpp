#pragma once
//! A node: an op applied to tensors. `node<"h0", ops::matmul, x, w0>`.
//! Its output dtype and shape come from the op's output rule, evaluated by the `validate` pass.
//! For deep graphs declare nodes as structs (`struct h0 : node<...> {};`): type names then stay
//! flat, which keeps compile time and error messages small.
#include <array>

#include <boost/hana/at.hpp>
#include <boost/hana/tuple.hpp>
#include <boost/hana/type.hpp>

#include <ctgraph/graph/op.hpp>
#include <ctgraph/graph/tensor.hpp>
#include <ctgraph/meta/fixed_string.hpp>

namespace ctg {

//! Points a node's record to what the planner knows of its op.
template <op Op>
constexpr void describe_op(node_desc& d) {
  d.op = &op_desc_of<Op>;
}

//! The output of tensor type T as its types say it, for typed launch hooks that want static
//! extents: a graph input's or parameter's declared tensor, a node's output rule applied to its
//! inputs' (computed once per type, and only where a hook asks). A ref<> input has none.
template <class T>
constexpr tensor_desc static_desc_of();

namespace detail {
// Per input type, shared by every node that reads it (not per node and input). Partial
// specialisations rather than lambda initialisers: cheaper to instantiate.
template <class In, bool Ref = is_ref<In>::value>
inline constexpr const tensor_handle* input_handle = &handle_of<In>;
template <class In>
inline constexpr const tensor_handle* input_handle<In, true> = nullptr;
template <class In, bool Ref = is_ref<In>::value>
inline constexpr std::string_view input_ref{};
template <class In>
inline constexpr std::string_view input_ref<In, true> = In::referenced_name.view();
template <class In>
constexpr void add_edge(tensor_handle::edges& e) {
  if constexpr (tensor<In> || is_ref<In>::value) {
    if (e.count == max_inputs) return;
    e.in[e.count++] = input_handle<In>;
  }
}
//! The names a node's ref<> inputs refer to, by edge slot; only nodes with refs instantiate it.
template <class... Inputs>
inline constexpr std::string_view ref_names[] = {input_ref<Inputs>...};
template <class... Inputs>
constexpr const std::string_view* refs_of() {
  if constexpr ((is_ref<Inputs>::value || ...)) {
    static_assert(((tensor<Inputs> || is_ref<Inputs>::value) && ...));  // slots are the inputs, in order
    return ref_names<Inputs...>;
  } else {
    return nullptr;
  }
}
}  // namespace detail

template <fixed_string Name, class Op, class... Inputs>
struct node {
  static constexpr auto name = Name;
  using op_type = typename detail::unwrap_op<Op>::type;
  //! The input types, for metaprograms over the graph (the runtime's walk, typed launch hooks):
  //! a type, so that planning alone instantiates nothing for it.
  using input_types = boost::hana::tuple<boost::hana::basic_type<Inputs>...>;

  //! One static_assert per cause, checked here so that the instantiation context names the node.
  static constexpr bool check() {
    if constexpr (!check_op<op_type>()) {
      return false;
    } else if constexpr (sizeof...(Inputs) > max_inputs) {
      static_assert(sizeof...(Inputs) <= max_inputs, "ctgraph: too many inputs in this node. The limit is ctg::max_inputs (8). Split the op or pack inputs.");
      return false;
    } else if constexpr (!((tensor<Inputs> || detail::is_ref<Inputs>::value) && ...)) {
      static_assert(((tensor<Inputs> || detail::is_ref<Inputs>::value) && ...), "ctgraph: an input of this node is not a tensor of the graph. Inputs must be ctg::input, ctg::parameter, ctg::node types or ctg::ref<\"name\">.");
      return false;
    } else if constexpr (op_type::traits.writes_state && !op_type::traits.view) {
      static_assert(!op_type::traits.writes_state || op_type::traits.view, "ctgraph: the op of this node sets op_traits::writes_state but not op_traits::view. An op that writes state has no buffer of its own: its output is the state it wrote. Set view = true as well.");
      return false;
    } else if constexpr (detail::unwrap_op<Op>::in_place && !op_type::traits.in_place) {
      static_assert(op_type::traits.in_place, "ctgraph: in-place requested in this node, but its op does not allow it (op_traits::in_place is false). Remove ctg::in_place<> or use an op that can overwrite its input.");
      return false;
    } else {
      return true;
    }
  }

  //! The edges to every input that is a tensor or a ref (up to max_inputs), even when the node
  //! is ill-formed: the walk still reaches the nodes above it, so their errors are reported too.
  static constexpr tensor_handle::edges inputs() {
    tensor_handle::edges e{Name.view()};
    ((detail::add_edge<Inputs>(e)), ...);
    if constexpr (((tensor<Inputs> || detail::is_ref<Inputs>::value) && ...)) e.ref = detail::refs_of<Inputs...>();
    return e;
  }

  //! The output as the input types say it: see `static_desc`.
  static constexpr tensor_desc static_output() {
    if constexpr (!(tensor<Inputs> && ...)) {
      static_assert((tensor<Inputs> && ...), "ctgraph: static_desc<T> needs every input of T to be a tensor type; a ref<\"name\"> input has no static description. Name the input's type instead of a ref<>.");
      return {};
    } else {
      const std::array<tensor_desc, sizeof...(Inputs)> descs{static_desc_of<Inputs>()...};
      return op_type::output(std::span<const tensor_desc>(descs.data(), descs.size())).out;
    }
  }

  static constexpr node_desc describe() {
    node_desc d{};
    d.name = Name.view();
    d.kind = tensor_kind::node;
    d.input_count = inputs().count;
    if constexpr ((detail::is_ref<Inputs>::value || ...)) {
      const bool ref[] = {detail::is_ref<Inputs>::value...};
      for (int k = 0; k < d.input_count; ++k) d.ref_inputs |= std::uint8_t(ref[k] ? 1u << k : 0u);
    }
    if constexpr (check()) {
      describe_op<op_type>(d);
      d.in_place = detail::unwrap_op<Op>::in_place;
    } else {
      d.ill_formed = true;
    }
    return d;
  }
};

template <class T>
constexpr tensor_desc static_desc_of() {
  if constexpr (requires { T::static_output(); }) return T::static_output();
  else return T::describe().out;
}
template <class T>
inline constexpr tensor_desc static_desc = static_desc_of<T>();

//! The type of input K of node type Node: `ctg::input_type<typename Launch::node_type, 0>`.
template <class Node, std::size_t K>
using input_type = typename std::remove_cvref_t<decltype(boost::hana::at_c<K>(typename Node::input_types{}))>::type;

}  // namespace ctg
