#pragma once
//! launch_rotary: rotary position embedding (ops::rotary) for f32, f16 and bf16, positions i32 or
//! i64. Grid: one row (a token of one batch entry) by groups of heads. Thread x owns frequency i,
//! so it computes its angle's sincosf once per row and reuses it for every head it visits (thread
//! y picks the head); consecutive threads touch consecutive elements. Each thread reads both
//! elements of its pair before it writes them, so the output may be x's buffer. Capturable.
//! cache_rotary_kernel: the same rotation as the rows are written into a cache at a position on
//! the device (an ops::rotary folded into ops::cache_write), with the same arithmetic: the same bits.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include <ctgraph/runtime/dtype.hpp>
#include <ctgraph/runtime/error.hpp>
#include <ctgraph/runtime/launch_context.hpp>
#include <ctgraph/runtime/ops/pdl.cuh>
#include <ctgraph/runtime/ops/float_conversion.cuh>

namespace ctg::runtime_ops::detail {

inline constexpr int rotary_threads = 256;

//! The position of token t: positions[t], or positions[0] + t where `start` (one position given).
template <class Pos>
__device__ inline float rotary_position(const Pos* positions, std::int64_t t, bool start) {
  return float(start ? std::int64_t(positions[0]) + t : std::int64_t(positions[t]));
}

//! The sine and cosine of frequency i of 2 * half at `pos`: as Hugging Face, 1 / theta^(2i/D) and
//! its product with the position, both in float.
__device__ inline void rotary_angle(float pos, int i, int half, float theta, float& s, float& c) {
  const float inv_freq = 1.f / powf(theta, float(2 * i) / float(2 * half));
  sincosf(pos * inv_freq, &s, &c);
}
//! Element i (a) and its partner i + half (b) turned by the angle of cosine c and sine s, each
//! product and sum rounded (never contracted into an fma): the same bits in every kernel that turns
//! keys (a cache write's and an attention's that runs it, runtime/ops/cache_attention.cuh).
__device__ inline float2 rotate_pair(float a, float b, float c, float s) {
  return make_float2(__fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s)), __fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s)));
}
//! Row `x` of `heads` heads of 2 * half elements, turned at `pos`, into row `y` (which may be x).
//! Thread x owns frequency i, thread y picks the head.
template <class T>
__device__ inline void rotate_row(const T* x, T* y, float pos, int heads, int half, float theta) {
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    float s, c;
    rotary_angle(pos, i, half, theta, s, c);
    for (int h = int(blockIdx.y * blockDim.y + threadIdx.y); h < heads; h += int(gridDim.y * blockDim.y)) {
      const std::int64_t k = std::int64_t(h) * 2 * half + i;
      const float2 r = rotate_pair(to_float(x[k]), to_float(x[k + half]), c, s);
      y[k] = from_float<T>(r.x);
      y[k + half] = from_float<T>(r.y);
    }
  }
}

//! Rows of `heads * 2 * half` elements; row r is token r % tokens.
template <class T, class Pos>
__global__ void rotary_kernel(const T* x, const Pos* positions, T* y, std::int64_t tokens, int heads, int half, float theta, bool start) {
  pdl_begin();  // the kernel before has completed (see pdl.cuh)
  const std::int64_t row = blockIdx.x, first = row * heads * 2 * half;
  rotate_row(x + first, y + first, rotary_position(positions, row % tokens, start), heads, half, theta);
}

//! Rows x [outer, tokens, heads * 2 * half], turned, into the cache [outer, length, ...] at tokens
//! p .. p + tokens - 1, p = *position + offset. Out of range it writes nothing and keeps the
//! first position in `out_of_range` (as cache_rows_kernel, runtime/ops/state.cuh).
template <class T, class Pos, class RotaryPos>
__global__ void cache_rotary_kernel(T* cache, const Pos* position, std::int64_t offset, std::int64_t length, const T* x,
                                    const RotaryPos* positions, std::int64_t tokens, int heads, int half, float theta, bool start,
                                    unsigned long long* out_of_range) {
  pdl_begin();  // the kernel before has completed (see pdl.cuh)
  const std::int64_t p = std::int64_t(*position) + offset;
  if (p < offset || p > length - tokens) {
    if (blockIdx.x == 0 && blockIdx.y == 0 && threadIdx.x == 0 && threadIdx.y == 0 && atomicAdd(&out_of_range[0], 1ull) == 0ull)
      out_of_range[1] = static_cast<unsigned long long>(p - offset);
    return;
  }
  const std::int64_t row = blockIdx.x, o = row / tokens, t = row % tokens, cols = std::int64_t(heads) * 2 * half;
  rotate_row(x + row * cols, cache + (o * length + p + t) * cols, rotary_position(positions, t, start), heads, half, theta);
}

