#pragma once
//! Block-wide reductions for the row kernels (one block per row): every thread gets the result.
//! `scratch` is shared memory of one float per warp; blockDim.x is a multiple of 32.
#include <cuda_runtime.h>

namespace ctg::runtime_ops::detail {

//! op over v of every thread: within each warp by shuffles, then over the warps' results.
template <class Op>
__device__ inline float block_reduce(float v, float* scratch, Op op) {
  for (int o = 16; o > 0; o /= 2) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
  __syncthreads();  // scratch may still be read from a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float r = scratch[0];
  for (int w = 1; w < int(blockDim.x) / 32; ++w) r = op(r, scratch[w]);
  return r;
}

struct sum_op {
  __device__ float operator()(float a, float b) const { return a + b; }
};
struct max_op {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};
__device__ inline float block_sum(float v, float* scratch) { return block_reduce(v, scratch, sum_op{}); }
__device__ inline float block_max(float v, float* scratch) { return block_reduce(v, scratch, max_op{}); }

}  // namespace ctg::runtime_ops::detail
