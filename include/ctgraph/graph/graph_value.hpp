#pragma once
//! graph_value: a graph written as a constexpr value instead of types. Tensors are added by a
//! constexpr function (a loop over layers, with names made as it goes), and `make_plan<v>()`
//! plans it with the passes `make_plan<g>()` runs: the same plan. A graph of types instantiates a
//! class per tensor in each of nvcc's three front ends; a value does not (1,024 nodes with their
//! proof: nvcc 5.2 s against 10.2 s; 4,096 nodes 13.0 s against 46.8; tests/compile_time/RESULTS.md).
//!
//!   inline constexpr auto mlp = [] {
//!     ctg::graph_value<64> g;
//!     int h = g.input("x", ctg::tensor_of(ctg::dtype_id::bf16, {16, 1024}));
//!     for (int i = 0; i < 4; ++i) {
//!       const int w = g.parameter(ctg::numbered("w", i), ctg::tensor_of(ctg::dtype_id::bf16, {1024, 1024}));
//!       h = g.add<ctg::ops::relu>(ctg::numbered("h", i), {g.add<ctg::ops::matmul>(ctg::numbered("p", i), {h, w})});
//!     }
//!     g.output(h);
//!     return g;
//!   }();
//!   constexpr auto p = ctg::make_plan<mlp>();  // mlp: a static constexpr object
//!
//! Write large graphs as loops or in functions of a few hundred statements each (as an exporter
//! should): nvcc's device front end takes time superlinear in one function's size (a builder of
//! 5,463 straight statements: 10.1 s in cicc; the same in 22 functions of 256: 1.3 s).
//!
//! Names are kept inside the value (Chars characters in all), so the plan's names point into it:
//! plan a graph_value that is a static object. Size N and Chars as an exporter knows them: the
//! compilers keep every element of a constant, used or not (at 5,463 tensors, the default 16
//! characters a tensor held 62,311 unused ones and cost nvcc 64 MB). `inline constexpr` rather
//! than `static constexpr` at namespace scope: the planner's constants for a value of internal
//! linkage are internal too, and g++ without optimisation writes each into the object file (4,096
//! nodes: 6.9 MB of data and 0.4 s of nvcc's host compile; 3.1 MB inline). A mistake made while
//! adding (capacity, an input that is not an earlier tensor) is kept and reported by make_plan as
//! one static_assert, like a pass's.
//!
//! To run it, name its ops in its type, `graph_value<64, op_list<ops::matmul, ops::relu>>`: each
//! node records its op's place in the list, from which the executor takes the op's launch hook
//! (`instantiate<v>(...)`, runtime/executor.hpp; one hook per op type, not per node). Without a
//! list (`graph_value<64>`) any op may be added and the value plans and proves only.
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <type_traits>

#include <ctgraph/graph/errc.hpp>
#include <ctgraph/graph/node.hpp>
#include <ctgraph/graph/tensor_desc.hpp>
#include <ctgraph/meta/fixed_string.hpp>

namespace ctg {

//! The ops a graph_value may add, for the executor to run them.
template <class... Ops>
struct op_list {
  static constexpr std::size_t size = sizeof...(Ops);
  //! The place of Op in the list, or -1.
  template <class Op>
  static constexpr int index_of() {
    int i = 0, at = -1;
    ((at = at < 0 && std::is_same_v<Op, Ops> ? i : at, ++i), ...);
    return at;
  }
};

namespace detail {
template <class List, std::size_t I>
struct op_at;
template <class First, class... Rest>
struct op_at<op_list<First, Rest...>, 0> {
  using type = First;
};
template <class First, class... Rest, std::size_t I>
struct op_at<op_list<First, Rest...>, I> : op_at<op_list<Rest...>, I - 1> {};
template <class T>
inline constexpr bool is_op_list = false;
template <class... Ops>
inline constexpr bool is_op_list<op_list<Ops...>> = true;
}  // namespace detail

//! `Ops`: the op_list the executor runs the graph with, or void (any op; plan only).
template <std::size_t N, class Ops = void, std::size_t Chars = 16 * N>
class graph_value {
  static_assert(std::is_void_v<Ops> || detail::is_op_list<Ops>, "ctgraph: a graph_value's second argument lists its ops: ctg::graph_value<N, ctg::op_list<ops::matmul, ops::relu>> (or leave it out to plan only).");

 public:
  using op_types = Ops;
  static constexpr bool runnable = !std::is_void_v<Ops>;

