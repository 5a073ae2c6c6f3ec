#pragma once
//! launch_local: runs one node that needs no communicator — built-in kernels, copies (memcpy
//! nodes when captured), views, host ops, user launch hooks. Returns false for collectives, whose
//! launch needs the executor's communicator and window. Shared by the executor and by the
//! benchmarks' eager baselines, so both run exactly the same launches.
#include <cuda_runtime.h>

#include <ctgraph/runtime/error.hpp>
#include <ctgraph/runtime/launch_context.hpp>
#include <ctgraph/runtime/ops/elementwise.cuh>
#include <ctgraph/runtime/ops/matmul.hpp>

namespace ctg::runtime_ops {

inline bool launch_local(const launch_context& c) {
  const node_desc& d = *c.node;
  switch (d.builtin) {
    case builtin_op::matmul: launch_matmul(c); return true;
    case builtin_op::relu: case builtin_op::gelu: case builtin_op::scale: case builtin_op::add: case builtin_op::mul:
      launch_elementwise(c);
      return true;
    case builtin_op::to_host: case builtin_op::to_device: case builtin_op::to_symmetric:
      CTG_CHECK(d.name, cudaMemcpyAsync(c.output, c.inputs[0], d.out.bytes(), cudaMemcpyDefault, c.stream));
      return true;
    case builtin_op::view: return true;
    case builtin_op::host: {
      // The host op needs its inputs on the host: wait for the stream, then call it.
      CTG_CHECK(d.name, cudaStreamSynchronize(c.stream));
      host_args a;
      a.input_count = c.input_count;
      for (int k = 0; k < c.input_count; ++k) a.inputs[k] = c.inputs[k], a.input_desc[k] = c.input_desc[k];
      a.output = c.output;
      a.output_desc = d.out;
      d.host(a);
      return true;
    }
    case builtin_op::custom: d.launch(c); return true;
    default: return false;
  }
}

}  // namespace ctg::runtime_ops
