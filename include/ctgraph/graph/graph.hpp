#pragma once
//! A graph: the nodes reachable from its outputs. `graph<y>`.
#include <boost/hana/tuple.hpp>
#include <boost/hana/type.hpp>

#include <ctgraph/graph/node.hpp>

namespace ctg {

namespace detail {
template <class T>
constexpr const tensor_handle* output_handle() {
  if constexpr (tensor<T>) return &handle_of<T>;
  else return nullptr;  // graph<> has rejected it
}
}  // namespace detail

template <class... Outputs>
struct graph {
  static_assert(sizeof...(Outputs) > 0, "ctgraph: the graph is empty. A graph is the set of nodes reachable from its outputs. Name at least one output: ctg::graph<y>.");
  static constexpr bool checked = (tensor<Outputs> && ...);
  static_assert(checked, "ctgraph: an output of the graph is not a tensor. Outputs must be ctg::node, ctg::input or ctg::parameter types.");

  //! The output types, for metaprograms over the graph.
  static constexpr auto outputs = boost::hana::tuple_t<Outputs...>;
  //! 0 for a graph rejected above, so make_plan stops there: one mistake, one error.
  static constexpr int output_count = checked ? int(sizeof...(Outputs)) : 0;
  //! Where `flatten` starts walking.
  static constexpr const tensor_handle* output_handles[sizeof...(Outputs) + 1] = {detail::output_handle<Outputs>()..., nullptr};
};

}  // namespace ctg
