#pragma once
//! What a launch sees: the stream, the node (its output tensor, traits and scalar), device
//! pointers of its inputs and output, and the cuBLASLt handle and workspace of the executor.
//! Built-in ops launch from it, and so do user-defined ops' `static void launch(const
//! ctg::launch_context&)` hooks.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <ctgraph/graph/launch.hpp>

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

}  // namespace ctg
