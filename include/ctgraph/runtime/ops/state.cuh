#pragma once
//! The state ops' runtime (graph/ops/state.hpp). cache_write copies its rows into the state at a
//! position it reads on the device, one block per row (16-byte moves where the row allows), and
//! cache_read copies them out; a position out of range writes nothing (a read: zeros), and the
//! first one is kept on the device (with a count of such launches) for `check_cache_write`, which
//! executor::check() calls. advance adds its step to
//! a position with one thread. Neither allocates or synchronises: both replay in a CUDA graph.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include <ctgraph/runtime/error.hpp>
#include <ctgraph/runtime/launch_context.hpp>
#include <ctgraph/runtime/dtype.hpp>
#include <ctgraph/runtime/ops/pdl.cuh>
#include <ctgraph/runtime/ops/rotary.cuh>
#include <ctgraph/runtime/memory.hpp>

namespace ctg {

//! What prepare_cache_write allocates for one node: two words on the device, the number of
//! launches whose position was out of range since the last check, and the first such position.
struct cache_write_state {
  allocation out_of_range;
};

namespace runtime_ops::detail {

//! Calls f(std::int32_t{}) or f(std::int64_t{}) for a position's dtype; false for another.
template <class F>
bool with_position_type(dtype_id t, F f) {
  if (t == dtype_id::i32) return f(std::int32_t{}), true;
  if (t == dtype_id::i64) return f(std::int64_t{}), true;
  return false;
}

//! Copies `outer * n` rows of `row_bytes` between `rows` and `state` ([outer, length, row]) at
//! position *pos + offset of its middle dimension: into the state (a write), or out of it (a
//! read, which fills its rows with zeros where the position is out of range).
template <class Pos>
__global__ void cache_rows_kernel(unsigned char* state, const Pos* pos, std::int64_t offset, unsigned char* rows, std::int64_t outer,
                                  std::int64_t length, std::int64_t n, std::int64_t row_bytes, bool read,
                                  unsigned long long* out_of_range) {
  pdl_begin();  // the kernel before has completed (see pdl.cuh)
  const std::int64_t p = std::int64_t(*pos) + offset;
  const bool outside = p < offset || p > length - n;  // the position itself must not be negative
  if (outside && blockIdx.x == 0 && threadIdx.x == 0 && atomicAdd(&out_of_range[0], 1ull) == 0ull)
    out_of_range[1] = static_cast<unsigned long long>(p - offset);
  if (outside && !read) return;
  for (std::int64_t r = blockIdx.x; r < outer * n; r += gridDim.x) {
    const std::int64_t o = r / n, j = r % n;
    unsigned char* at = rows + r * row_bytes;
    unsigned char* cached = state + (o * length + p + j) * row_bytes;
    unsigned char* dst = read ? at : cached;
    const unsigned char* src = read ? cached : at;
    if (outside) {
      for (std::int64_t i = threadIdx.x; i < row_bytes; i += blockDim.x) dst[i] = 0;
    } else if (row_bytes % 16 == 0 && reinterpret_cast<std::uintptr_t>(src) % 16 == 0 && reinterpret_cast<std::uintptr_t>(dst) % 16 == 0) {
      for (std::int64_t i = threadIdx.x; i < row_bytes / 16; i += blockDim.x)
        reinterpret_cast<uint4*>(dst)[i] = reinterpret_cast<const uint4*>(src)[i];
    } else {
      for (std::int64_t i = threadIdx.x; i < row_bytes; i += blockDim.x) dst[i] = src[i];
    }
  }
}

//! Launches cache_rows_kernel for a node: `state` [.., length at dim, ..], `rows` its rows.
inline void launch_cache_rows(const launch_context& c, const cache_write_state& s, const tensor_desc& state, const tensor_desc& rows,
                              int dim, std::int64_t offset, unsigned char* state_ptr, unsigned char* rows_ptr, bool read,
                              std::string_view call) {
  if (dim < 0 || dim >= state.rank || rows.rank != state.rank)
    throw runtime_error(c.node->name, call, "the inputs are not a state, a position and rows of the state's rank");
  std::int64_t outer = 1, row_bytes = std::int64_t(size_of(state.dtype));
  for (int i = 0; i < dim; ++i) outer *= state.dims[i];
  for (int i = dim + 1; i < state.rank; ++i) row_bytes *= state.dims[i];
  const std::int64_t length = state.dims[dim], n = rows.dims[dim];
  if (outer * n == 0 || row_bytes == 0) return;
  if (state_ptr == nullptr || c.inputs[1] == nullptr || rows_ptr == nullptr)
    throw runtime_error(c.node->name, call, "a buffer has no device pointer");
  const int blocks = int(std::min<std::int64_t>(outer * n, 4096));
  auto* flag = static_cast<unsigned long long*>(s.out_of_range.get());
  const bool launched = with_position_type(c.input_desc[1].dtype, [&](auto t) {
    using Pos = decltype(t);
    CTG_CHECK(c.node->name, ::ctg::runtime_ops::detail::launch_kernel(c.node->name, c.stream, cache_rows_kernel<Pos>, dim3(blocks), dim3(128), 0, state_ptr, c.input<Pos>(1), offset, rows_ptr, outer, length, n, row_bytes, read, flag));
  });
  if (!launched) throw runtime_error(c.node->name, call, "the position is not i32 or i64");
  CTG_CHECK(c.node->name, cudaGetLastError());
}

template <class Pos>
__global__ void advance_kernel(Pos* pos, long long step) {
  pdl_begin();  // the kernel before has completed (see pdl.cuh)
  *pos += static_cast<Pos>(step);
}

}  // namespace runtime_ops::detail

template <class = void>  // compiled (with its kernels) only where a graph uses the op
cache_write_state prepare_cache_write(const launch_context& c) {
  cache_write_state s{allocation(allocation_kind::device, 2 * sizeof(unsigned long long), c.node->name)};
  CTG_CHECK(c.node->name, cudaMemset(s.out_of_range.get(), 0, 2 * sizeof(unsigned long long)));
  return s;
}

//! Runs an ops::cache_write<dim, offset> with an ops::rotary<head_dim, theta> folded into its
//! prologue: the cache = `c.output` (`c.input_desc[0]`, [.., length, cols]), its position =
//! `c.inputs[1]`, the rotary's rows x = `c.inputs[2]` ([.., tokens, cols], dim = rank - 2) and its
//! positions = `c.inputs[3]` ([tokens] or one). Throws ctg::runtime_error for shapes or dtypes that
//! do not fit, a missing pointer or a failed launch.
template <class = void>  // compiled (with its kernels) only where a graph uses it
void launch_cache_rotary(const launch_context& c, const cache_write_state& s, int dim, std::int64_t offset, int head_dim, float theta) {
  constexpr const char* call = "launch_cache_write";
  if (c.input_count != 4) throw runtime_error(c.node->name, call, "a rotary prologue takes the cache, its position, the rotary's rows and their positions");
  const tensor_desc &cache = c.input_desc[0], &pos = c.input_desc[1], &x = c.input_desc[2], &at = c.input_desc[3];
  const int r = cache.rank;
  bool fits = r >= 2 && x.rank == r && dim == r - 2 && x.dtype == cache.dtype && head_dim > 0 && head_dim % 2 == 0 &&
              cache.dims[r - 1] % head_dim == 0 && ((at.rank == 1 && at.dims[0] == x.dims[r - 2]) || at.elements() == 1);
  for (int i = 0; fits && i < r; ++i) fits = i == dim || x.dims[i] == cache.dims[i];
  if (!fits)
    throw runtime_error(c.node->name, call, "a rotary prologue writes rows [..., T, H*" + std::to_string(head_dim) +
                                                "] of the cache's dtype along its token dimension (rank - 2), with positions [T] or one");
  if (x.elements() == 0) return;
  if (c.output == nullptr || c.inputs[1] == nullptr || c.inputs[2] == nullptr || c.inputs[3] == nullptr)
    throw runtime_error(c.node->name, call, "a buffer has no device pointer");
  const std::int64_t cols = x.dims[r - 1], tokens = x.dims[r - 2], length = cache.dims[r - 2];
  dim3 grid, block;
  if (!runtime_ops::detail::rotary_grid(x.elements() / cols, cols / head_dim, head_dim / 2, grid, block))
    throw runtime_error(c.node->name, call, "more rows or heads than one grid holds");
  const bool start = at.elements() == 1;
  bool dtypes_ok = false;
  with_float_type(x.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    runtime_ops::detail::with_position_type(pos.dtype, [&](auto p) {
      using Pos = decltype(p);
      dtypes_ok = runtime_ops::detail::with_position_type(at.dtype, [&](auto q) {
        using RotaryPos = decltype(q);
        CTG_CHECK(c.node->name, ::ctg::runtime_ops::detail::launch_kernel(
                                    c.node->name, c.stream, runtime_ops::detail::cache_rotary_kernel<T, Pos, RotaryPos>, dim3(grid), dim3(block), 0,
                                    c.out<T>(), c.input<Pos>(1), offset, length, c.input<T>(2), c.input<RotaryPos>(3), tokens,
                                    int(cols / head_dim), head_dim / 2, theta, start, static_cast<unsigned long long*>(s.out_of_range.get())));
      });
    });
  });
  if (!dtypes_ok)
    throw runtime_error(c.node->name, call,
                        "dtypes " + std::string(name_of(x.dtype)) + ", " + std::string(name_of(pos.dtype)) + " and " + std::string(name_of(at.dtype)) +
                            " are not supported; a rotary prologue runs on f32, f16 and bf16 with i32 or i64 positions");
  CTG_CHECK(c.node->name, cudaGetLastError());
}

