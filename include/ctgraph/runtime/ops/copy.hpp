#pragma once
//! launch_copy: the copy ops' launch (to_host, to_device, to_symmetric): input 0's bytes into the
//! output, one cudaMemcpyAsync on the node's stream (a memcpy node when captured).
#include <cuda_runtime.h>

#include <ctgraph/runtime/error.hpp>
#include <ctgraph/runtime/launch_context.hpp>

namespace ctg {

inline void launch_copy(const launch_context& c) {
  CTG_CHECK(c.node->name, cudaMemcpyAsync(c.output, c.inputs[0], c.output_desc().bytes(), cudaMemcpyDefault, c.stream));
}

}  // namespace ctg
