#pragma once
//! The flat, value-level record of one tensor of a graph (a graph input, a parameter, a state
//! tensor or a node).
//! Node types are turned into these exactly once, by `flatten`. It holds what the planner needs;
//! how a node runs (its op's hooks) the runtime takes from the node's type.
#include <cstdint>
#include <span>
#include <string_view>

#include <ctgraph/graph/op.hpp>
#include <ctgraph/graph/tensor_desc.hpp>

namespace ctg {

//! What a tensor of the graph is: a graph input or parameter (the user's), a state tensor (kept
//! across runs: plan-owned or the user's), or a node's output.
enum class tensor_kind : std::uint8_t { input, parameter, node, state };

//! The one meaning of -1 wherever ctgraph stores an index (of a tensor, a step or a partition):
//! there is none.
inline constexpr int no_index = -1;

inline constexpr int max_inputs = 8;  // node_desc::ref_inputs holds a bit per input

struct node_desc {
  std::string_view name;
  tensor_kind kind = tensor_kind::node;
  const op_desc* op = &no_op;          // its op's facts (graph/op.hpp), one per op type
  tensor_desc out{};                   // inferred by `validate` where op->output is set
  int input_count = 0;
  int inputs[max_inputs]{no_index, no_index, no_index, no_index, no_index, no_index, no_index, no_index};  // indices into the flat graph
  bool in_place = false;               // the user asked for the output to take input 0's buffer
  bool inserted = false;               // a copy the placement pass inserted ("x.to_symmetric")
  bool ill_formed = false;             // the node's type failed a static_assert: no plan for it
  std::uint8_t ref_inputs = 0;         // bit k: input k is a ref<"name">, so no type leads to it
};

//! The record of a graph input, parameter or state tensor: the user's storage (external), never
//! the planner's, of description `out`. One definition for types, values and run-time builders.
constexpr node_desc leaf_desc(tensor_kind kind, std::string_view name, tensor_desc out = {}) {
  node_desc d{};
  d.name = name;
  d.kind = kind;
  d.op = &leaf_op;
  d.out = out;
  return d;
}

//! A type-erased handle to a tensor type, so that `flatten` can walk node types with a loop.
//! (A virtual call instead of a function pointer: nvcc instantiates a constexpr function whose
//! address is taken at once, which recurses through the whole graph; a virtual member is not.)
//! One virtual function per tensor type: each is an instantiation, which costs more than
//! evaluating it.
struct tensor_handle {
  struct edges {
    std::string_view name;
    int count = 0;
    const tensor_handle* in[max_inputs]{};  // null where the input is a ref<"name">
    //! Where a node has ref<> inputs: the names they refer to, by slot (a per-type array, so that
    //! nodes without refs carry one null pointer instead of a name per slot).
    const std::string_view* ref = nullptr;
  };
  struct record {
    edges e;
    node_desc d;
  };
  virtual constexpr record describe() const = 0;
};

namespace detail {
template <class T>
struct handle_impl final : tensor_handle {
  constexpr record describe() const override { return {T::inputs(), T::describe()}; }
};
}  // namespace detail

template <class T>
inline constexpr detail::handle_impl<T> handle_of{};

}  // namespace ctg
