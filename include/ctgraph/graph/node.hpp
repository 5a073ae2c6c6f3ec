#pragma once
//! A node: an op applied to tensors. `node<"h0", ops::matmul, x, w0>`.
//! Its output dtype and shape come from the op's output rule, evaluated by the `validate` pass.
//! For deep graphs declare nodes as structs (`struct h0 : node<...> {};`): type names then stay
//! flat, which keeps compile time and error messages small.
#include <ctgraph/graph/op.hpp>
#include <ctgraph/graph/tensor.hpp>
#include <ctgraph/meta/fixed_string.hpp>

namespace ctg {

template <fixed_string Name, class Op, class... Inputs>
struct node {
  static constexpr auto name = Name;
  using op_type = typename detail::unwrap_op<Op>::type;

  static constexpr tensor_handle::record describe() {
    // One error per cause, checked here so the instantiation context names the node.
    if constexpr (!check_op<op_type>()) {
      return {};
    } else if constexpr (sizeof...(Inputs) > max_inputs) {
      static_assert(sizeof...(Inputs) <= max_inputs, "ctgraph: too many inputs in this node. The limit is ctg::max_inputs (4). Split the op or pack inputs.");
      return {};
    } else if constexpr (!((tensor<Inputs> || detail::is_ref<Inputs>::value) && ...)) {
      static_assert(((tensor<Inputs> || detail::is_ref<Inputs>::value) && ...), "ctgraph: an input of this node is not a tensor of the graph. Inputs must be ctg::input, ctg::parameter, ctg::node types or ctg::ref<\"name\">.");
      return {};
    } else if constexpr (detail::unwrap_op<Op>::in_place && !op_type::traits.in_place) {
      static_assert(op_type::traits.in_place, "ctgraph: in-place requested in this node, but its op does not allow it (op_traits::in_place is false). Remove ctg::in_place<> or use an op that can overwrite its input.");
      return {};
    } else {
      tensor_handle::record r{};
      r.desc.name = Name.view();
      r.desc.kind = tensor_kind::node;
      r.desc.op_name = op_type::name;
      r.desc.traits = op_type::traits;
      r.desc.output = &op_type::output;
      r.desc.input_count = int(sizeof...(Inputs));
      r.desc.in_place = detail::unwrap_op<Op>::in_place;
      int i = 0;
      ((set_input<Inputs>(r, i++)), ...);
      return r;
    }
  }

 private:
  template <class In>
  static constexpr void set_input(tensor_handle::record& r, int i) {
    if constexpr (detail::is_ref<In>::value) r.desc.input_names[i] = In::referenced_name.view();
    else r.in[i] = &handle_of<In>;
  }
};

}  // namespace ctg
