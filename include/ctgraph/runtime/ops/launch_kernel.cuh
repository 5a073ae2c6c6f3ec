#pragma once
//! launch_kernel: how ctgraph's own kernels are launched. On sm_90 and newer with programmatic
//! dependent launch: the kernel may be launched while the kernel before it in the stream (or the
//! captured graph) finishes, which hides most of the launch gap between two graph nodes; it must
//! call `wait_for_prior_grids()` before it touches memory (reads inputs or writes its output), which
//! returns once every earlier kernel has completed and its writes are visible. Elsewhere it is an
//! ordinary launch and the wait is a no-op.
#include <cuda_runtime.h>

#include <cstddef>
#include <utility>

namespace ctg::runtime_ops::detail {

__device__ __forceinline__ void wait_for_prior_grids() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

//! Whether the current device launches programmatic dependents (compute capability 9.0+), asked
//! once per device.
inline bool dependent_launch_supported() {
  constexpr int max_devices = 64;
  static int known[max_devices]{};  // 0 unknown, 1 no, 2 yes
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || device < 0 || device >= max_devices) return false;
  if (known[device] == 0) {
    int major = 0;
    known[device] = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) == cudaSuccess && major >= 9 ? 2 : 1;
  }
  return known[device] == 2;
}

//! Launches `kernel`, which starts with `wait_for_prior_grids()`; errors as cudaGetLastError sees them.
template <class... Params, class... Args>
void launch_kernel(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t shared_bytes, cudaStream_t stream, Args&&... args) {
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = shared_bytes;
  config.stream = stream;
  config.attrs = &attribute;
  config.numAttrs = dependent_launch_supported() ? 1 : 0;
  (void)cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);  // the caller checks cudaGetLastError
}

}  // namespace ctg::runtime_ops::detail
