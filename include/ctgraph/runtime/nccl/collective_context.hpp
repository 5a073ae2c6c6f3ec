#pragma once
//! What a collective's launch needs besides the `launch_context`: the communicator, and for the
//! one-shot all-reduce the symmetric window that holds input 0, its offset there and the device
//! communicator. The executor fills one per collective node at instantiation.
#include <nccl.h>

#include <cstddef>
#include <string>

#include <ctgraph/graph/dtype.hpp>
#include <ctgraph/runtime/error.hpp>

struct ncclDevComm;

namespace ctg {

struct collective_context {
  ncclComm_t comm = nullptr;
  int ranks = 1;                          // ranks of `comm` (ncclCommCount)
  // One-shot all-reduce only:
  ncclWindow_t window = nullptr;          // the symmetric window that holds c.inputs[0]
  std::size_t input_offset = 0;           // byte offset of c.inputs[0] in `window`, the same on every rank
  const ncclDevComm* dev = nullptr;       // from a ctg::device_comm
};

namespace detail {
//! NCCL's data type for a ctgraph dtype; throws for those the collectives do not take.
inline ncclDataType_t nccl_dtype(dtype_id d, std::string_view node, const char* call) {
  switch (d) {
    case dtype_id::f32: return ncclFloat32;
    case dtype_id::f16: return ncclFloat16;
    case dtype_id::bf16: return ncclBfloat16;
    default:
      throw runtime_error(node, call,
                          "dtype " + std::string(name_of(d)) + " is not supported; collectives run on f32, f16 and bf16 "
                          "(NCCL's symmetric kernels cover sum on these)");
  }
}
}  // namespace detail

}  // namespace ctg
