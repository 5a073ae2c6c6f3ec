#pragma once
//! pack_rows: copies `rows` rows of `row_bytes` bytes from a buffer whose rows start `pitch_bytes`
//! apart (16-byte aligned, as cuBLASLt's fast kernels write them) into a packed buffer whose rows
//! may start at any multiple of `element` bytes (GPT-2's 50,257 bf16 logits: every other row is
//! only 2-byte aligned). Each thread reads 16 bytes and writes their elements, which coalesce
//! into whole sectors across a warp. Capturable.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace ctg::runtime_ops::detail {

//! One row per blockIdx.y; each thread moves 16 bytes (16 / sizeof(E) elements) per step.
template <class E>
__global__ void pack_rows_kernel(const std::byte* src, std::size_t pitch_bytes, E* dst, std::size_t row_elements) {
  constexpr int per = 16 / int(sizeof(E));
  const std::size_t row = blockIdx.y;
  const auto* in = reinterpret_cast<const uint4*>(src + row * pitch_bytes);
  E* out = dst + row * row_elements;
  for (std::size_t v = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; v * per < row_elements; v += std::size_t(gridDim.x) * blockDim.x) {
    const uint4 pack = in[v];
    E e[per];
    memcpy(e, &pack, 16);
#pragma unroll
    for (int k = 0; k < per; ++k)
      if (v * per + k < row_elements) out[v * per + k] = e[k];
  }
}

}  // namespace ctg::runtime_ops::detail

namespace ctg {

//! Enqueues the packing copy on `stream`; `element` is 2 or 4 bytes, `pitch_bytes` a multiple of
//! 16 at least `row_elements * element`, `src` 16-byte aligned. Returns the launch's error.
inline cudaError_t pack_rows(const void* src, std::size_t pitch_bytes, void* dst, std::size_t row_elements, std::size_t rows,
                             std::size_t element, cudaStream_t stream) {
  if (rows == 0 || row_elements == 0) return cudaSuccess;
  if (rows > 65535) return cudaErrorInvalidValue;  // one row per grid row
  const std::size_t vectors = (row_elements * element + 15) / 16;
  const dim3 grid(unsigned(vectors > 4 * 256 ? 4 : (vectors + 255) / 256), unsigned(rows));
  const auto* s = static_cast<const std::byte*>(src);
  if (element == 2)
    runtime_ops::detail::pack_rows_kernel<std::uint16_t><<<grid, 256, 0, stream>>>(s, pitch_bytes, static_cast<std::uint16_t*>(dst), row_elements);
  else if (element == 4)
    runtime_ops::detail::pack_rows_kernel<std::uint32_t><<<grid, 256, 0, stream>>>(s, pitch_bytes, static_cast<std::uint32_t*>(dst), row_elements);
  else
    return cudaErrorInvalidValue;
  return cudaGetLastError();
}

}  // namespace ctg
