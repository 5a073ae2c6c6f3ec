#pragma once
//! Programmatic dependent launch (PDL) for ctgraph's own kernels. In a captured chain every edge
//! between two small kernels costs a launch latency comparable to the kernels themselves (a decode
//! step is hundreds of them). Launched as a programmatic dependent of the kernel before it, a
//! kernel is scheduled while that one still runs; `grid_wait()` at its top then holds it until
//! that kernel has completed and its writes are visible, so the order is the stream's and only
//! the latency overlaps. Each kernel calls `launch_dependents()` right after, so the next one can
//! be launched in turn (it may start once every block of this one has said so; nothing it reads
//! is touched before its own wait). Rules that keep this exact:
//!  - `launch_kernel` uses PDL only while capturing, when the node's single dependency is one
//!    kernel (`capture_follows_one_kernel`): that kernel ran after all of its own dependencies,
//!    so waiting for it covers them; elsewhere it is an ordinary launch;
//!  - a kernel launched through `launch_kernel` calls `pdl_begin()` (or grid_wait()) before it
//!    reads or writes memory; `grid_wait()` returns at once in a grid launched without PDL;
//!  - only on compute capability 9.0 and later, and CTGRAPH_PDL=0 turns it off.
#include <cuda_runtime.h>

#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

#include <ctgraph/runtime/capture.hpp>
#include <ctgraph/runtime/error.hpp>

namespace ctg::runtime_ops::detail {

//! Waits until the kernels this grid programmatically depends on have completed and their writes
//! are visible. The clobber keeps the compiler from moving loads above it.
__device__ inline void grid_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}
//! Lets the kernel launched after this one as its programmatic dependent start (once every block
//! has said so or exited); it still waits for this grid's completion before it touches memory.
__device__ inline void launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}
//! The top of a kernel launched by `launch_kernel`: wait for the kernel before, let the next start.
__device__ inline void pdl_begin() {
  grid_wait();
  launch_dependents();
}

//! CTGRAPH_PDL: "1" (or unset) allows PDL, "0" turns it off; anything else is an error naming `node`.
inline bool requested_pdl(std::string_view node) {
  const char* v = std::getenv("CTGRAPH_PDL");
  const std::string_view r = v ? v : "1";
  if (r != "0" && r != "1") throw runtime_error(node, "CTGRAPH_PDL", "must be 0 or 1; got '" + std::string(r) + "'");
  return r == "1";
}

//! Whether the current device runs programmatic dependents (compute capability 9.0 or later).
inline bool device_has_pdl() {
  int device = 0, major = 0;
  return cudaGetDevice(&device) == cudaSuccess && cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) == cudaSuccess &&
         major >= 9;
}

//! kernel<<<grid, block, shared, stream>>>(args...), as a programmatic dependent of the kernel
//! before it where the rules above allow. The kernel must begin with pdl_begin().
template <class... Params, class... Args>
cudaError_t launch_kernel(std::string_view node, cudaStream_t stream, void (*kernel)(Params...), dim3 grid, dim3 block,
                          std::size_t shared, Args&&... args) {
  cudaLaunchConfig_t config{};
  config.gridDim = grid, config.blockDim = block, config.dynamicSmemBytes = shared, config.stream = stream;
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  if (capture_follows_one_kernel(stream) && requested_pdl(node) && device_has_pdl()) config.attrs = &attr, config.numAttrs = 1;
  return cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
}

}  // namespace ctg::runtime_ops::detail
