#pragma once
//! launch_norm: layer and RMS normalisation over the last dimension (ops::layer_norm,
//! ops::rms_norm) for f32, f16 and bf16, computed in float. One block per row: the row's mean and
//! variance (or mean square) by a block reduction, then each element normalised, scaled by the
//! weight and shifted by the bias. No allocation and no synchronisation: capturable.
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include <ctgraph/runtime/dtype.hpp>
#include <ctgraph/runtime/error.hpp>
#include <ctgraph/runtime/launch_context.hpp>
#include <ctgraph/runtime/ops/float_conversion.cuh>
#include <ctgraph/runtime/ops/block_reduce.cuh>

namespace ctg::runtime_ops {
namespace detail {

inline constexpr int norm_block = 256;

template <class T>
__global__ void norm_kernel(const T* x, const T* weight, const T* bias, T* y, std::int64_t d, float eps, bool center) {
  __shared__ float scratch[norm_block / 32];
  const T* row = x + std::int64_t(blockIdx.x) * d;
  T* out = y + std::int64_t(blockIdx.x) * d;
  float mean = 0.f;
  if (center) {
    float s = 0.f;
    for (std::int64_t i = threadIdx.x; i < d; i += blockDim.x) s += to_float(row[i]);
    mean = block_sum(s, scratch) / float(d);
  }
  float s2 = 0.f;
  for (std::int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    const float v = to_float(row[i]) - mean;
    s2 += v * v;
  }
  const float rstd = rsqrtf(block_sum(s2, scratch) / float(d) + eps);
  for (std::int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    float v = (to_float(row[i]) - mean) * rstd * to_float(weight[i]);
    if (bias) v += to_float(bias[i]);
    out[i] = from_float<T>(v);
  }
}

}  // namespace detail
}  // namespace ctg::runtime_ops

namespace ctg {

//! Normalises each row of input 0 (its last dimension) with weight input 1 and, for
//! layer_norm, bias input 2 where given; `center` subtracts the mean (layer norm), else not (RMS).
inline void launch_norm(const launch_context& c, float eps, bool center) {
  const tensor_desc& x = c.input_desc[0];
  const std::int64_t d = x.rank > 0 ? x.dims[x.rank - 1] : 0, rows = d > 0 ? x.elements() / d : 0;
  if (rows == 0) return;
  for (int k = 0; k < c.input_count; ++k)
    if (c.inputs[k] == nullptr) throw runtime_error(c.node->name, "launch_norm", "input " + std::to_string(k) + " has no device pointer");
  if (rows > std::int64_t(0x7fffffff)) throw runtime_error(c.node->name, "launch_norm", "more rows than one grid holds");
  const bool launched = with_float_type(x.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    runtime_ops::detail::norm_kernel<T><<<unsigned(rows), runtime_ops::detail::norm_block, 0, c.stream>>>(
        c.input<T>(0), c.input<T>(1), c.input_count > 2 ? c.input<T>(2) : nullptr, c.out<T>(), d, eps, center);
  });
  if (!launched)
    throw runtime_error(c.node->name, "launch_norm", "dtype " + std::string(name_of(x.dtype)) + " is not supported; norms run on f32, f16 and bf16");
  CTG_CHECK(c.node->name, cudaGetLastError());
}

}  // namespace ctg
