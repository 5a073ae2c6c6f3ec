#pragma once
//! launch_softmax: softmax over the last dimension (ops::softmax) for f32, f16 and bf16, in float.
//! One block per row: the row's maximum, then the sum of exp(x - max), then each element. Each
//! element is read before it is written, so the output may be the input's buffer. Capturable.
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include <ctgraph/runtime/dtype.hpp>
#include <ctgraph/runtime/error.hpp>
#include <ctgraph/runtime/launch_context.hpp>
#include <ctgraph/runtime/ops/block_reduce.cuh>
#include <ctgraph/runtime/ops/float_conversion.cuh>

namespace ctg::runtime_ops::detail {

inline constexpr int softmax_block = 256;

template <class T>
__global__ void softmax_kernel(const T* x, T* y, std::int64_t d) {
  __shared__ float scratch[softmax_block / 32];
  const T* row = x + std::int64_t(blockIdx.x) * d;
  T* out = y + std::int64_t(blockIdx.x) * d;
  float m = -INFINITY;
  for (std::int64_t i = threadIdx.x; i < d; i += blockDim.x) m = fmaxf(m, to_float(row[i]));
  m = block_max(m, scratch);
  float s = 0.f;
  for (std::int64_t i = threadIdx.x; i < d; i += blockDim.x) s += expf(to_float(row[i]) - m);
  const float inv = 1.f / block_sum(s, scratch);
  for (std::int64_t i = threadIdx.x; i < d; i += blockDim.x) out[i] = from_float<T>(expf(to_float(row[i]) - m) * inv);
}

}  // namespace ctg::runtime_ops::detail

namespace ctg {

inline void launch_softmax(const launch_context& c) {
  const tensor_desc& x = c.output_desc();
  const std::int64_t d = x.rank > 0 ? x.dims[x.rank - 1] : 0, rows = d > 0 ? x.elements() / d : 0;
  if (rows == 0) return;
  if (c.inputs[0] == nullptr || c.output == nullptr) throw runtime_error(c.node->name, "launch_softmax", "a buffer has no device pointer");
  if (rows > std::int64_t(0x7fffffff)) throw runtime_error(c.node->name, "launch_softmax", "more rows than one grid holds");
  const bool launched = with_float_type(x.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    runtime_ops::detail::softmax_kernel<T><<<unsigned(rows), runtime_ops::detail::softmax_block, 0, c.stream>>>(c.input<T>(0), c.out<T>(), d);
  });
  if (!launched)
    throw runtime_error(c.node->name, "launch_softmax", "dtype " + std::string(name_of(x.dtype)) + " is not supported; softmax runs on f32, f16 and bf16");
  CTG_CHECK(c.node->name, cudaGetLastError());
}

}  // namespace ctg
