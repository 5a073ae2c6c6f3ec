#pragma once
//! pack_rows: copies `rows` rows of `row_bytes` bytes from a buffer whose rows start `pitch_bytes`
//! apart (16-byte aligned, as cuBLASLt's fast kernels write them) into a packed buffer whose rows
//! may start at any multiple of `element` bytes (GPT-2's 50,257 bf16 logits: every other row is
//! only 2-byte aligned). Capturable.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace ctg::runtime_ops::detail {

inline constexpr int pack_rows_threads = 256;
inline constexpr int pack_rows_unroll = 4;  // 16-byte chunks per thread and pass: loads in flight

//! Works on the packed destination as one flat array of elements: each thread stores whole
//! 16-byte aligned chunks of it (so a warp's store is 512 contiguous bytes) and gathers each
//! chunk's elements from the source. Inside one source row they are 16 contiguous bytes at an
//! offset that is the same for the whole row: two aligned 16-byte loads and a byte shift. A chunk
//! across a row boundary (or rows narrower than a chunk) is gathered element by element, as are
//! the `head` elements before the first aligned chunk and the few after the last.
template <class E, class Index>
__global__ void __launch_bounds__(pack_rows_threads)
    pack_rows_kernel(const std::byte* src, std::size_t pitch_bytes, std::byte* dst, Index row_elements, Index elements, Index head,
                     Index chunks) {
  constexpr Index per_chunk = 16 / sizeof(E);
  const auto at = [&](Index row, Index col) { return src + std::size_t(row) * pitch_bytes + std::size_t(col) * sizeof(E); };
  const auto chunk = [&](Index c) {
    const Index f = head + c * per_chunk, row = f / row_elements, col = f - row * row_elements;
    uint4 v;
    if (col + per_chunk <= row_elements) {
      const std::byte* p = at(row, col);
      const unsigned s = unsigned(reinterpret_cast<std::uintptr_t>(p) % 16);
      const uint4* a = reinterpret_cast<const uint4*>(p - s);
      const uint4 lo = a[0], hi = s ? a[1] : lo;  // a[1] is still inside the row's pitch when s > 0
      const std::uint32_t x[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
      const unsigned q = s / 4, bits = s % 4 * 8;  // whole words, then the bytes of a half word
      std::uint32_t y[5];
      for (int j = 0; j < 5; ++j) y[j] = q == 0 ? x[j] : q == 1 ? x[j + 1] : q == 2 ? x[j + 2] : x[j + 3];
      v.x = __funnelshift_r(y[0], y[1], bits), v.y = __funnelshift_r(y[1], y[2], bits);
      v.z = __funnelshift_r(y[2], y[3], bits), v.w = __funnelshift_r(y[3], y[4], bits);
    } else {
      E e[per_chunk];
      for (Index i = 0, r = row, k = col; i < per_chunk; ++i) {
        e[i] = *reinterpret_cast<const E*>(at(r, k));
        if (++k == row_elements) k = 0, ++r;
      }
      std::memcpy(&v, e, sizeof(v));
    }
    return v;
  };
  const Index step = Index(blockDim.x) * pack_rows_unroll;
  for (Index c0 = Index(blockIdx.x) * step + threadIdx.x; c0 < chunks; c0 += Index(gridDim.x) * step) {
    uint4 v[pack_rows_unroll];
    for (int j = 0; j < pack_rows_unroll; ++j)
      if (c0 + j * blockDim.x < chunks) v[j] = chunk(c0 + j * blockDim.x);
    for (int j = 0; j < pack_rows_unroll; ++j)
      if (c0 + j * blockDim.x < chunks)
        *reinterpret_cast<uint4*>(dst + std::size_t(head + (c0 + j * blockDim.x) * per_chunk) * sizeof(E)) = v[j];
  }
  // The unaligned ends: fewer than 16 bytes each.
  const auto copy = [&](Index f) {
    const Index row = f / row_elements;
    *reinterpret_cast<E*>(dst + std::size_t(f) * sizeof(E)) = *reinterpret_cast<const E*>(at(row, f - row * row_elements));
  };
  const Index id = Index(blockIdx.x) * blockDim.x + threadIdx.x, tail = head + chunks * per_chunk;
  if (id < head) copy(id);
  if (id < elements - tail) copy(tail + id);
}

template <class E, class Index>
cudaError_t launch_pack_rows(const std::byte* src, std::size_t pitch_bytes, std::byte* dst, std::size_t row_elements,
                             std::size_t elements, cudaStream_t stream) {
  const std::size_t to_aligned = (16 - reinterpret_cast<std::uintptr_t>(dst) % 16) % 16 / sizeof(E);
  const std::size_t head = std::min(to_aligned, elements), chunks = (elements - head) * sizeof(E) / 16;
  const std::size_t per_block = std::size_t(pack_rows_threads) * pack_rows_unroll;
  // At least one block for the ends; a grid-stride loop past 2^16 blocks (~1 GB of chunks).
  const unsigned blocks = unsigned(std::clamp<std::size_t>((chunks + per_block - 1) / per_block, 1, 65536));
  pack_rows_kernel<E, Index><<<blocks, pack_rows_threads, 0, stream>>>(src, pitch_bytes, dst, Index(row_elements), Index(elements),
                                                                         Index(head), Index(chunks));
  return cudaGetLastError();
}

}  // namespace ctg::runtime_ops::detail

namespace ctg {

//! The most rows one pack_rows call takes.
inline constexpr std::size_t pack_rows_max_rows = 65535;

//! Enqueues the packing copy on `stream`; `element` is 2 or 4 bytes, `pitch_bytes` a multiple of
//! 16 at least `row_elements * element`, `src` 16-byte aligned, `dst` aligned to `element`.
//! Returns the launch's error (cudaErrorInvalidValue for arguments outside these limits).
template <class = void>  // compiled (with its kernels) only where a matmul needs it
cudaError_t pack_rows(const void* src, std::size_t pitch_bytes, void* dst, std::size_t row_elements, std::size_t rows,
                      std::size_t element, cudaStream_t stream) {
  if (rows == 0 || row_elements == 0) return cudaSuccess;
  if (rows > pack_rows_max_rows || (element != 2 && element != 4) || pitch_bytes % 16 != 0 || pitch_bytes < row_elements * element ||
      reinterpret_cast<std::uintptr_t>(src) % 16 != 0 || reinterpret_cast<std::uintptr_t>(dst) % element != 0)
    return cudaErrorInvalidValue;
  const auto* s = static_cast<const std::byte*>(src);
  auto* d = static_cast<std::byte*>(dst);
  const std::size_t elements = rows * row_elements;
  namespace rd = runtime_ops::detail;
  if (elements <= 0xffffffffu)  // 32-bit divisions where the indices allow
    return element == 2 ? rd::launch_pack_rows<std::uint16_t, std::uint32_t>(s, pitch_bytes, d, row_elements, elements, stream)
                        : rd::launch_pack_rows<std::uint32_t, std::uint32_t>(s, pitch_bytes, d, row_elements, elements, stream);
  return element == 2 ? rd::launch_pack_rows<std::uint16_t, std::uint64_t>(s, pitch_bytes, d, row_elements, elements, stream)
                      : rd::launch_pack_rows<std::uint32_t, std::uint64_t>(s, pitch_bytes, d, row_elements, elements, stream);
}

}  // namespace ctg
