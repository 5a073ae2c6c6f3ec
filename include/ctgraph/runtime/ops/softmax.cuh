#pragma once
//! launch_softmax: softmax over the last dimension (ops::softmax) for f32, f16 and bf16, in float.
//! One warp per row, no shared memory or block barriers. Rows that fit a warp's registers in
//! 16-byte packs are read once (warp_row); longer ones take two passes: a running maximum and the
//! sum of exp(x - max) rescaled as the maximum grows (the warp then merges its lanes' pairs), then
//! each element written. Each element is read and written by the same lane, so the output may be
//! the input's buffer. Capturable.
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include <ctgraph/runtime/dtype.hpp>
#include <ctgraph/runtime/error.hpp>
#include <ctgraph/runtime/launch_context.hpp>
#include <ctgraph/runtime/ops/float_conversion.cuh>
#include <ctgraph/runtime/ops/warp_row.cuh>

namespace ctg::runtime_ops::detail {

inline constexpr int softmax_block = 256;  // 8 rows per block

//! (m, s) merged with (m2, s2): the larger maximum, each sum rescaled to it (-inf: nothing seen).
__device__ inline void merge_softmax(float& m, float& s, float m2, float s2) {
  const float mn = fmaxf(m, m2);
  s = (m == -INFINITY ? 0.f : s * expf(m - mn)) + (m2 == -INFINITY ? 0.f : s2 * expf(m2 - mn));
  m = mn;
}

//! (m, s) after one more element v: one exp per element.
__device__ inline void add_softmax(float& m, float& s, float v) {
  if (v == -INFINITY) return;  // exp(-inf) = 0 (and -inf - -inf would be NaN)
  if (v > m) {
    s = s * expf(m - v) + 1.f;
    m = v;
  } else {
    s += expf(v - m);
  }
}

template <class T>
__global__ void softmax_kernel(const T* x, T* y, std::int64_t rows, std::int64_t d) {
  const std::int64_t row = std::int64_t(blockIdx.x) * (softmax_block / 32) + threadIdx.x / 32;
  if (row >= rows) return;
  const int lane = int(threadIdx.x % 32);
  const T* in = x + row * d;
  T* out = y + row * d;
  float m = -INFINITY, s = 0.f;
  for (std::int64_t i = lane; i < d; i += 32) add_softmax(m, s, to_float(in[i]));
  for (int o = 16; o > 0; o /= 2) merge_softmax(m, s, __shfl_xor_sync(0xffffffffu, m, o), __shfl_xor_sync(0xffffffffu, s, o));
  const float inv = 1.f / s;
  for (std::int64_t i = lane; i < d; i += 32) out[i] = from_float<T>(expf(to_float(in[i]) - m) * inv);
}

//! The same with the row in registers (warp_row, rows that fit in 16-byte packs): one read, the
//! maximum and the sum by shuffles, one write.
template <class T, int Vectors>
__global__ void softmax_warp_kernel(const T* x, T* y, std::int64_t rows, int d) {
  using row_t = warp_row<T, Vectors>;
  const std::int64_t row = std::int64_t(blockIdx.x) * warp_row_rows + threadIdx.x / 32;
  if (row >= rows) return;
  const int lane = int(threadIdx.x % 32), packs = d / row_t::per;
  row_t r;
  r.load(x + row * d, packs, lane, -INFINITY);
  float m = -INFINITY;
#pragma unroll
  for (int j = 0; j < Vectors; ++j)
#pragma unroll
    for (int k = 0; k < row_t::per; ++k) m = fmaxf(m, r.v[j][k]);
  m = warp_max(m);
  float s = 0.f;
#pragma unroll
  for (int j = 0; j < Vectors; ++j)
#pragma unroll
    for (int k = 0; k < row_t::per; ++k) {
      r.v[j][k] = r.v[j][k] == -INFINITY ? 0.f : expf(r.v[j][k] - m);  // masked: 0 (and no -inf - -inf)
      s += r.v[j][k];
    }
  const float inv = 1.f / warp_sum(s);
  r.store(y + row * d, packs, lane, [&](float (&e)[row_t::per], int) {
#pragma unroll
    for (int k = 0; k < row_t::per; ++k) e[k] *= inv;
  });
}

}  // namespace ctg::runtime_ops::detail

namespace ctg {

inline constexpr std::int64_t softmax_rows_per_block = runtime_ops::detail::softmax_block / 32;

template <class = void>  // compiled (with its kernels) only where a graph uses the op
void launch_softmax(const launch_context& c) {
  const tensor_desc& x = c.output_desc();
  const std::int64_t d = x.rank > 0 ? x.dims[x.rank - 1] : 0, rows = d > 0 ? x.elements() / d : 0;
  if (rows == 0) return;
  if (c.inputs[0] == nullptr || c.output == nullptr) throw runtime_error(c.node->name, "launch_softmax", "a buffer has no device pointer");
  const std::int64_t blocks = (rows + softmax_rows_per_block - 1) / softmax_rows_per_block;
  if (blocks > std::int64_t(0x7fffffff)) throw runtime_error(c.node->name, "launch_softmax", "more rows than one grid holds");
  const bool launched = with_float_type(x.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    namespace rd = runtime_ops::detail;
    const T* in = c.input<T>(0);
    T* out = c.out<T>();
    constexpr std::int64_t per = rd::vector_bytes / std::int64_t(sizeof(T));
    const int vectors = rd::warp_row_vectors(d % per == 0 ? d / per : 0, rd::aligned_to_vector(in) && rd::aligned_to_vector(out));
    const unsigned warp_blocks = unsigned((rows + rd::warp_row_rows - 1) / rd::warp_row_rows);
    if (vectors == 4)
      rd::softmax_warp_kernel<T, 4><<<warp_blocks, 32 * rd::warp_row_rows, 0, c.stream>>>(in, out, rows, int(d));
    else if (vectors == 16)
      rd::softmax_warp_kernel<T, 16><<<warp_blocks, 32 * rd::warp_row_rows, 0, c.stream>>>(in, out, rows, int(d));
    else
      rd::softmax_kernel<T><<<unsigned(blocks), rd::softmax_block, 0, c.stream>>>(in, out, rows, d);
  });
  if (!launched)
    throw runtime_error(c.node->name, "launch_softmax", "dtype " + std::string(name_of(x.dtype)) + " is not supported; softmax runs on f32, f16 and bf16");
  CTG_CHECK(c.node->name, cudaGetLastError());
}

}  // namespace ctg
