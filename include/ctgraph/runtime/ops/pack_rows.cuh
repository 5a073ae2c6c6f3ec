#pragma once
//! pack_rows: copies `rows` rows of `row_bytes` bytes from a buffer whose rows start `pitch_bytes`
//! apart (16-byte aligned, as cuBLASLt's fast kernels write them) into a packed buffer whose rows
//! may start at any multiple of `element` bytes (GPT-2's 50,257 bf16 logits: every other row is
//! only 2-byte aligned). Capturable.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace ctg::runtime_ops::detail {

//! One row per blockIdx.y; consecutive threads move consecutive elements, so every load and
//! store of a warp is one contiguous run. (16-byte packs per thread made each store instruction
//! touch 16 sectors for 64 bytes: with it and the tail call, GPT-2's lm_head measured 200 us on an
//! H200, against 65 us for the aligned product alone.)
template <class E>
__global__ void pack_rows_kernel(const std::byte* src, std::size_t pitch_bytes, E* dst, std::size_t row_elements) {
  const std::size_t row = blockIdx.y;
  const E* in = reinterpret_cast<const E*>(src + row * pitch_bytes);
  E* out = dst + row * row_elements;
  for (std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < row_elements; i += std::size_t(gridDim.x) * blockDim.x)
    out[i] = in[i];
}

}  // namespace ctg::runtime_ops::detail

namespace ctg {

//! The most rows one pack_rows call takes (one row per grid row).
inline constexpr std::size_t pack_rows_max_rows = 65535;

//! Enqueues the packing copy on `stream`; `element` is 2 or 4 bytes, `pitch_bytes` a multiple of
//! 16 at least `row_elements * element`, `src` 16-byte aligned. Returns the launch's error.
template <class = void>  // compiled (with its kernels) only where a matmul needs it
cudaError_t pack_rows(const void* src, std::size_t pitch_bytes, void* dst, std::size_t row_elements, std::size_t rows,
                             std::size_t element, cudaStream_t stream) {
  if (rows == 0 || row_elements == 0) return cudaSuccess;
  if (rows > pack_rows_max_rows) return cudaErrorInvalidValue;
  const dim3 grid(unsigned(row_elements > 8 * 256 ? 8 : (row_elements + 255) / 256), unsigned(rows));
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
