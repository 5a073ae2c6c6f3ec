#pragma once
//! What the runtime needs from a node to run it, in CUDA-free terms: which built-in kernel, or
//! which user hook. The runtime defines `launch_context` (runtime/launch_context.hpp); the core
//! only names it, so user ops can declare `static void launch(const ctg::launch_context&)`.
#include <cstdint>

#include <ctgraph/graph/node_desc.hpp>

namespace ctg {

struct launch_context;
using launch_hook = void (*)(const launch_context&);

//! A host op's view of its buffers (pinned host memory).
struct host_args {
  const void* inputs[max_inputs]{};
  tensor_desc input_desc[max_inputs]{};
  int input_count = 0;
  void* output = nullptr;
  tensor_desc output_desc{};
  template <class T>
  const T* input(int i) const { return static_cast<const T*>(inputs[i]); }
  template <class T>
  T* out() const { return static_cast<T*>(output); }
};
using host_hook = void (*)(const host_args&);

}  // namespace ctg
