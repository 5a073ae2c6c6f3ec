#pragma once
//! Graph inputs and parameters (user-owned tensors), state tensors (kept across runs), and
//! references to tensors by name.
#include <ctgraph/graph/node_desc.hpp>
#include <ctgraph/graph/shape.hpp>
#include <ctgraph/meta/fixed_string.hpp>

namespace ctg {

namespace detail {
template <tensor_kind Kind, fixed_string Name, class DT, class Shape>
struct leaf_tensor {
  static_assert(dtype<DT>, "ctgraph: the dtype of a graph input or parameter is not a dtype. Use ctg::f32, f16, bf16, i32, i64, u8 or boolean.");
  static_assert(!dtype<DT> || static_shape<Shape>, "ctgraph: the shape of a graph input or parameter is not a ctg::shape<...>. Write e.g. ctg::shape<16, 4096>.");
  static constexpr auto name = Name;
  static constexpr tensor_handle::edges inputs() { return {Name.view()}; }
  static constexpr node_desc describe() {
    node_desc d = leaf_desc(Kind, Name.view());
    if constexpr (dtype<DT> && static_shape<Shape>) d.out = describe_tensor<DT>(Shape{});  // else: asserted above
    return d;
  }
};
}  // namespace detail

//! A graph input: user-owned, bound at instantiation.
template <fixed_string Name, class DT, class Shape>
struct input : detail::leaf_tensor<tensor_kind::input, Name, DT, Shape> {};

//! A parameter (weights): user-owned, bound at instantiation.
template <fixed_string Name, class DT, class Shape>
struct parameter : detail::leaf_tensor<tensor_kind::parameter, Name, DT, Shape> {};

//! A state tensor: it lives across runs (a KV cache, a decode position). The memory planner
//! never places or reuses it: its memory class is `external`, like a graph input's. The executor
//! allocates it once at instantiation, zero-filled, unless it is bound like a parameter
//! (`ctg::bind("kv_cache", ptr, n)`), so that two executors (a prefill and a decode plan) can
//! share one cache. Nodes read it like any tensor; ops that set `op_traits::writes_state`
//! (ops::cache_write, ops::advance) write into it, and nodes after such a write read its output.
template <fixed_string Name, class DT, class Shape>
struct state : detail::leaf_tensor<tensor_kind::state, Name, DT, Shape> {};

//! Names a tensor of the graph without spelling its type (skip edges, generated graphs).
//! The named tensor must be reachable from the graph's outputs through other inputs.
template <fixed_string Name>
struct ref {
  static constexpr auto referenced_name = Name;
};

namespace detail {
// A member test rather than a partial specialization on ref<N>: nvcc 13 does not match a
// deduced class-type template parameter in a partial specialization.
template <class T>
struct is_ref : std::bool_constant<requires { T::referenced_name; }> {};
}  // namespace detail

//! A type that can be a node's input: a tensor type (with `describe()`) or a ref<>.
template <class T>
concept tensor = requires {
  { T::describe() } -> std::same_as<node_desc>;
  { T::inputs() } -> std::same_as<tensor_handle::edges>;
};

}  // namespace ctg
