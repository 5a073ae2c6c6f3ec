#pragma once
//! What a launch sees: the stream, the node (name, output tensor, traits), device pointers of
//! its inputs and output, the cuBLASLt handle and workspace of the executor, and the executor's
//! collectives (plans with collectives only). Launch hooks take it, built-in and user ops alike;
//! typed hooks get a `node_launch<Node>`, the same context with the node's type.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstddef>

#include <ctgraph/graph/node_desc.hpp>
#include <ctgraph/graph/ops/matmul.hpp>

namespace ctg {

class symmetric_collectives;  // runtime/nccl/symmetric_collectives.hpp (NCCL builds)

//! A product the plan runs in another's launch (a sibling product of the same A,
//! passes/fuse.hpp): its node, its W (the product's input 1) and its output.
struct sibling_launch {
  const node_desc* node = nullptr;
  const void* w = nullptr;
  tensor_desc w_desc{};
  bool w_fixed = false;
  void* output = nullptr;
};

//! A cache write the plan runs in the launch of the attention that reads the cache
//! (passes/fuse.hpp): its node, the rows it writes (a rotary's input where one is folded into it,
//! with that rotary's positions) and the cache it writes (its output).
struct cache_write_launch {
  const node_desc* node = nullptr;
  const void* rows = nullptr;
  tensor_desc rows_desc{};
  const void* rotary_positions = nullptr;
  tensor_desc rotary_positions_desc{};
  void* cache = nullptr;
};

struct launch_context {
  cudaStream_t stream = nullptr;
  const node_desc* node = nullptr;
  const void* inputs[max_inputs]{};
  tensor_desc input_desc[max_inputs]{};
  //! Per input: nothing that may still run when the node starts writes it (a graph input or
  //! parameter, bound by the user, or a state that no node before this one writes but in this
  //! node's own launch), so a kernel may read it before it waits for the kernel before it
  //! (programmatic dependent launch). False where unknown.
  bool input_fixed[max_inputs]{};
  int input_count = 0;
  void* output = nullptr;
  cublasLtHandle_t cublas_lt = nullptr;
  void* workspace = nullptr;
  std::size_t workspace_bytes = 0;
  const symmetric_collectives* collectives = nullptr;
  //! A sibling lead's products of the same A that this launch computes too, in schedule order.
  sibling_launch siblings[ops::max_sibling_products - 1]{};
  int sibling_count = 0;
  //! An attention's cache writes (K's, then V's) that this launch runs too.
  cache_write_launch cache_writes[2]{};
  int cache_write_count = 0;

  constexpr const tensor_desc& output_desc() const { return node->out; }
  template <class T>
  const T* input(int i) const { return static_cast<const T*>(inputs[i]); }
  template <class T>
  T* out() const { return static_cast<T*>(output); }
  //! Output k of a node whose op (Op) has several outputs: they share the node's buffer.
  template <class Op, class T>
  T* out(int k) const {
    if (output == nullptr) return nullptr;
    return reinterpret_cast<T*>(static_cast<std::byte*>(output) + output_offset<Op>(std::span<const tensor_desc>(input_desc, std::size_t(input_count)), k));
  }
};

//! The context a typed launch hook gets: `Launch::node_type` is the node's type (void for a copy
//! the planner inserted), so a hook can read its inputs' types and `ctg::static_desc<...>`.
template <class Node>
struct node_launch : launch_context {
  using node_type = Node;
};

//! The launch of sibling j of c (a product's own inputs: W at input 1) on c's other inputs, as
//! its own product.
inline launch_context sibling_context(const launch_context& c, int j) {
  launch_context p = c;
  const sibling_launch& x = c.siblings[j];
  p.node = x.node, p.inputs[1] = x.w, p.input_desc[1] = x.w_desc, p.input_fixed[1] = x.w_fixed, p.output = x.output;
  p.sibling_count = 0;
  return p;
}

//! The launch of c with input k left out (those after it move down one): a reader's own inputs,
//! where a prologue's extra input stands at k.
inline launch_context without_input(const launch_context& c, int k) {
  launch_context p = c;
  for (int j = k; j + 1 < c.input_count; ++j)
    p.inputs[j] = c.inputs[j + 1], p.input_desc[j] = c.input_desc[j + 1], p.input_fixed[j] = c.input_fixed[j + 1];
  p.input_count = c.input_count - 1;
  return p;
}

}  // namespace ctg
