#pragma once
//! The layout ops' runtime (ops::permute, transpose, slice, cat): each is a strided copy of a
//! box of elements, `launch_strided_copy`. It merges dimensions that are contiguous on both
//! sides (a slice of rows becomes one run), moves up to 16 bytes per thread where both sides
//! allow it, and goes through a shared-memory tile where the two sides' contiguous dimensions
//! differ (a transpose), so that reads and writes both coalesce. It copies bytes by element
//! size, so every dtype runs. Capturable; allocates nothing.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <ctgraph/graph/tensor_desc.hpp>
#include <ctgraph/runtime/dtype.hpp>
#include <ctgraph/runtime/error.hpp>
#include <ctgraph/runtime/launch_context.hpp>

namespace ctg {

//! A box of elements and where each lies on both sides: element (i_0, .., i_{rank-1}) moves from
//! src[sum i_k src_stride[k]] to dst[sum i_k dst_stride[k]] (strides in elements).
struct copy_box {
  int rank = 0;
  std::int64_t dims[max_rank]{};
  std::int64_t src_stride[max_rank]{};
  std::int64_t dst_stride[max_rank]{};
};

namespace runtime_ops::detail {

inline constexpr int copy_threads = 256;
inline constexpr int tile = 32, tile_rows = 8;  // a 32x32 tile, 32x8 threads

//! The offsets of element i of box b (row-major over b's dimensions) on both sides. Unrolled over
//! max_rank so that b stays in registers.
__device__ inline void box_offsets(const copy_box& b, std::int64_t i, std::int64_t& s, std::int64_t& d) {
  s = 0, d = 0;
#pragma unroll
  for (int k = max_rank - 1; k >= 0; --k)
    if (k < b.rank) {
      const std::int64_t c = i % b.dims[k];
      i /= b.dims[k];
      s += c * b.src_stride[k];
      d += c * b.dst_stride[k];
    }
}

template <class T>
__global__ void strided_copy_kernel(const T* __restrict__ src, T* __restrict__ dst, copy_box b, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n; i += std::int64_t(gridDim.x) * blockDim.x) {
    std::int64_t s, d;
    box_offsets(b, i, s, d);
    dst[d] = src[s];
  }
}

//! A [rows, cols] plane per element of `batch`: rows are contiguous in src (stride 1 there), cols
//! in dst. A block reads a tile along rows and writes it along cols.
template <class T>
__global__ void tiled_copy_kernel(const T* __restrict__ src, T* __restrict__ dst, copy_box batch, std::int64_t batches,
                                  std::int64_t rows, std::int64_t cols, std::int64_t src_col_stride, std::int64_t dst_row_stride) {
  __shared__ T t[tile][tile + 1];  // +1: the column reads hit 32 different banks
  const std::int64_t r0 = std::int64_t(blockIdx.y) * tile, c0 = std::int64_t(blockIdx.x) * tile;
  for (std::int64_t z = blockIdx.z; z < batches; z += gridDim.z) {
    std::int64_t s, d;
    box_offsets(batch, z, s, d);
    for (int j = threadIdx.y; j < tile; j += tile_rows) {
      const std::int64_t row = r0 + threadIdx.x, col = c0 + j;
      if (row < rows && col < cols) t[j][threadIdx.x] = src[s + row + col * src_col_stride];
    }
    __syncthreads();
    for (int j = threadIdx.y; j < tile; j += tile_rows) {
      const std::int64_t row = r0 + j, col = c0 + threadIdx.x;
      if (row < rows && col < cols) dst[d + row * dst_row_stride + col] = t[threadIdx.x][j];
    }
    __syncthreads();  // the tile is refilled for the next batch
  }
}

//! `b` without its size-1 dimensions and with neighbours that are contiguous on both sides
//! merged; rank >= 1.
inline copy_box simplify(const copy_box& b) {
  copy_box s;
  for (int k = 0; k < b.rank; ++k) {
    if (b.dims[k] == 1) continue;
    const int last = s.rank - 1;
    if (last >= 0 && s.src_stride[last] == b.src_stride[k] * b.dims[k] && s.dst_stride[last] == b.dst_stride[k] * b.dims[k]) {
      s.dims[last] *= b.dims[k];
      s.src_stride[last] = b.src_stride[k];
      s.dst_stride[last] = b.dst_stride[k];
    } else {
      s.dims[s.rank] = b.dims[k], s.src_stride[s.rank] = b.src_stride[k], s.dst_stride[s.rank] = b.dst_stride[k];
      ++s.rank;
    }
  }
  if (s.rank == 0) s = copy_box{1, {1}, {1}, {1}};
  return s;
}

//! The widest element (up to 16 bytes) the copy can move instead of `bytes`-byte ones: the
//! innermost dimension is contiguous on both sides, and its length, every other stride and
//! both pointers are multiples of it. Rescales `b` to it.
inline std::size_t widen(copy_box& b, std::size_t bytes, const void* src, const void* dst) {
  const int last = b.rank - 1;
  if (b.src_stride[last] != 1 || b.dst_stride[last] != 1) return bytes;
  for (std::size_t w = 16; w > bytes; w /= 2) {
    const std::int64_t r = std::int64_t(w / bytes);
    bool ok = w % bytes == 0 && b.dims[last] % r == 0 && reinterpret_cast<std::uintptr_t>(src) % w == 0 &&
              reinterpret_cast<std::uintptr_t>(dst) % w == 0;
    for (int k = 0; k < last; ++k) ok = ok && b.src_stride[k] % r == 0 && b.dst_stride[k] % r == 0;
    if (!ok) continue;
    b.dims[last] /= r;
    for (int k = 0; k < last; ++k) b.src_stride[k] /= r, b.dst_stride[k] /= r;
    return w;
  }
  return bytes;
}

template <class T>
void copy_as(const void* src, void* dst, const copy_box& b, cudaStream_t stream) {
  const T* s = static_cast<const T*>(src);
  T* d = static_cast<T*>(dst);
  const int last = b.rank - 1;
  int t = -1;  // the dimension contiguous in src, where it is not dst's
  for (int k = 0; k < last; ++k)
    if (b.src_stride[k] == 1) t = k;
  if (t >= 0 && b.dst_stride[last] == 1 && (b.dims[t] + tile - 1) / tile <= 65535 && (b.dims[last] + tile - 1) / tile <= 0x7fffffff) {
    copy_box batch;  // every dimension but t and last
    std::int64_t batches = 1;
    for (int k = 0; k < last; ++k)
      if (k != t) {
        batch.dims[batch.rank] = b.dims[k], batch.src_stride[batch.rank] = b.src_stride[k], batch.dst_stride[batch.rank] = b.dst_stride[k];
        ++batch.rank, batches *= b.dims[k];
      }
    const dim3 grid{unsigned((b.dims[last] + tile - 1) / tile), unsigned((b.dims[t] + tile - 1) / tile),
                    unsigned(std::min<std::int64_t>(batches, 65535))};
    tiled_copy_kernel<T><<<grid, dim3{tile, tile_rows}, 0, stream>>>(s, d, batch, batches, b.dims[t], b.dims[last], b.src_stride[last],
                                                                     b.dst_stride[t]);
    return;
  }
  std::int64_t n = 1;
  for (int k = 0; k < b.rank; ++k) n *= b.dims[k];
  const unsigned blocks = unsigned(std::min<std::int64_t>((n + copy_threads - 1) / copy_threads, 65536));
  strided_copy_kernel<T><<<blocks, copy_threads, 0, stream>>>(s, d, b, n);
}

//! Row-major strides (in elements) of a contiguous tensor.
inline void contiguous_strides(const tensor_desc& t, std::int64_t* stride) {
  std::int64_t s = 1;
  for (int k = t.rank - 1; k >= 0; --k) stride[k] = s, s *= t.dims[k];
}

}  // namespace runtime_ops::detail

