#pragma once
//! The embedding op's runtime: one block per token copies its table row (any dtype: bytes). An id
//! outside the table is never read: the row is zeroed and (position, id) of the first one is
//! folded into one 64-bit word on the device with atomicMin (position in the high half, so the
//! lowest position wins); `check_embedding` reads that word, reports it and clears it.
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include <ctgraph/runtime/error.hpp>
#include <ctgraph/runtime/launch_context.hpp>
#include <ctgraph/runtime/ops/pdl.cuh>
#include <ctgraph/runtime/memory.hpp>

namespace ctg {

//! What prepare_embedding allocates for one node: the word that remembers the first bad id.
struct embedding_state {
  allocation first_bad;  // device, one unsigned long long; all ones: none
};

namespace runtime_ops::detail {
inline constexpr unsigned long long no_bad_id = ~0ull;

template <class Id>
__global__ void embedding_kernel(const Id* ids, const unsigned char* table, unsigned char* out, std::int64_t rows,
                                 std::int64_t row_bytes, unsigned long long* first_bad) {
  pdl_begin();  // the kernel before has completed (see pdl.cuh)
  const std::int64_t t = blockIdx.x;
  const Id id = ids[t];
  unsigned char* dst = out + t * row_bytes;
  if (id < 0 || std::int64_t(id) >= rows) {
    for (std::int64_t i = threadIdx.x; i < row_bytes; i += blockDim.x) dst[i] = 0;
    if (threadIdx.x == 0) atomicMin(first_bad, (static_cast<unsigned long long>(t) << 32) | static_cast<std::uint32_t>(id));
    return;
  }
  const unsigned char* src = table + std::int64_t(id) * row_bytes;
  if (row_bytes % 16 == 0 && reinterpret_cast<std::uintptr_t>(src) % 16 == 0 && reinterpret_cast<std::uintptr_t>(dst) % 16 == 0) {
    for (std::int64_t i = threadIdx.x; i < row_bytes / 16; i += blockDim.x)
      reinterpret_cast<uint4*>(dst)[i] = reinterpret_cast<const uint4*>(src)[i];
  } else {
    for (std::int64_t i = threadIdx.x; i < row_bytes; i += blockDim.x) dst[i] = src[i];
  }
}
}  // namespace runtime_ops::detail

template <class = void>  // compiled (with its kernels) only where a graph uses the op
embedding_state prepare_embedding(const launch_context& c) {
  embedding_state s{allocation(allocation_kind::device, sizeof(unsigned long long), c.node->name)};
  CTG_CHECK(c.node->name, cudaMemset(s.first_bad.get(), 0xff, sizeof(unsigned long long)));
  return s;
}

template <class = void>  // compiled (with its kernels) only where a graph uses the op
void launch_embedding(const launch_context& c, const embedding_state& s) {
  const tensor_desc &ids = c.input_desc[0], &table = c.input_desc[1];
  const std::int64_t tokens = ids.dims[0], rows = table.dims[0], row_bytes = std::int64_t(table.bytes()) / (rows > 0 ? rows : 1);
  if (tokens == 0) return;
  if (c.inputs[0] == nullptr || c.inputs[1] == nullptr || c.output == nullptr) throw runtime_error(c.node->name, "launch_embedding", "a buffer has no device pointer");
  if (tokens > 0x7fffffff) throw runtime_error(c.node->name, "launch_embedding", "more tokens than one grid holds");
  auto* first_bad = static_cast<unsigned long long*>(s.first_bad.get());
  const auto* tab = static_cast<const unsigned char*>(c.inputs[1]);
  auto* out = static_cast<unsigned char*>(c.output);
  if (ids.dtype == dtype_id::i32)
    CTG_CHECK(c.node->name, ::ctg::runtime_ops::detail::launch_kernel(c.node->name, c.stream, runtime_ops::detail::embedding_kernel<std::int32_t>, dim3(unsigned(tokens)), dim3(128), 0, c.input<std::int32_t>(0), tab, out, rows, row_bytes, first_bad));
  else
    CTG_CHECK(c.node->name, ::ctg::runtime_ops::detail::launch_kernel(c.node->name, c.stream, runtime_ops::detail::embedding_kernel<std::int64_t>, dim3(unsigned(tokens)), dim3(128), 0, c.input<std::int64_t>(0), tab, out, rows, row_bytes, first_bad));
  CTG_CHECK(c.node->name, cudaGetLastError());
}

//! After the stream has caught up: throws naming the first out-of-range id and its position since
//! the last check, and clears it.
template <class = void>  // compiled (with its kernels) only where a graph uses the op
void check_embedding(const launch_context& c, const embedding_state& s) {
  unsigned long long word = runtime_ops::detail::no_bad_id;
  CTG_CHECK(c.node->name, cudaMemcpy(&word, s.first_bad.get(), sizeof(word), cudaMemcpyDeviceToHost));
  if (word == runtime_ops::detail::no_bad_id) return;
  CTG_CHECK(c.node->name, cudaMemset(s.first_bad.get(), 0xff, sizeof(word)));
  const std::int64_t position = std::int64_t(word >> 32), id = std::int32_t(std::uint32_t(word & 0xffffffffu));
  throw runtime_error(c.node->name, "embedding", "token id " + std::to_string(id) + " at position " + std::to_string(position) +
                                                     " is outside the table's " + std::to_string(c.input_desc[1].dims[0]) + " rows (its row was written as zeros)");
}

}  // namespace ctg
