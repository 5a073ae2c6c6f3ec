#pragma once
//! Why a graph is rejected. Passes return a `status`; only `make_plan` turns it into a
//! static_assert, so the same passes also run at run time.
#include <cstdint>
#include <string_view>

//! The error catalogue: every reason a graph is rejected, once. Per row: the code; what a plan
//! says at run time (`describe`); the message make_plan's static_assert prints, which says the
//! fix (the instantiation context above it names the node). Empty: no compile-time message (the
//! run-time builder's capacity; an ill-formed node's own static_assert has spoken). The README's
//! "Errors" table and the compile-fail tests' expectations are checked against these rows
//! (tests/fail/check_catalogue.py).
#define CTGRAPH_ERRORS(X) \
  X(empty_graph, "the graph has no node to run", \
    "ctgraph: the graph has no node to run; its outputs are all graph inputs or parameters. Make an output a ctg::node.") \
  X(duplicate_name, "two different tensors have the same name", \
    "ctgraph: two different tensors share the name of this node. Names must be unique in a graph. Rename one (ctg::indexed<\"h\", I> makes numbered names).") \
  X(unknown_tensor, "a ref<> names no tensor of the graph", \
    "ctgraph: this node uses a tensor that is not in the graph (a ctg::ref<> whose name no reachable tensor has; see Other). Fix the name or make the tensor reachable from the graph's outputs.") \
  X(cycle, "the graph has a cycle", \
    "ctgraph: this node is on a cycle closed by ctg::ref<>. A graph must be acyclic. Remove the ref that points forward.") \
  X(wrong_arity, "the op got the wrong number of inputs", \
    "ctgraph: this node gives its op the wrong number of inputs. Check the op's arity (matmul, batched_matmul, add and mul take 2; unary ops, copies, permute, transpose, slice and split take 1; cat takes 1 to ctg::max_inputs; linear takes x, W, then an optional bias [N] and an optional residual [M,N]; attention takes packed qkv or q, k, v; cache_attention takes q, the K and V caches and a position; cache_write takes the state, a position and rows; cache_read takes a state and a position; advance takes a position, then what it waits for).") \
  X(dtype_mismatch, "the inputs' dtypes do not fit the op", \
    "ctgraph: the input dtypes of this node do not fit its op. Its inputs must have one dtype (ctgraph has no cast op), but for token ids and positions, which are i32 or i64 (embedding, rotary, cache_write, cache_read, cache_attention, advance); attention reads f16 or bf16, argmax a float dtype. Declare the graph inputs and parameters with that dtype, or convert in a user op (see 'Writing an op' in the README).") \
  X(shape_mismatch, "the inputs' shapes do not fit the op", \
    "ctgraph: the input shapes of this node do not fit its op. Each op's rule is in its header (graph/ops/): matmul takes rank-2 tensors, a norm's weight is x's last dimension, rotary takes x [..., T, H*D] and positions [T] or one, attention [T, ...] or [B, T, ...] with a head dimension of 64 or 128, cache_attention q [T, H*D] and two caches of one shape [S, KVH*D] (T <= S), a linear's residual is [M,N] without activation, batched_matmul takes [B,M,K] and [B,K,N] of one batch B, permute names every dimension once, a slice ends within its dimension, split's sizes add up to its dimension, cat's inputs agree in every dimension but its own, cache_write's rows match the state in every dimension but Dim, where they fit in it, cache_read's Extent fits the state, and a position has one element. Fix the shapes or reshape first.") \
  X(broadcast_order, "input 1 of an elementwise op is larger than input 0", \
    "ctgraph: input 1 of this elementwise node is larger than input 0. Only input 1 broadcasts, and the output takes input 0's shape, so input 0 must be the larger. Swap the inputs (add and mul commute).") \
  X(broadcast_shape, "input 1 of an elementwise op does not broadcast to input 0", \
    "ctgraph: input 1 of this elementwise node does not broadcast to input 0's shape. Input 1 must have input 0's shape or broadcast over leading dimensions: after its leading 1s, its extents are input 0's last ones ([M,N] + [N], [B,T,D] + [T,D], [M,N] * [1,N]; not [M,N] * [M,1]). Fix the shapes or reshape first.") \
  X(inner_dim_mismatch, "matmul inner dimensions differ", \
    "ctgraph: matmul inner dimensions differ in this node. A[M,K] x B[K,N] needs the columns of A to equal the rows of B. Fix the shapes: a weight stored as [N,K] is declared as a parameter of shape [K,N] only if its memory is in that order.") \
  X(element_count_mismatch, "reshape changes the number of elements", \
    "ctgraph: reshape changes the number of elements in this node. A view cannot grow or shrink its source. Give ops::reshape a shape with as many elements.") \
  X(in_place_not_allowed, "in-place requested on an op that does not allow it", \
    "ctgraph: in-place requested in this node, but its op does not allow it (op_traits::in_place is false). Remove ctg::in_place<> or use an op that can overwrite its input.") \
  X(in_place_conflict, "in-place requested, but its input is read later or not planned", \
    "ctgraph: in-place requested in this node, but its first input (Other) is read later, is a graph output or input, or differs in size or memory class. Remove ctg::in_place<> or make this node the input's last reader.") \
  X(collective_dtype, "the collective's dtype has no NCCL symmetric kernel (sum: f32, f16, bf16)", \
    "ctgraph: this collective's dtype has no NCCL symmetric kernel. NCCL's symmetric kernels sum f32, f16 and bf16 (other dtypes fall back silently to slower kernels). Declare the tensor as f32, f16 or bf16 (ctgraph has no cast op), or convert it in a user op.") \
  X(view_of_opaque, "a view of an opaque op's output", \
    "ctgraph: this node is a view of an opaque op's output (Other). The planner does not own that storage, so it cannot alias it. Copy the output first or make the op an out-variant.") \
  X(not_capturable, "a node that cannot be captured, in a graph planned as one capturable partition", \
    "ctgraph: this node cannot be captured, but the graph was planned as one capturable partition (plan_options::one_partition). Move the node out of the graph or drop the option to get a fallback region.") \
  X(capacity, "the graph builder's capacity is too small for the inserted copies", \
    "") \
  X(too_many_partitions, "the graph has more partitions (capturable runs and fallback regions) than ctg::max_partitions", \
    "ctgraph: this node starts a partition past ctg::max_partitions: capturable runs and fallback regions alternate more often than one plan holds (256 unless CTG_MAX_PARTITIONS says otherwise). Make its op capturable, bring the uncapturable nodes together so that fewer fallback regions split the graph, or define CTG_MAX_PARTITIONS to a larger count before including ctgraph.") \
  X(host_reads_device, "a host op reads a tensor that is not in pinned host memory", \
    "ctgraph: this host op reads a node's output (Other) that is not in pinned host memory (or a state tensor, which is on the device). A host op dereferences its inputs on the host. Insert a ctg::ops::to_host node before it.") \
  X(state_write_target, "a node writes state into a tensor that is not a state tensor", \
    "ctgraph: this node writes state, but its input 0 (Other) is not a state tensor. An op that writes state (op_traits::writes_state: ops::cache_write, ops::advance) writes into a ctg::state or into the output of an earlier write to one. Declare the tensor as ctg::state<\"name\", dtype, ctg::shape<...>>.") \
  X(state_read_unordered, "a node reads state that a write replaces without running before the write", \
    "ctgraph: this node writes state that a node (Other) also reads or writes without running before it. Every other reader of the state a write replaces must be an input of the writing node or lead to one; nodes after the write read its output, and a second write writes into it. Read this node's output instead, or make the reader an input of this node (ops::advance waits for its extra inputs).") \
  X(ill_formed, "the node's type is ill-formed", \
    "") \
  X(value_capacity, "a graph_value holds more tensors or name characters than its capacity", \
    "ctgraph: the graph_value has more tensors or name characters than its capacity. Raise its capacity: ctg::graph_value<Tensors, Ops, NameChars> (Ops: void to plan only; NameChars: all its names' characters, 16 a tensor unless given).") \
  X(value_input, "an input of a graph_value's node is not a tensor added before it", \
    "ctgraph: an input of this node is not a tensor of the graph_value added before it. Pass the index that input(), parameter(), state() or add() returned for an earlier tensor.") \
  X(value_output, "a graph_value has no output", \
    "ctgraph: the graph_value has no output. Call output(v) with the index that add() returned for each node whose value the graph gives.")

namespace ctg {

enum class errc : std::uint8_t {
  ok,
#define CTGRAPH_ERRC_CODE(code, brief, message) code,
  CTGRAPH_ERRORS(CTGRAPH_ERRC_CODE)
#undef CTGRAPH_ERRC_CODE
};

//! A pass result: what went wrong and at which node (index into the flat graph).
struct status {
  errc code = errc::ok;
  int node = -1;   // no_index (graph/node_desc.hpp): none
  int other = -1;  // a second node involved (the earlier tensor of a duplicate name, a later reader)
  constexpr explicit operator bool() const { return code == errc::ok; }
};

constexpr std::string_view describe(errc e) {
  switch (e) {
    case errc::ok: return "ok";
#define CTGRAPH_ERRC_BRIEF(code, brief, message) \
  case errc::code: return brief;
    CTGRAPH_ERRORS(CTGRAPH_ERRC_BRIEF)
#undef CTGRAPH_ERRC_BRIEF
  }
  return "?";
}

}  // namespace ctg
