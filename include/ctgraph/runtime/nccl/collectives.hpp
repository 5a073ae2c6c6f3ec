#pragma once
//! Collectives through NCCL's host API, sum only: all-reduce, reduce-scatter and all-gather on
//! `c.stream`. Each is one NCCL call, no allocation and no synchronisation, so it can be captured
//! into a CUDA graph (NCCL supports stream capture). Inputs live in the symmetric window; when
//! the output does too, NCCL 2.28 can pick its symmetric kernels, otherwise it runs its regular
//! algorithms (same result).
//!
//! Every rank must launch the same collectives in the same order with the same sizes.
#include <nccl.h>

#include <cstddef>
#include <string>

#include <ctgraph/runtime/error.hpp>
#include <ctgraph/runtime/launch_context.hpp>
#include <ctgraph/runtime/nccl/collective_context.hpp>
#include <ctgraph/runtime/nccl/error.hpp>

namespace ctg::runtime_ops {

namespace detail {
inline void check_collective(const launch_context& c, const collective_context& cc, const char* call) {
  if (c.node == nullptr) throw runtime_error("?", call, "the launch context has no node");
  if (cc.comm == nullptr) throw runtime_error(c.node->name, call, "no communicator");
  if (c.inputs[0] == nullptr) throw runtime_error(c.node->name, call, "input 0 has no device pointer");
  if (c.output == nullptr) throw runtime_error(c.node->name, call, "the output has no device pointer");
  if (cc.ranks < 1) throw runtime_error(c.node->name, call, "the communicator has " + std::to_string(cc.ranks) + " ranks");
}
}  // namespace detail

//! ncclAllReduce(c.inputs[0], c.output, out.elements(), dtype, ncclSum, cc.comm, c.stream).
inline void launch_all_reduce_nccl(const launch_context& c, const collective_context& cc) {
  detail::check_collective(c, cc, "ncclAllReduce");
  const tensor_desc& out = c.output_desc();
  const ncclDataType_t t = ctg::detail::nccl_dtype(out.dtype, c.node->name, "ncclAllReduce");
  if (out.elements() == 0) return;
  CTG_CHECK(c.node->name, ncclAllReduce(c.inputs[0], c.output, std::size_t(out.elements()), t, ncclSum, cc.comm, c.stream));
}

//! ncclReduceScatter: input 0 holds ranks × out.elements() elements; rank r receives the sum of
//! every rank's block r.
inline void launch_reduce_scatter_nccl(const launch_context& c, const collective_context& cc) {
  detail::check_collective(c, cc, "ncclReduceScatter");
  const tensor_desc& out = c.output_desc();
  const ncclDataType_t t = ctg::detail::nccl_dtype(out.dtype, c.node->name, "ncclReduceScatter");
  if (c.input_count > 0 && c.input_desc[0].elements() != out.elements() * cc.ranks)
    throw runtime_error(c.node->name, "ncclReduceScatter",
                        "input 0 has " + std::to_string(c.input_desc[0].elements()) + " elements; it needs ranks (" +
                            std::to_string(cc.ranks) + ") x output elements (" + std::to_string(out.elements()) + ")");
  if (out.elements() == 0) return;
  CTG_CHECK(c.node->name,
            ncclReduceScatter(c.inputs[0], c.output, std::size_t(out.elements()), t, ncclSum, cc.comm, c.stream));
}

//! ncclAllGather: out holds ranks × input elements; block r comes from rank r.
inline void launch_all_gather_nccl(const launch_context& c, const collective_context& cc) {
  detail::check_collective(c, cc, "ncclAllGather");
  const tensor_desc& out = c.output_desc();
  const ncclDataType_t t = ctg::detail::nccl_dtype(out.dtype, c.node->name, "ncclAllGather");
  if (out.elements() % cc.ranks != 0 || (c.input_count > 0 && c.input_desc[0].elements() * cc.ranks != out.elements()))
    throw runtime_error(c.node->name, "ncclAllGather",
                        "the output has " + std::to_string(out.elements()) + " elements; it needs ranks (" +
                            std::to_string(cc.ranks) + ") x input elements");
  const std::size_t send = std::size_t(out.elements() / cc.ranks);
  if (send == 0) return;
  CTG_CHECK(c.node->name, ncclAllGather(c.inputs[0], c.output, send, t, cc.comm, c.stream));
}

}  // namespace ctg::runtime_ops
