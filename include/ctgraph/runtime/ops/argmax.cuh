#pragma once
//! launch_argmax: ops::argmax for f32, f16 and bf16, one block per row: each thread keeps the best
//! (value, index) of the elements it visits (16-byte packs where the row allows), then the block
//! reduces them by shuffles and shared memory. Ties go to the first index and NaN counts as the
//! largest (torch.argmax), so the choice does not depend on the visiting order. Capturable.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include <ctgraph/runtime/dtype.hpp>
#include <ctgraph/runtime/error.hpp>
#include <ctgraph/runtime/launch_context.hpp>
#include <ctgraph/runtime/ops/pdl.cuh>
#include <ctgraph/runtime/ops/float_conversion.cuh>

namespace ctg::runtime_ops::detail {

inline constexpr int argmax_threads = 512;

//! Whether (a, i) goes before (b, j): larger, NaN largest, then the smaller index.
__device__ inline bool argmax_before(float a, int i, float b, int j) {
  const bool an = isnan(a), bn = isnan(b);
  if (an != bn) return an;
  if (!an && a != b) return a > b;
  return i < j;
}

template <class T>
__global__ void __launch_bounds__(argmax_threads) argmax_kernel(const T* x, std::int32_t* out, int cols, bool packs) {
  pdl_begin();  // the kernel before has completed (see pdl.cuh)
  constexpr int per = vector_bytes / int(sizeof(T)), batch = 8;
  const T* row = x + std::int64_t(blockIdx.x) * cols;
  float best = -INFINITY;
  int at = cols;  // past the row: loses to any element
  auto visit = [&](float v, int i) {
    if (argmax_before(v, i, best, at)) best = v, at = i;
  };
  if (packs) {  // `batch` loads issued before the first is used: one round trip, not a chain
    const int n = cols / per;
    for (int p0 = int(threadIdx.x); p0 < n; p0 += batch * argmax_threads) {
      uint4 pack[batch];
#pragma unroll
      for (int u = 0; u < batch; ++u)
        if (const int p = p0 + u * argmax_threads; p < n) pack[u] = reinterpret_cast<const uint4*>(row)[p];
#pragma unroll
      for (int u = 0; u < batch; ++u) {
        const int p = p0 + u * argmax_threads;
        if (p >= n) break;
        T e[per];
        memcpy(e, &pack[u], vector_bytes);
#pragma unroll
        for (int k = 0; k < per; ++k) visit(to_float(e[k]), p * per + k);
      }
    }
  } else {
    for (int i = int(threadIdx.x); i < cols; i += argmax_threads) visit(to_float(row[i]), i);
  }
  for (int o = 16; o > 0; o /= 2) {
    const float b = __shfl_xor_sync(0xffffffffu, best, o);
    const int j = __shfl_xor_sync(0xffffffffu, at, o);
    if (argmax_before(b, j, best, at)) best = b, at = j;
  }
  __shared__ float values[argmax_threads / 32];
  __shared__ int indices[argmax_threads / 32];
  if (threadIdx.x % 32 == 0) values[threadIdx.x / 32] = best, indices[threadIdx.x / 32] = at;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < argmax_threads / 32; ++w)
      if (argmax_before(values[w], indices[w], best, at)) best = values[w], at = indices[w];
    out[blockIdx.x] = at;
  }
}

}  // namespace ctg::runtime_ops::detail

namespace ctg {

//! Runs ops::argmax on the node: x = input 0 ([..., V]), the indices = the output (i32).
template <class = void>  // compiled (with its kernels) only where a graph uses the op
void launch_argmax(const launch_context& c) {
  const tensor_desc& x = c.input_desc[0];
  if (c.input_count != 1 || x.rank == 0 || x.dims[x.rank - 1] > 0x7fffffff)
    throw runtime_error(c.node->name, "launch_argmax", "the input is not [..., V] with V below 2^31");
  const std::int64_t cols = x.dims[x.rank - 1], rows = cols > 0 ? x.elements() / cols : 0;
  if (rows == 0) return;
  if (c.inputs[0] == nullptr || c.output == nullptr) throw runtime_error(c.node->name, "launch_argmax", "a buffer has no device pointer");
  if (rows > 0x7fffffff) throw runtime_error(c.node->name, "launch_argmax", "more rows than one grid holds");
  const bool launched = with_float_type(x.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    constexpr int per = runtime_ops::detail::vector_bytes / int(sizeof(T));
    const bool packs = cols % per == 0 && runtime_ops::detail::aligned_to_vector(c.inputs[0]);
    CTG_CHECK(c.node->name, ::ctg::runtime_ops::detail::launch_kernel(c.node->name, c.stream, runtime_ops::detail::argmax_kernel<T>, dim3(unsigned(rows)), dim3(runtime_ops::detail::argmax_threads), 0, 
        c.input<T>(0), c.out<std::int32_t>(), int(cols), packs));
  });
  if (!launched)
    throw runtime_error(c.node->name, "launch_argmax", "dtype " + std::string(name_of(x.dtype)) + " is not supported; argmax reads f32, f16 and bf16");
  CTG_CHECK(c.node->name, cudaGetLastError());
}

}  // namespace ctg