  //! Each returns the tensor's index, for the inputs of the nodes after it.
  constexpr int input(std::string_view name, tensor_desc t) { return leaf(name, tensor_kind::input, t); }
  constexpr int parameter(std::string_view name, tensor_desc t) { return leaf(name, tensor_kind::parameter, t); }
  //! A state tensor (ctg::state): kept across runs, never placed by the memory planner.
  constexpr int state(std::string_view name, tensor_desc t) { return leaf(name, tensor_kind::state, t); }
  //! A node of op `Op` (with its template arguments: `add<ops::scale<1, 8>>`) on earlier tensors;
  //! its output comes from the op's output rule, as a node type's does.
  template <op Op>
  constexpr int add(std::string_view name, std::initializer_list<int> inputs, bool in_place = false) {
    if constexpr (runnable) {
      static_assert(Ops::template index_of<Op>() >= 0, "ctgraph: graph_value::add<Op>: Op is not in the graph_value's op list, so no executor could run it. Add it to the list: ctg::graph_value<N, ctg::op_list<..., Op>>.");
    }
    node_desc d{};
    d.kind = tensor_kind::node;
    const int* in = inputs.begin();  // by pointer, as push copies names (see there)
    for (std::size_t i = 0, n = inputs.size(); i < n; ++i) {
      const int v = in[i];
      if (d.input_count == max_inputs) {
        fail({errc::wrong_arity, count_});
        break;
      }
      if (v < 0 || v >= count_) fail({errc::value_input, count_});
      d.inputs[d.input_count++] = v >= 0 && v < count_ ? v : no_index;
    }
    describe_op<Op>(d);
    d.in_place = in_place;
    const int v = push(name, d);
    if constexpr (runnable)
      if (v >= 0) op_index_[v] = std::int16_t(Ops::template index_of<Op>());
    return v;
  }
  //! Marks tensor v as an output of the graph (it lives to the end of a run). Every tensor added
  //! is planned, whether an output needs it or not (a graph of types holds only what its outputs
  //! reach).
  constexpr void output(int v) {
    if (v >= 0 && v < count_) is_output_[v] = true;
    else fail({errc::value_input});
  }

  constexpr int tensor_count() const { return count_; }
  constexpr bool is_output(int v) const { return is_output_[v]; }
  //! The first mistake made while adding, or ok.
  constexpr status error() const { return error_; }
  //! The records as added, without their names: what flatten reads in place, one copy a tensor
  //! (a record copied is dozens of values for a constant evaluator).
  constexpr const node_desc* records() const { return nodes_; }
  //! Tensor v's name; it points into this value.
  constexpr std::string_view name(int v) const { return {names_ + name_at_[v], name_size_[v]}; }
  //! Node v's op: its place in the op list (-1 for graph inputs, parameters and state).
  constexpr int op_index(int v) const
    requires runnable
  {
    return op_index_[v];
  }

 private:
  constexpr int leaf(std::string_view name, tensor_kind kind, tensor_desc t) {
    const int v = push(name, leaf_desc(kind, {}, t));
    if constexpr (runnable)
      if (v >= 0) op_index_[v] = -1;
    return v;
  }
  constexpr int push(std::string_view name, const node_desc& d) {
    if (count_ == int(N) || used_ + name.size() > Chars) {
      fail({errc::value_capacity});
      return no_index;
    }
    name_at_[count_] = used_, name_size_[count_] = name.size();
    // By pointer: a string_view's iterator costs constant evaluators a call per character.
    const char* c = name.data();
    for (std::size_t i = 0, n = name.size(); i < n; ++i) names_[used_++] = c[i];
    nodes_[count_] = d;
    return count_++;
  }
  constexpr void fail(status s) {
    if (error_.code == errc::ok) error_ = s;
  }

  node_desc nodes_[N]{};
  bool is_output_[N]{};
  std::int16_t op_index_[runnable ? N : 1]{};
  std::size_t name_at_[N]{}, name_size_[N]{};
  char names_[Chars]{};
  int count_ = 0;
  std::size_t used_ = 0;
  status error_{};
};

namespace detail {
//! A graph_value v as a graph type: what make_plan, plan families and executors take.
template <auto& V>
struct value_graph {
  static constexpr auto& value = V;
};
}  // namespace detail

//! The graph type of graph_value v (a static object), for what takes a graph type;
//! `make_plan<v>()` and `instantiate<v>(...)` take the value itself. Any class whose static
//! member `value` is a graph_value is a graph type too, which is how a plan family of values is
//! written: `template <std::int64_t B> struct at { static constexpr auto value = model(B); };`
//! then `ctg::plan_family<at, 1, 2, 4, 8>`.
template <auto& V>
using graph_of = detail::value_graph<V>;

}  // namespace ctg