//! Runs ops::cache_write<Dim, Offset> on the node (dim normalised): state = `c.output` (the state
//! input's storage, `c.input_desc[0]`), position = `c.inputs[1]`, rows = `c.inputs[2]`; with
//! `head_dim` > 0, an ops::rotary<head_dim, theta> folded into its prologue (launch_cache_rotary).
template <class = void>  // compiled (with its kernels) only where a graph uses the op
void launch_cache_write(const launch_context& c, const cache_write_state& s, int dim, std::int64_t offset = 0, int head_dim = 0,
                        float theta = 0.f) {
  if (head_dim > 0) return launch_cache_rotary(c, s, dim, offset, head_dim, theta);
  if (c.input_count != 3) throw runtime_error(c.node->name, "launch_cache_write", "the inputs are not a state, a position and rows");
  runtime_ops::detail::launch_cache_rows(c, s, c.input_desc[0], c.input_desc[2], dim, offset, c.out<unsigned char>(),
                                         const_cast<unsigned char*>(c.input<unsigned char>(2)), false, "launch_cache_write");
}

//! Runs ops::cache_read<Dim, Extent, Offset> on the node: state = `c.inputs[0]`, position =
//! `c.inputs[1]`, the rows read = `c.output`.
template <class = void>  // compiled (with its kernels) only where a graph uses the op
void launch_cache_read(const launch_context& c, const cache_write_state& s, int dim, std::int64_t offset) {
  if (c.input_count != 2) throw runtime_error(c.node->name, "launch_cache_read", "the inputs are not a state and a position");
  runtime_ops::detail::launch_cache_rows(c, s, c.input_desc[0], c.output_desc(), dim, offset,
                                         const_cast<unsigned char*>(c.input<unsigned char>(0)), c.out<unsigned char>(), true,
                                         "launch_cache_read");
}

