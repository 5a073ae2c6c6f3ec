#pragma once
//! ctg::communicator: the user's NCCL communicator and how to run all_reduce. Without NCCL it
//! is empty: a build without NCCL has no collectives to run.
#include <cstddef>

#include <ctgraph/runtime/nccl/available.hpp>

#include <optional>

#if CTGRAPH_NCCL
#include <nccl.h>
#endif

namespace ctg {

#if CTGRAPH_NCCL
//! The user's NCCL communicator (initialised by the user, one GPU per rank; the executor never
//! creates or destroys it) and how to run all_reduce.
struct communicator {
  ncclComm_t comm = nullptr;
  std::optional<int> rank;  // when given, checked against the communicator's rank
  //! ncclAllReduce on the symmetric window (NCCL's symmetric kernels), a one-shot kernel on the
  //! NCCL device API (sums in rank order: identical bits on every rank), or by size.
  enum class all_reduce_algorithm { automatic, nccl, one_shot } all_reduce = all_reduce_algorithm::automatic;
  std::size_t one_shot_max_bytes = std::size_t{256} << 10;  // automatic: one-shot up to this size
};
#else
struct communicator {};
#endif

}  // namespace ctg
