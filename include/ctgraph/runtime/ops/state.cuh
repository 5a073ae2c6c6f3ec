#pragma once
//! The state ops' runtime (graph/ops/state.hpp). cache_write copies its rows into the state at a
//! position it reads on the device, one block per row (16-byte moves where the row allows); a
//! position out of range writes nothing, and the first one is kept on the device (with a count of
//! such launches) for `check_cache_write`, which executor::check() calls. advance adds its step to
//! a position with one thread. Neither allocates or synchronises: both replay in a CUDA graph.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include <ctgraph/runtime/error.hpp>
#include <ctgraph/runtime/launch_context.hpp>
#include <ctgraph/runtime/memory.hpp>

namespace ctg {

//! What prepare_cache_write allocates for one node: two words on the device, the number of
//! launches whose position was out of range since the last check, and the first such position.
struct cache_write_state {
  allocation out_of_range;
};

namespace runtime_ops::detail {

//! Copies `outer * n` rows of `row_bytes` from `rows` into `state` ([outer, length, row]) at
//! position *pos of its middle dimension.
template <class Pos>
__global__ void cache_write_kernel(unsigned char* state, const Pos* pos, const unsigned char* rows, std::int64_t outer,
                                   std::int64_t length, std::int64_t n, std::int64_t row_bytes,
                                   unsigned long long* out_of_range) {
  const std::int64_t p = std::int64_t(*pos);
  if (p < 0 || p > length - n) {
    if (blockIdx.x == 0 && threadIdx.x == 0 && atomicAdd(&out_of_range[0], 1ull) == 0ull)
      out_of_range[1] = static_cast<unsigned long long>(p);
    return;
  }
  for (std::int64_t r = blockIdx.x; r < outer * n; r += gridDim.x) {
    const std::int64_t o = r / n, j = r % n;
    unsigned char* dst = state + (o * length + p + j) * row_bytes;
    const unsigned char* src = rows + r * row_bytes;
    if (row_bytes % 16 == 0 && reinterpret_cast<std::uintptr_t>(src) % 16 == 0 && reinterpret_cast<std::uintptr_t>(dst) % 16 == 0) {
      for (std::int64_t i = threadIdx.x; i < row_bytes / 16; i += blockDim.x)
        reinterpret_cast<uint4*>(dst)[i] = reinterpret_cast<const uint4*>(src)[i];
    } else {
      for (std::int64_t i = threadIdx.x; i < row_bytes; i += blockDim.x) dst[i] = src[i];
    }
  }
}

template <class Pos>
__global__ void advance_kernel(Pos* pos, long long step) {
  *pos += static_cast<Pos>(step);
}

//! Calls f(std::int32_t{}) or f(std::int64_t{}) for a position's dtype; false for another.
template <class F>
bool with_position_type(dtype_id t, F f) {
  if (t == dtype_id::i32) return f(std::int32_t{}), true;
  if (t == dtype_id::i64) return f(std::int64_t{}), true;
  return false;
}

}  // namespace runtime_ops::detail

template <class = void>  // compiled (with its kernels) only where a graph uses the op
cache_write_state prepare_cache_write(const launch_context& c) {
  cache_write_state s{allocation(allocation_kind::device, 2 * sizeof(unsigned long long), c.node->name)};
  CTG_CHECK(c.node->name, cudaMemset(s.out_of_range.get(), 0, 2 * sizeof(unsigned long long)));
  return s;
}

//! Runs ops::cache_write<Dim> on the node (dim normalised): state = `c.output` (the state input's
//! storage, `c.input_desc[0]`), position = `c.inputs[1]`, rows = `c.inputs[2]`.
template <class = void>  // compiled (with its kernels) only where a graph uses the op
void launch_cache_write(const launch_context& c, const cache_write_state& s, int dim) {
  const tensor_desc &state = c.input_desc[0], &rows = c.input_desc[2];
  if (c.input_count != 3 || dim < 0 || dim >= state.rank || rows.rank != state.rank)
    throw runtime_error(c.node->name, "launch_cache_write", "the inputs are not a state, a position and rows of the state's rank");
  std::int64_t outer = 1, row_bytes = std::int64_t(size_of(state.dtype));
  for (int i = 0; i < dim; ++i) outer *= state.dims[i];
  for (int i = dim + 1; i < state.rank; ++i) row_bytes *= state.dims[i];
  const std::int64_t length = state.dims[dim], n = rows.dims[dim];
  if (outer * n == 0 || row_bytes == 0) return;
  if (c.output == nullptr || c.inputs[1] == nullptr || c.inputs[2] == nullptr)
    throw runtime_error(c.node->name, "launch_cache_write", "a buffer has no device pointer");
  const int blocks = int(std::min<std::int64_t>(outer * n, 4096));
  auto* flag = static_cast<unsigned long long*>(s.out_of_range.get());
  const bool launched = runtime_ops::detail::with_position_type(c.input_desc[1].dtype, [&](auto t) {
    using Pos = decltype(t);
    runtime_ops::detail::cache_write_kernel<Pos><<<blocks, 128, 0, c.stream>>>(
        c.out<unsigned char>(), c.input<Pos>(1), c.input<unsigned char>(2), outer, length, n, row_bytes, flag);
  });
  if (!launched) throw runtime_error(c.node->name, "launch_cache_write", "the position is not i32 or i64");
  CTG_CHECK(c.node->name, cudaGetLastError());
}

//! After the stream has caught up: throws naming the first position out of range since the last
//! check (those launches wrote nothing), and clears it.
template <class = void>  // compiled (with its kernels) only where a graph uses the op
void check_cache_write(const launch_context& c, const cache_write_state& s) {
  unsigned long long words[2]{};
  CTG_CHECK(c.node->name, cudaMemcpy(words, s.out_of_range.get(), sizeof(words), cudaMemcpyDeviceToHost));
  if (words[0] == 0) return;
  CTG_CHECK(c.node->name, cudaMemset(s.out_of_range.get(), 0, sizeof(words)));
  throw runtime_error(c.node->name, "cache_write",
                      "position " + std::to_string(static_cast<long long>(words[1])) + " is outside the state: " +
                          std::to_string(words[0]) + " launch(es) since the last check wrote nothing (a write needs 0 <= position and position + rows <= the state's extent)");
}

//! Runs ops::advance<step> on the node: the position is `c.output` (input 0's storage).
template <class = void>  // compiled (with its kernels) only where a graph uses the op
void launch_advance(const launch_context& c, long long step) {
  if (c.output == nullptr) throw runtime_error(c.node->name, "launch_advance", "the position has no device pointer");
  const bool launched = runtime_ops::detail::with_position_type(c.output_desc().dtype, [&](auto t) {
    using Pos = decltype(t);
    runtime_ops::detail::advance_kernel<Pos><<<1, 1, 0, c.stream>>>(c.out<Pos>(), step);
  });
  if (!launched) throw runtime_error(c.node->name, "launch_advance", "the position is not i32 or i64");
  CTG_CHECK(c.node->name, cudaGetLastError());
}

}  // namespace ctg
