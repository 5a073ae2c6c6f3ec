#pragma once
//! launch_norm: layer and RMS normalisation over the last dimension (ops::layer_norm,
//! ops::rms_norm) for f32, f16 and bf16, computed in float: the row's mean and variance (or mean
//! square), then each element normalised, scaled by the weight and shifted by the bias. Rows that
//! fit a warp's registers in 16-byte packs take one warp each; others one block each with block
//! reductions. No allocation and no synchronisation: capturable.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include <ctgraph/runtime/dtype.hpp>
#include <ctgraph/runtime/error.hpp>
#include <ctgraph/runtime/launch_context.hpp>
#include <ctgraph/runtime/ops/pdl.cuh>
#include <ctgraph/runtime/ops/float_conversion.cuh>
#include <ctgraph/runtime/ops/block_reduce.cuh>
#include <ctgraph/runtime/ops/warp_row.cuh>

namespace ctg::runtime_ops {
namespace detail {

inline constexpr int norm_block = 256;

template <class T>
__global__ void norm_kernel(const T* x, const T* weight, const T* bias, T* y, std::int64_t d, float eps, bool center,
                            float* mean_out, float* rstd_out) {
  pdl_begin();  // the kernel before has completed (see pdl.cuh)
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
  if (mean_out && threadIdx.x == 0) mean_out[blockIdx.x] = mean, rstd_out[blockIdx.x] = rstd;
  for (std::int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    float v = (to_float(row[i]) - mean) * rstd * to_float(weight[i]);
    if (bias) v += to_float(bias[i]);
    out[i] = from_float<T>(v);
  }
}

//! The same with one warp per row held in registers (warp_row): one read of the row, shuffles
//! instead of block barriers (GPT-2's [512, 768] layer norm: 128 blocks of 4 rows rather than 512
//! blocks that each wait on two block reductions).
template <class T, int Vectors>
__global__ void norm_warp_kernel(const T* x, const T* weight, const T* bias, T* y, std::int64_t rows, int d, float eps, bool center,
                                 float* mean_out, float* rstd_out) {
  pdl_begin();  // the kernel before has completed (see pdl.cuh)
  using row_t = warp_row<T, Vectors>;
  const std::int64_t row = std::int64_t(blockIdx.x) * warp_row_rows + threadIdx.x / 32;
  if (row >= rows) return;
  const int lane = int(threadIdx.x % 32), packs = d / row_t::per;
  row_t r;
  r.load(x + row * d, packs, lane, 0.f);
  float sum = 0.f;
#pragma unroll
  for (int j = 0; j < Vectors; ++j)
#pragma unroll
    for (int k = 0; k < row_t::per; ++k) sum += r.v[j][k];
  const float mean = center ? warp_sum(sum) / float(d) : 0.f;
  float s2 = 0.f;
#pragma unroll
  for (int j = 0; j < Vectors; ++j)
#pragma unroll
    for (int k = 0; k < row_t::per; ++k) {
      const float c = lane + 32 * j < packs ? r.v[j][k] - mean : 0.f;
      s2 += c * c;
    }
  const float rstd = rsqrtf(warp_sum(s2) / float(d) + eps);
  if (mean_out && lane == 0) mean_out[row] = mean, rstd_out[row] = rstd;
  r.store(y + row * d, packs, lane, [&](float (&x)[row_t::per], int p) {
    float w[row_t::per], b[row_t::per] = {};
    row_t::read_pack(weight, p, w);
    if (bias) row_t::read_pack(bias, p, b);
#pragma unroll
    for (int k = 0; k < row_t::per; ++k) x[k] = (x[k] - mean) * rstd * w[k] + b[k];
  });
}

//! The same with one block per row, one 16-byte pack per thread, for fewer rows than SMs (a
//! decode step's one token): one warp per row would leave the GPU idle while it walks 2,048
//! elements; the block reads the row in one round. Weight and bias, where no kernel writes them
//! (`params_fixed`), are read before griddepcontrol.wait, while the kernel before still runs.
template <class T>
__global__ void norm_block_kernel(const T* x, const T* weight, const T* bias, T* y, int packs, int d, float eps, bool center,
                                  bool params_fixed, float* mean_out, float* rstd_out) {
  using row_t = warp_row<T, 1>;
  constexpr int per = row_t::per;
  __shared__ float scratch[32];
  const int p = int(threadIdx.x);
  const bool mine = p < packs;
  float w[per], b[per] = {}, v[per] = {};
  if (!params_fixed) grid_wait();
  if (mine) row_t::read_pack(weight, p, w);
  if (mine && bias) row_t::read_pack(bias, p, b);
  launch_dependents();
  grid_wait();  // returns at once where it waited above
  const std::int64_t row = blockIdx.x;
  if (mine) row_t::read_pack(x + row * d, p, v);
  float sum = 0.f;
#pragma unroll
  for (int k = 0; k < per; ++k) sum += v[k];
  const float mean = center ? block_sum(sum, scratch) / float(d) : 0.f;
  float s2 = 0.f;
#pragma unroll
  for (int k = 0; k < per; ++k) s2 += mine ? (v[k] - mean) * (v[k] - mean) : 0.f;
  const float rstd = rsqrtf(block_sum(s2, scratch) / float(d) + eps);
  if (mean_out && threadIdx.x == 0) mean_out[row] = mean, rstd_out[row] = rstd;
  if (!mine) return;
  T r[per];
#pragma unroll
  for (int k = 0; k < per; ++k) r[k] = from_float<T>((v[k] - mean) * rstd * w[k] + b[k]);
  uint4 pack;
  memcpy(&pack, r, vector_bytes);
  reinterpret_cast<uint4*>(y + row * d)[p] = pack;
}

//! Batch norm for inference: element i is in channel (i / inner) % channels; its scale and shift
//! come from the channel's weight, bias, running mean and variance, in float.
template <class T>
__global__ void batch_norm_kernel(const T* x, const T* weight, const T* bias, const T* mean, const T* var, T* y,
                                  std::int64_t n, std::int64_t channels, std::int64_t inner, float eps) {
  pdl_begin();  // the kernel before has completed (see pdl.cuh)
  for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t c = i / inner % channels;
    const float scale = to_float(weight[c]) * rsqrtf(to_float(var[c]) + eps);
    y[i] = from_float<T>((to_float(x[i]) - to_float(mean[c])) * scale + to_float(bias[c]));
  }
}

}  // namespace detail
}  // namespace ctg::runtime_ops