//! The grid and block of a rotation of `rows` rows of `heads` heads of 2 * half elements.
inline bool rotary_grid(std::int64_t rows, std::int64_t heads, std::int64_t half, dim3& grid, dim3& block) {
  const int bx = int(std::min<std::int64_t>(half, rotary_threads));
  const int by = int(std::min<std::int64_t>(heads, std::max(1, rotary_threads / bx)));
  const std::int64_t head_groups = (heads + by - 1) / by;
  if (rows > std::int64_t(0x7fffffff) || head_groups > 65535 || heads > 0x7fffffff) return false;
  grid = dim3{unsigned(rows), unsigned(head_groups)}, block = dim3{unsigned(bx), unsigned(by)};
  return true;
}

}  // namespace ctg::runtime_ops::detail

namespace ctg {

//! Runs ops::rotary<head_dim, theta> on the node: x = `c.inputs[0]` (the output's shape),
//! positions = `c.inputs[1]` (`c.input_desc[1]`: [T], or one: the first token's; i32 or i64). Throws ctg::runtime_error for
//! shapes or dtypes that do not fit, a missing pointer or a failed launch.
template <class = void>  // compiled (with its kernels) only where a graph uses the op
void launch_rotary(const launch_context& c, int head_dim, float theta) {
  const tensor_desc &x = c.output_desc(), &pos = c.input_desc[1];
  const std::int64_t cols = x.rank >= 2 ? x.dims[x.rank - 1] : 0, tokens = x.rank >= 2 ? x.dims[x.rank - 2] : 0;
  if (x.rank < 2 || head_dim <= 0 || head_dim % 2 != 0 || cols % head_dim != 0 ||
      ((pos.rank != 1 || pos.dims[0] != tokens) && pos.elements() != 1))
    throw runtime_error(c.node->name, "launch_rotary", "x is not [..., T, H*" + std::to_string(head_dim) + "] with positions [T] or one position");
  const bool start = pos.elements() == 1;
  if (x.elements() == 0) return;
  if (c.inputs[0] == nullptr || c.inputs[1] == nullptr || c.output == nullptr)
    throw runtime_error(c.node->name, "launch_rotary", "a buffer has no device pointer");
  const std::int64_t rows = x.elements() / cols, heads = cols / head_dim, half = head_dim / 2;
  dim3 grid, block;
  if (!runtime_ops::detail::rotary_grid(rows, heads, half, grid, block))
    throw runtime_error(c.node->name, "launch_rotary", "more rows or heads than one grid holds");
  bool positions_ok = true;
  const bool launched = with_float_type(x.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    if (pos.dtype == dtype_id::i32)
      CTG_CHECK(c.node->name, ::ctg::runtime_ops::detail::launch_kernel(c.node->name, c.stream, runtime_ops::detail::rotary_kernel<T, std::int32_t>, dim3(grid), dim3(block), 0, c.input<T>(0), c.input<std::int32_t>(1), c.out<T>(), tokens, int(heads), int(half), theta, start));
    else if (pos.dtype == dtype_id::i64)
      CTG_CHECK(c.node->name, ::ctg::runtime_ops::detail::launch_kernel(c.node->name, c.stream, runtime_ops::detail::rotary_kernel<T, std::int64_t>, dim3(grid), dim3(block), 0, c.input<T>(0), c.input<std::int64_t>(1), c.out<T>(), tokens, int(heads), int(half), theta, start));
    else
      positions_ok = false;
  });
  if (!launched || !positions_ok)
    throw runtime_error(c.node->name, "launch_rotary",
                        "dtypes " + std::string(name_of(x.dtype)) + " and " + std::string(name_of(pos.dtype)) +
                            " are not supported; rotary runs on f32, f16 and bf16 with i32 or i64 positions");
  CTG_CHECK(c.node->name, cudaGetLastError());
}

}  // namespace ctg
