#pragma once
//! All-reduce (sum) two ways, both capturable into a CUDA graph:
//! - `launch_all_reduce_nccl` (collectives.hpp): ncclAllReduce on the symmetric window.
//! - `launch_all_reduce_one_shot`: one kernel on the NCCL device API. Each CTA syncs an LSA
//!   barrier with its peers (its inputs are written), reads input 0 at the same window offset on
//!   every peer (`ncclGetLsaPointer`), sums in rank order 0..ranks-1 in float (so every rank gets
//!   the same bits), writes `c.output` (local memory, inside the window or not), and syncs the
//!   barrier again so no peer overwrites its input before everyone has read it. With one rank it
//!   is a copy.
//! Reduce-scatter and all-gather run through NCCL only (collectives.hpp, included here).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <nccl.h>
#include <nccl_device.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include <ctgraph/runtime/ops/float_conversion.cuh>
#include <ctgraph/runtime/dtype.hpp>
#include <ctgraph/runtime/error.hpp>
#include <ctgraph/runtime/launch_context.hpp>
#include <ctgraph/runtime/nccl/collective_context.hpp>
#include <ctgraph/runtime/nccl/collectives.hpp>
#include <ctgraph/runtime/nccl/error.hpp>

#if NCCL_VERSION_CODE < 22809
#error "ctgraph: the one-shot all-reduce needs NCCL 2.28.9 or newer headers (ncclLsaBarrierSession on ncclTeamTagLsa)."
#endif

namespace ctg::runtime_ops {

namespace detail::one_shot {

inline constexpr int block = 512;


//! out[i] = sum over LSA ranks p = 0..ranks-1 of input_p[i], input_p = the window at `in_offset`
//! on rank p. The first `packs` × (16 / sizeof(T)) elements move as 16-byte packs (the caller has
//! checked alignment), the rest one by one. CTA b uses LSA barrier b (gridDim.x <= barriers).
//! Templated on the element type only: nvcc rejects class-type template arguments with array
//! members on __global__ templates.
template <class T>
__global__ void __launch_bounds__(block)
    all_reduce_kernel(ncclWindow_t window, std::size_t in_offset, T* out, std::int64_t packs, std::int64_t n, ncclDevComm dev) {
  ncclLsaBarrierSession<ncclCoopCta> bar{ncclCoopCta(), dev, ncclTeamLsa(dev), dev.lsaBarrier, blockIdx.x};
  // Acquire: see what peers wrote to their inputs before they arrived (release).
  bar.sync(ncclCoopCta(), cuda::memory_order_acq_rel);

  const int ranks = dev.lsaSize;
  const std::int64_t stride = std::int64_t(gridDim.x) * blockDim.x;
  const std::int64_t first = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  constexpr int width = vector_bytes / int(sizeof(T));
  for (std::int64_t p = first; p < packs; p += stride) {
    float acc[width];
    T x[width];
    uint4 u = static_cast<const uint4*>(ncclGetLsaPointer(window, in_offset, 0))[p];
    memcpy(x, &u, vector_bytes);
#pragma unroll
    for (int k = 0; k < width; ++k) acc[k] = to_float(x[k]);  // rank 0's value itself: -0 stays -0
    for (int peer = 1; peer < ranks; ++peer) {
      u = static_cast<const uint4*>(ncclGetLsaPointer(window, in_offset, peer))[p];
      memcpy(x, &u, vector_bytes);
#pragma unroll
      for (int k = 0; k < width; ++k) acc[k] += to_float(x[k]);
    }
#pragma unroll
    for (int k = 0; k < width; ++k) x[k] = from_float<T>(acc[k]);
    memcpy(&u, x, vector_bytes);
    reinterpret_cast<uint4*>(out)[p] = u;
  }
  for (std::int64_t i = packs * width + first; i < n; i += stride) {
    float acc = to_float(static_cast<const T*>(ncclGetLsaPointer(window, in_offset, 0))[i]);
    for (int peer = 1; peer < ranks; ++peer) acc += to_float(static_cast<const T*>(ncclGetLsaPointer(window, in_offset, peer))[i]);
    out[i] = from_float<T>(acc);
  }

  // Release: our reads of peers' inputs happen before they pass this barrier and reuse them.
  bar.sync(ncclCoopCta(), cuda::memory_order_release);
}

template <class T>
void launch_typed(const launch_context& c, const collective_context& cc, std::int64_t n) {
  constexpr int width = vector_bytes / int(sizeof(T));
  T* out = static_cast<T*>(c.output);
  const bool vector = cc.input_offset % vector_bytes == 0 && reinterpret_cast<std::uintptr_t>(out) % vector_bytes == 0;
  const std::int64_t packs = vector ? n / width : 0;
  // The grid depends on n and T only, so it is the same on every rank: CTA b of every rank
  // meets on barrier b.
  const std::int64_t threads_wanted = (n + width - 1) / width;
  const unsigned grid = unsigned(std::clamp<std::int64_t>((threads_wanted + block - 1) / block, 1, cc.dev->lsaBarrier.nBarriers));
  all_reduce_kernel<T><<<grid, block, 0, c.stream>>>(cc.window, cc.input_offset, out, packs, n, *cc.dev);
  CTG_CHECK(c.node->name, cudaGetLastError());
}

}  // namespace detail::one_shot

//! The one-shot all-reduce (sum) of `c.inputs[0]` (which is `cc.window` at `cc.input_offset`,
//! the same offset on every rank) into `c.output`: `c.node->out.elements()` elements of f32,
//! f16 or bf16, summed in float in rank order. Needs `cc.dev` (a ctg::device_comm of the same
//! communicator) with every rank in one LSA (load/store) team. Runs at most
//! `cc.dev->lsaBarrier.nBarriers` CTAs; all ranks must launch it in the same order, and two
//! one-shot kernels on one device_comm must not run concurrently (they share barriers).
//! No allocation, no synchronisation: capturable. Throws ctg::runtime_error.
inline void launch_all_reduce_one_shot(const launch_context& c, const collective_context& cc) {
  constexpr const char* call = "launch_all_reduce_one_shot";
  detail::check_collective(c, cc, call);
  if (cc.window == nullptr) throw runtime_error(c.node->name, call, "no symmetric window; input 0 must live in the symmetric arena");
  if (cc.dev == nullptr) throw runtime_error(c.node->name, call, "no device communicator (ctg::device_comm)");
  if (cc.dev->lsaSize != cc.dev->nRanks)
    throw runtime_error(c.node->name, call,
                        "the one-shot all-reduce reads every peer by load/store, but only " + std::to_string(cc.dev->lsaSize) +
                            " of " + std::to_string(cc.dev->nRanks) + " ranks share an LSA team; use launch_all_reduce_nccl");
  if (cc.dev->lsaBarrier.nBarriers < 1) throw runtime_error(c.node->name, call, "the device communicator has no LSA barriers");
  const std::int64_t n = c.output_desc().elements();
  const dtype_id t = c.output_desc().dtype;
  if (c.input_count > 0 && (c.input_desc[0].elements() != n || c.input_desc[0].dtype != t))
    throw runtime_error(c.node->name, call, "input 0 and the output differ in dtype or element count");
  if (n == 0) return;
  const bool launched = with_float_type(t, [&](auto e) { detail::one_shot::launch_typed<typename decltype(e)::type>(c, cc, n); });
  if (!launched)
    throw runtime_error(c.node->name, call,
                        "dtype " + std::string(name_of(t)) + " is not supported; the all-reduce runs on f32, f16 and bf16");
}

}  // namespace ctg::runtime_ops