namespace ctg {

//! Normalises each row of input 0 (its last dimension) with weight input 1 and, for
//! layer_norm, bias input 2 where given; `center` subtracts the mean (layer norm), else not (RMS).
//! Where `mean` and `rstd` are given, each row's mean and 1/sqrt(var + eps) go there (f32).
template <class = void>  // compiled (with its kernels) only where a graph uses the op
void launch_norm(const launch_context& c, float eps, bool center, float* mean = nullptr, float* rstd = nullptr) {
  const tensor_desc& x = c.input_desc[0];
  const std::int64_t d = x.rank > 0 ? x.dims[x.rank - 1] : 0, rows = d > 0 ? x.elements() / d : 0;
  if (rows == 0) return;
  for (int k = 0; k < c.input_count; ++k)
    if (c.inputs[k] == nullptr) throw runtime_error(c.node->name, "launch_norm", "input " + std::to_string(k) + " has no device pointer");
  if (rows > std::int64_t(0x7fffffff)) throw runtime_error(c.node->name, "launch_norm", "more rows than one grid holds");
  const bool launched = with_float_type(x.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    namespace rd = runtime_ops::detail;
    const T *in = c.input<T>(0), *w = c.input<T>(1), *b = c.input_count > 2 ? c.input<T>(2) : nullptr;
    T* out = c.out<T>();
    constexpr std::int64_t per = rd::vector_bytes / std::int64_t(sizeof(T));
    const std::int64_t packs = d % per == 0 ? d / per : 0;
    const bool aligned = rd::aligned_to_vector(in) && rd::aligned_to_vector(w) && rd::aligned_to_vector(out) &&
                         (b == nullptr || rd::aligned_to_vector(b));
    const unsigned warp_blocks = unsigned((rows + rd::warp_row_rows - 1) / rd::warp_row_rows);
    const int vectors = rd::warp_row_vectors(packs, aligned);
    int device = 0, sms = 0;
    CTG_CHECK(c.node->name, cudaGetDevice(&device));
    CTG_CHECK(c.node->name, cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    const bool fixed = c.input_fixed[1] && (b == nullptr || c.input_fixed[2]);
    if (vectors > 0 && rows < sms) {  // fewer rows than SMs: a block per row (at most 512 packs)
      const dim3 block(unsigned((packs + 31) / 32 * 32));
      CTG_CHECK(c.node->name, ::ctg::runtime_ops::detail::launch_kernel(c.node->name, c.stream, rd::norm_block_kernel<T>, dim3(unsigned(rows)), block, 0, in, w, b, out, int(packs), int(d), eps, center, fixed, mean, rstd));
    } else if (vectors == 4)
      CTG_CHECK(c.node->name, ::ctg::runtime_ops::detail::launch_kernel(c.node->name, c.stream, rd::norm_warp_kernel<T, 4>, dim3(warp_blocks), dim3(32 * rd::warp_row_rows), 0, in, w, b, out, rows, int(d), eps, center, mean, rstd));
    else if (vectors == 16)
      CTG_CHECK(c.node->name, ::ctg::runtime_ops::detail::launch_kernel(c.node->name, c.stream, rd::norm_warp_kernel<T, 16>, dim3(warp_blocks), dim3(32 * rd::warp_row_rows), 0, in, w, b, out, rows, int(d), eps, center, mean, rstd));
    else
      CTG_CHECK(c.node->name, ::ctg::runtime_ops::detail::launch_kernel(c.node->name, c.stream, rd::norm_kernel<T>, dim3(unsigned(rows)), dim3(rd::norm_block), 0, in, w, b, out, d, eps, center, mean, rstd));
  });
  if (!launched)
    throw runtime_error(c.node->name, "launch_norm", "dtype " + std::string(name_of(x.dtype)) + " is not supported; norms run on f32, f16 and bf16");
  CTG_CHECK(c.node->name, cudaGetLastError());
}

//! Runs ops::batch_norm: x [N, C, ...] (input 0) with weight, bias, running mean and running
//! variance [C] (inputs 1-4).
template <class = void>  // compiled (with its kernel) only where a graph uses the op
void launch_batch_norm(const launch_context& c, float eps) {
  const tensor_desc& x = c.input_desc[0];
  if (c.input_count != 5 || x.rank < 2)
    throw runtime_error(c.node->name, "launch_batch_norm", "batch_norm takes x [N, C, ...], weight, bias, running mean and running variance [C]");
  const std::int64_t n = x.elements(), channels = x.dims[1], inner = channels > 0 ? n / (x.dims[0] * channels) : 0;
  if (n == 0) return;
  for (int k = 0; k < c.input_count; ++k)
    if (c.inputs[k] == nullptr) throw runtime_error(c.node->name, "launch_batch_norm", "input " + std::to_string(k) + " has no device pointer");
  const unsigned blocks = unsigned(std::min<std::int64_t>((n + 255) / 256, 65536));
  const bool launched = with_float_type(x.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    CTG_CHECK(c.node->name, ::ctg::runtime_ops::detail::launch_kernel(c.node->name, c.stream, runtime_ops::detail::batch_norm_kernel<T>, dim3(blocks), dim3(256), 0, c.input<T>(0), c.input<T>(1), c.input<T>(2), c.input<T>(3),
                                                                           c.input<T>(4), c.out<T>(), n, channels, inner, eps));
  });
  if (!launched)
    throw runtime_error(c.node->name, "launch_batch_norm", "dtype " + std::string(name_of(x.dtype)) + " is not supported; norms run on f32, f16 and bf16");
  CTG_CHECK(c.node->name, cudaGetLastError());
}

}  // namespace ctg
