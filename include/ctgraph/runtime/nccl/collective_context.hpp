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
//! NCCL's data type, in dtype_id order.
inline constexpr ncclDataType_t nccl_data_type[] = {ncclFloat32, ncclFloat16, ncclBfloat16, ncclInt32, ncclInt64, ncclUint8, ncclUint8};  // bool: its byte
static_assert(sizeof(nccl_data_type) / sizeof(nccl_data_type[0]) == std::size_t(dtype_count));

inline ncclDataType_t nccl_dtype(dtype_id d, std::string_view node, const char* call) {
  if (!is_floating(d))
    throw runtime_error(node, call,
                        "dtype " + std::string(name_of(d)) + " is not supported; collectives run on f32, f16 and bf16 "
                        "(NCCL's symmetric kernels cover sum on these)");
  return nccl_data_type[int(d)];
}
}  // namespace detail

}  // namespace ctg
