#pragma once
//! A graph: the nodes reachable from its outputs. `graph<y>`.
#include <boost/hana/tuple.hpp>
#include <boost/hana/type.hpp>

#include <ctgraph/graph/node.hpp>

namespace ctg {

template <class... Outputs>
struct graph {
  static_assert(sizeof...(Outputs) > 0, "ctgraph: the graph is empty. A graph is the set of nodes reachable from its outputs. Name at least one output: ctg::graph<y>.");
  static_assert((tensor<Outputs> && ...), "ctgraph: an output of the graph is not a tensor. Outputs must be ctg::node, ctg::input or ctg::parameter types.");

  //! The output types, for metaprograms over the graph.
  static constexpr auto outputs = boost::hana::tuple_t<Outputs...>;
  static constexpr int output_count = int(sizeof...(Outputs));
  //! Where `flatten` starts walking.
  static constexpr const tensor_handle* output_handles[sizeof...(Outputs) + 1] = {&handle_of<Outputs>..., nullptr};
};

}  // namespace ctg