//! Copies box `b` of `bytes`-byte elements from `src` to `dst` on `stream`. Throws
//! ctg::runtime_error naming `node` and `call` for a missing pointer or a failed launch.
template <class = void>  // compiled (with its kernels) only where a graph copies
void launch_strided_copy(std::string_view node, const char* call, const void* src, void* dst, const copy_box& b, std::size_t bytes,
                                cudaStream_t stream) {
  namespace d = runtime_ops::detail;
  for (int k = 0; k < b.rank; ++k)
    if (b.dims[k] == 0) return;
  if (src == nullptr || dst == nullptr) throw runtime_error(node, call, "a buffer has no device pointer");
  copy_box s = d::simplify(b);
  switch (d::widen(s, bytes, src, dst)) {
    case 1: d::copy_as<std::uint8_t>(src, dst, s, stream); break;
    case 2: d::copy_as<std::uint16_t>(src, dst, s, stream); break;
    case 4: d::copy_as<std::uint32_t>(src, dst, s, stream); break;
    case 8: d::copy_as<uint2>(src, dst, s, stream); break;
    case 16: d::copy_as<uint4>(src, dst, s, stream); break;
    default: throw runtime_error(node, call, "elements of " + std::to_string(bytes) + " bytes");
  }
  CTG_CHECK(node, cudaGetLastError());
}

namespace runtime_ops::detail {
//! Throws unless the node's input `k` has the output's dtype.
//! Input k has the dtype of `out` (the node's output, or one of a split's).
inline void check_same_dtype(const launch_context& c, int k, const char* call, const tensor_desc& out) {
  if (c.input_desc[k].dtype != out.dtype)
    throw runtime_error(c.node->name, call, "input " + std::to_string(k) + " is " + std::string(name_of(c.input_desc[k].dtype)) +
                                                ", the output " + std::string(name_of(out.dtype)));
}
}  // namespace runtime_ops::detail

