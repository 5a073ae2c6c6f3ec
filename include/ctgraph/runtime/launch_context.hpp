#pragma once
//! What a launch sees: the stream, the node (its output tensor, traits and scalar), device
//! pointers of its inputs and output, and the cuBLASLt handle and workspace of the executor.
//! Built-in ops launch from it, and so do user-defined ops' `static void launch(const
//! ctg::launch_context&)` hooks.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <ctgraph/graph/launch.hpp>
#include <ctgraph/passes/flat_graph.hpp>

namespace ctg {

struct launch_context {
  cudaStream_t stream = nullptr;
  const node_desc* node = nullptr;
  const void* inputs[max_inputs]{};
  tensor_desc input_desc[max_inputs]{};
  int input_count = 0;
  void* output = nullptr;
  cublasLtHandle_t cublas_lt = nullptr;
  void* workspace = nullptr;
  std::size_t workspace_bytes = 0;

  constexpr const tensor_desc& output_desc() const { return node->out; }
  template <class T>
  const T* input(int i) const { return static_cast<const T*>(inputs[i]); }
  template <class T>
  T* out() const { return static_cast<T*>(output); }
};

//! The context of node `v` of a planned graph whose tensors live at `pointers` (by node index).
template <std::size_t N>
launch_context context_of(const flat_graph<N>& g, int v, void* const* pointers, cudaStream_t stream,
                          cublasLtHandle_t cublas_lt, void* workspace, std::size_t workspace_bytes) {
  const node_desc& d = g.nodes[v];
  launch_context c;
  c.stream = stream;
  c.node = &d;
  c.input_count = d.input_count;
  for (int k = 0; k < d.input_count; ++k) {
    c.inputs[k] = pointers[d.inputs[k]];
    c.input_desc[k] = g.nodes[d.inputs[k]].out;
  }
  c.output = pointers[v];
  c.cublas_lt = cublas_lt;
  c.workspace = workspace;
  c.workspace_bytes = workspace_bytes;
  return c;
}

}  // namespace ctg