//! After the stream has caught up: throws naming the first position out of range since the last
//! check (those launches wrote nothing), and clears it.
template <class = void>  // compiled (with its kernels) only where a graph uses the op
void check_cache_write(const launch_context& c, const cache_write_state& s) {
  unsigned long long words[2]{};
  CTG_CHECK(c.node->name, cudaMemcpy(words, s.out_of_range.get(), sizeof(words), cudaMemcpyDeviceToHost));
  if (words[0] == 0) return;
  CTG_CHECK(c.node->name, cudaMemset(s.out_of_range.get(), 0, sizeof(words)));
  throw runtime_error(c.node->name, c.node->op->name,
                      "position " + std::to_string(static_cast<long long>(words[1])) + " is outside the state: " +
                          std::to_string(words[0]) + " launch(es) since the last check wrote nothing (a write needs 0 <= position and position + offset + rows <= the state's extent; a read gave zeros)");
}

//! Runs ops::advance<step> on the node: the position is `c.output` (input 0's storage).
template <class = void>  // compiled (with its kernels) only where a graph uses the op
void launch_advance(const launch_context& c, long long step) {
  if (c.output == nullptr) throw runtime_error(c.node->name, "launch_advance", "the position has no device pointer");
  const bool launched = runtime_ops::detail::with_position_type(c.output_desc().dtype, [&](auto t) {
    using Pos = decltype(t);
    CTG_CHECK(c.node->name, ::ctg::runtime_ops::detail::launch_kernel(c.node->name, c.stream, runtime_ops::detail::advance_kernel<Pos>, dim3(1), dim3(1), 0, c.out<Pos>(), step));
  });
  if (!launched) throw runtime_error(c.node->name, "launch_advance", "the position is not i32 or i64");
  CTG_CHECK(c.node->name, cudaGetLastError());
}

}  // namespace ctg
