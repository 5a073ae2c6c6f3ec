#pragma once
//! call_on_host: a host op's launch. The host op needs its inputs on the host: wait for the
//! stream, then call `fn` with the host buffers.
#include <cuda_runtime.h>

#include <ctgraph/graph/ops/host_op.hpp>
#include <ctgraph/runtime/error.hpp>
#include <ctgraph/runtime/launch_context.hpp>

namespace ctg {

template <class Fn>
void call_on_host(const launch_context& c, const Fn& fn) {
  CTG_CHECK(c.node->name, cudaStreamSynchronize(c.stream));
  host_args a;
  a.input_count = c.input_count;
  for (int k = 0; k < c.input_count; ++k) a.inputs[k] = c.inputs[k], a.input_desc[k] = c.input_desc[k];
  a.output = c.output;
  a.output_desc = c.output_desc();
  fn(a);
}

}  // namespace ctg