//! Runs ops::permute / ops::transpose: output dimension i is input dimension perm[i].
template <class = void>  // compiled (with its kernels) only where a graph uses the op
void launch_permute(const launch_context& c, const int* perm) {
  const tensor_desc &in = c.input_desc[0], &out = c.output_desc();
  runtime_ops::detail::check_same_dtype(c, 0, "launch_permute", out);
  copy_box b{out.rank};
  std::int64_t in_stride[max_rank]{};
  runtime_ops::detail::contiguous_strides(in, in_stride);
  runtime_ops::detail::contiguous_strides(out, b.dst_stride);
  bool fits = in.rank == out.rank;
  for (int i = 0; fits && i < out.rank; ++i) {
    fits = perm[i] >= 0 && perm[i] < in.rank && out.dims[i] == in.dims[perm[i]];
    b.dims[i] = out.dims[i];
    b.src_stride[i] = fits ? in_stride[perm[i]] : 0;
  }
  if (!fits) throw runtime_error(c.node->name, "launch_permute", "the output is not the input's dimensions permuted");
  launch_strided_copy(c.node->name, "launch_permute", c.inputs[0], c.output, b, size_of(out.dtype), c.stream);
}

//! Copies elements begin .. begin + out.dims[dim] - 1 of input 0's dimension `dim` to `dst`, a
//! contiguous tensor `out` (a slice's output, or one of a split's).
template <class = void>
void copy_slice(const launch_context& c, const char* call, void* dst, const tensor_desc& out, int dim, std::int64_t begin) {
  const tensor_desc& in = c.input_desc[0];
  runtime_ops::detail::check_same_dtype(c, 0, call, out);
  bool fits = in.rank == out.rank && dim >= 0 && dim < in.rank && begin >= 0 && begin + out.dims[dim] <= in.dims[dim];
  for (int i = 0; fits && i < in.rank; ++i) fits = i == dim || in.dims[i] == out.dims[i];
  if (!fits) throw runtime_error(c.node->name, call, "the output is not a slice of the input at dimension " + std::to_string(dim));
  copy_box b{out.rank};
  for (int i = 0; i < out.rank; ++i) b.dims[i] = out.dims[i];
  runtime_ops::detail::contiguous_strides(in, b.src_stride);
  runtime_ops::detail::contiguous_strides(out, b.dst_stride);
  const std::size_t e = size_of(out.dtype);
  const auto* src = c.inputs[0] ? static_cast<const std::byte*>(c.inputs[0]) + std::size_t(begin * b.src_stride[dim]) * e : nullptr;
  launch_strided_copy(c.node->name, call, src, dst, b, e, c.stream);
}

//! Runs ops::slice: the output is elements begin .. begin + out.dims[dim] - 1 of the input's
//! dimension `dim`.
template <class = void>  // compiled (with its kernels) only where a graph uses the op
void launch_slice(const launch_context& c, int dim, std::int64_t begin) {
  copy_slice(c, "launch_slice", c.output, c.output_desc(), dim, begin);
}

//! Runs ops::cat: each input into its part of the output along dimension `dim`, in order.
template <class = void>  // compiled (with its kernels) only where a graph uses the op
void launch_cat(const launch_context& c, int dim) {
  const tensor_desc& out = c.output_desc();
  std::int64_t offset = 0;
  bool fits = dim >= 0 && dim < out.rank && c.input_count > 0;
  for (int k = 0; fits && k < c.input_count; ++k) {
    runtime_ops::detail::check_same_dtype(c, k, "launch_cat", out);
    fits = c.input_desc[k].rank == out.rank;
    for (int i = 0; fits && i < out.rank; ++i) fits = i == dim || c.input_desc[k].dims[i] == out.dims[i];
    offset += c.input_desc[k].dims[dim];
  }
  if (!fits || offset != out.dims[dim])
    throw runtime_error(c.node->name, "launch_cat", "the output is not the inputs side by side at dimension " + std::to_string(dim));
  const std::size_t e = size_of(out.dtype);
  std::int64_t out_stride[max_rank]{};
  runtime_ops::detail::contiguous_strides(out, out_stride);
  offset = 0;
  for (int k = 0; k < c.input_count; ++k) {
    copy_box b{out.rank};
    for (int i = 0; i < out.rank; ++i) b.dims[i] = c.input_desc[k].dims[i], b.dst_stride[i] = out_stride[i];
    runtime_ops::detail::contiguous_strides(c.input_desc[k], b.src_stride);
    void* dst = c.output ? static_cast<std::byte*>(c.output) + std::size_t(offset * out_stride[dim]) * e : nullptr;
    launch_strided_copy(c.node->name, "launch_cat", c.inputs[k], dst, b, e, c.stream);
    offset += c.input_desc[k].dims[dim];
  }
}

}  // namespace ctg
