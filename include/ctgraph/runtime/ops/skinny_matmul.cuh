#pragma once
//! The skinny matmul: C[M,N] = act(A[M,K] W + bias) [+ residual] for M <= 64 rows (decode, small
//! batches) in bf16 or f16, W [K,N] or [N,K] (transposed), f32 accumulation: a kernel of ctgraph's
//! own for the shapes where cuBLASLt leaves half the HBM bandwidth unused. `prepare_matmul`
//! (runtime/ops/matmul.hpp) times it against cuBLASLt per node and keeps the faster.
//!
//! How it reaches the memory roofline: W is read exactly once, straight from HBM into shared
//! memory with 16-byte cp.async copies, and no byte of it is moved twice. Each warp owns 64 output
//! columns and a range of K; the block's 4 warps split K between them, and blocks split K further
//! (split-K) until the grid fills every SM once. Every lane copies and later reads back only its
//! own bytes of a per-lane ring of stages, so the pipeline needs no barrier, only
//! cp.async.wait_group. Tensor cores (mma.sync m16n8k16, f32 accumulators) take W as the 16-row
//! operand and 8 rows of A as the 8-column one. K is permuted inside each 32-wide chunk, the same
//! way for both operands (a sum does not care about order), so that each lane's fragments are the
//! 16 contiguous bytes it copied: 8 consecutive k of one row. A [K,N] W has 8 consecutive n per
//! 16 bytes instead; byte permutes pair up two rows of k, and the fragment's rows become columns
//! n, n+1 of C. The warps' sums meet in shared memory; with split-K each block then writes its
//! partial tile (f32, L2-resident) and the last block of a column tile, counted by an atomic,
//! adds the partials in slice order, applies bias, activation and residual, and writes C. One
//! kernel, deterministic (same bits run to run), no allocation, capturable.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <type_traits>

#include <ctgraph/graph/dtype.hpp>
#include <ctgraph/graph/ops/elementwise.hpp>
#include <ctgraph/graph/ops/matmul.hpp>
#include <ctgraph/runtime/ops/float_conversion.cuh>

namespace ctg {

//! The most rows of A the skinny matmul takes.
inline constexpr std::int64_t skinny_matmul_max_rows = 64;

//! How the skinny matmul covers one node's C: `tiles` blocks of 64 columns times `slices` blocks
//! along K, each of 4 warps, each warp `chunks_per_warp` chunks of 32 k.
struct skinny_matmul_config {
  const void* kernel = nullptr;  // the instance for the dtype, W's layout and `m_tiles`
  int m_tiles = 0;               // 8-row tiles of A per warp: 1, 2, 4 or 8
  int tiles = 0, slices = 0, chunks_per_warp = 0;
  std::size_t shared_bytes = 0;  // dynamic shared memory per block
  //! Bytes of f32 partial sums a split-K launch needs (slices x M x N x 4; 0 without split-K).
  std::size_t partial_bytes(std::int64_t m, std::int64_t n) const {
    return slices > 1 ? std::size_t(slices) * std::size_t(m) * std::size_t(n) * sizeof(float) : 0;
  }
};

//! What one launch reads and writes. `partials` (f32, `partial_bytes`) and `counters` (one
//! unsigned per tile, zero before the first launch; each launch leaves them zero) are needed
//! with split-K only.
struct skinny_matmul_args {
  const void* a = nullptr;
  const void* w = nullptr;
  const void* bias = nullptr;      // [N] or null
  const void* residual = nullptr;  // [M,N] or null
  void* out = nullptr;
  float* partials = nullptr;
  unsigned* counters = nullptr;
  int m = 0, n = 0, k = 0;
  ops::epilogue act = ops::epilogue::none;
};

}  // namespace ctg

namespace ctg::runtime_ops::detail {

inline constexpr int skinny_warps = 4;      // per block; each its own range of K
inline constexpr int skinny_chunk_k = 32;   // k per pipeline stage: 4 lanes x 8 elements
inline constexpr int skinny_tile_n = 64;    // columns per warp and block: 8 lane groups x 8
inline constexpr int skinny_min_chunks = 4; // per warp, so the pipeline has something to overlap

template <int MTiles>
inline constexpr int skinny_stages = MTiles >= 8 ? 3 : 4;  // 3 keeps two blocks per SM at M = 64
//! 16-byte slots per lane and stage: 8 of W, then one per 8-row tile of A.
template <int MTiles>
inline constexpr int skinny_slots = 8 + MTiles;
template <int MTiles>
inline constexpr std::size_t skinny_shared_bytes = std::size_t(skinny_warps) * skinny_stages<MTiles> * skinny_slots<MTiles> * 32 * 16;
// The ring becomes the warps' reduction buffer (f32 [warp][8 MTiles][64]) once drained.
static_assert(skinny_shared_bytes<8> >= std::size_t(skinny_warps) * 64 * skinny_tile_n * sizeof(float));

//! A 16-byte copy into shared memory that bypasses L1; `ok` false fills zeros and reads nothing.
__device__ inline void skinny_copy(const uint4* dst, const void* src, bool ok) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const auto s = static_cast<std::uint32_t>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global.L2::128B [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src), "r"(ok ? 16 : 0) : "memory");
#endif
}
__device__ inline void skinny_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}
template <int Pending>
__device__ inline void skinny_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending) : "memory");
#endif
}

//! c += a b for one m16n8k16 tile: a the 16x16 operand (4 registers of 2), b the 16x8 one.
template <class T>
__device__ inline void skinny_mma(float (&c)[4], const std::uint32_t (&a)[4], std::uint32_t b0, std::uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if constexpr (std::is_same_v<T, __nv_bfloat16>)
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  else
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

//! C[m][n..n+3] from its f32 sums: bias, activation (the same functors as the elementwise ops),
//! residual, one rounding.
template <class T>
__device__ inline void skinny_finish(const skinny_matmul_args& p, int m, int n, float4 v) {
  float x[4] = {v.x, v.y, v.z, v.w};
  const std::size_t at = std::size_t(m) * std::size_t(p.n) + std::size_t(n);
  T y[4];
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    if (p.bias) x[j] += to_float(static_cast<const T*>(p.bias)[n + j]);
    if (p.act == ops::epilogue::relu) x[j] = ops::relu{}(x[j]);
    else if (p.act == ops::epilogue::gelu) x[j] = ops::gelu{}(x[j]);
    if (p.residual) x[j] += to_float(static_cast<const T*>(p.residual)[at + std::size_t(j)]);
    y[j] = from_float<T>(x[j]);
  }
  uint2 packed;
  std::memcpy(&packed, y, sizeof(packed));
  *reinterpret_cast<uint2*>(static_cast<T*>(p.out) + at) = packed;  // n % 4 == 0: 8-byte aligned
}

//! One block: columns [64 x, 64 x + 64) of C over K-slice y of the grid (see the file's comment).
//! Lane (g, t) = (lane / 4, lane % 4) copies, per chunk of 32 k starting at k0, the 8 elements
//! k0 + 8t .. k0 + 8t + 7 of: A's rows 8i + g (one slot per tile i), and W's rows n0 + 8g + j
//! (transposed) or W's rows k0 + 8t + j at columns n0 + 8g .. + 7 (j = 0..7). In mma step s (two
//! per chunk) its fragment slots {2t, 2t+1} hold k0 + 8t + 4s + {0, 1} and slots {2t+8, 2t+9}
//! hold k0 + 8t + 4s + {2, 3}; fragment q's rows g and g+8 are columns n0 + 8g + 2q and + 1.
template <class T, bool TransposeW, int MTiles>
__global__ void __launch_bounds__(skinny_warps * 32) skinny_matmul_kernel(skinny_matmul_args p, int chunks_per_warp) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  constexpr int stages = skinny_stages<MTiles>, slots = skinny_slots<MTiles>, rows = 8 * MTiles;
  extern __shared__ uint4 skinny_ring[];
  __shared__ bool last_block;
  const int lane = int(threadIdx.x % 32), warp = int(threadIdx.x / 32), g = lane / 4, t = lane % 4;
  const int n0 = int(blockIdx.x) * skinny_tile_n, col = n0 + 8 * g;
  const int chunks = (p.k + skinny_chunk_k - 1) / skinny_chunk_k;
  const int first = (int(blockIdx.y) * skinny_warps + warp) * chunks_per_warp;
  const int count = max(0, min(chunks_per_warp, chunks - first));
  const T* a = static_cast<const T*>(p.a);
  const T* w = static_cast<const T*>(p.w);
  uint4* mine = skinny_ring + warp * stages * slots * 32 + lane;  // slot j of stage s: mine[(s * slots + j) * 32]

  const auto load = [&](int chunk, int stage) {
    const int k0 = chunk * skinny_chunk_k + 8 * t;
    const bool k_ok = k0 < p.k, w_ok = k_ok && col < p.n;  // K, N % 8 == 0: 8 elements all in or all out
    const uint4* dst = mine + stage * slots * 32;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const std::size_t at = TransposeW ? std::size_t(col + j) * std::size_t(p.k) + std::size_t(k0)
                                        : std::size_t(k0 + j) * std::size_t(p.n) + std::size_t(col);
      skinny_copy(dst + j * 32, w_ok ? w + at : w, w_ok);
    }
#pragma unroll
    for (int i = 0; i < MTiles; ++i) {
      const int row = 8 * i + g;
      const bool ok = k_ok && row < p.m;  // zeros past K: garbage times zero could be NaN
      skinny_copy(dst + (8 + i) * 32, ok ? a + std::size_t(row) * std::size_t(p.k) + std::size_t(k0) : a, ok);
    }
  };

  float acc[MTiles][4][4] = {};
  const auto compute = [&](int stage) {
    const uint4* src = mine + stage * slots * 32;
    std::uint32_t wv[8][4], av[MTiles][4];
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const uint4 v = src[j * 32];
      wv[j][0] = v.x, wv[j][1] = v.y, wv[j][2] = v.z, wv[j][3] = v.w;
    }
#pragma unroll
    for (int i = 0; i < MTiles; ++i) {
      const uint4 v = src[(8 + i) * 32];
      av[i][0] = v.x, av[i][1] = v.y, av[i][2] = v.z, av[i][3] = v.w;
    }
#pragma unroll
    for (int s = 0; s < 2; ++s)
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        std::uint32_t f[4];
        if constexpr (TransposeW) {  // rows n0 + 8g + 2q and + 1, k pairs 2s and 2s + 1 of the 16 bytes
          f[0] = wv[2 * q][2 * s], f[1] = wv[2 * q + 1][2 * s], f[2] = wv[2 * q][2 * s + 1], f[3] = wv[2 * q + 1][2 * s + 1];
        } else {  // rows k0 + 8t + 4s + 0..3, columns n0 + 8g + 2q and + 1: pair the halves across rows
          const std::uint32_t x = wv[4 * s][q], y = wv[4 * s + 1][q], z = wv[4 * s + 2][q], u = wv[4 * s + 3][q];
          f[0] = __byte_perm(x, y, 0x5410), f[1] = __byte_perm(x, y, 0x7632);
          f[2] = __byte_perm(z, u, 0x5410), f[3] = __byte_perm(z, u, 0x7632);
        }
#pragma unroll
        for (int i = 0; i < MTiles; ++i) skinny_mma<T>(acc[i][q], f, av[i][2 * s], av[i][2 * s + 1]);
      }
  };

#pragma unroll
  for (int i = 0; i < stages - 1; ++i) {
    if (i < count) load(first + i, i);
    skinny_commit();  // an empty group where there is no chunk: the waits below count groups
  }
  for (int i = 0; i < count; ++i) {
    skinny_wait<stages - 2>();  // chunk i has landed (this lane's own copies)
    compute(i % stages);
    // Into the stage read in the previous iteration: those reads fed its mma, so they are done.
    if (i + stages - 1 < count) load(first + i + stages - 1, (i + stages - 1) % stages);
    skinny_commit();
  }
  skinny_wait<0>();
  __syncthreads();  // every warp is done with the ring: it becomes the reduction buffer

  float* red = reinterpret_cast<float*>(skinny_ring);  // [warp][row][64]
#pragma unroll
  for (int i = 0; i < MTiles; ++i)
#pragma unroll
    for (int q = 0; q < 4; ++q) {  // c0, c2: row m = 8i + 2t, columns 8g + 2q, + 1; c1, c3: row m + 1
      float* at = red + (warp * rows + 8 * i + 2 * t) * skinny_tile_n + 8 * g + 2 * q;
      *reinterpret_cast<float2*>(at) = make_float2(acc[i][q][0], acc[i][q][2]);
      *reinterpret_cast<float2*>(at + skinny_tile_n) = make_float2(acc[i][q][1], acc[i][q][3]);
    }
  __syncthreads();

  const int slices = int(gridDim.y);
  constexpr int packs = skinny_tile_n / 4;  // float4s per row of the tile
  for (int e = int(threadIdx.x); e < rows * packs; e += int(blockDim.x)) {
    const int m = e / packs, c = e % packs * 4, n = n0 + c;
    if (m >= p.m || n >= p.n) continue;  // N % 8 == 0: a pack is all in or all out
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    for (int wi = 0; wi < skinny_warps; ++wi) {  // in warp order: the same bits every run
      const float4 x = *reinterpret_cast<const float4*>(red + (wi * rows + m) * skinny_tile_n + c);
      v.x += x.x, v.y += x.y, v.z += x.z, v.w += x.w;
    }
    if (slices == 1) skinny_finish<T>(p, m, n, v);
    else __stcg(reinterpret_cast<float4*>(p.partials + (std::size_t(blockIdx.y) * std::size_t(p.m) + std::size_t(m)) * std::size_t(p.n) + std::size_t(n)), v);
  }
  if (slices == 1) return;
  // The last block of this column tile to finish adds the slices' partial sums, in slice order.
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last_block = atomicAdd(p.counters + blockIdx.x, 1u) == unsigned(slices - 1);
  __syncthreads();
  if (!last_block) return;
  __threadfence();
  for (int e = int(threadIdx.x); e < rows * packs; e += int(blockDim.x)) {
    const int m = e / packs, n = n0 + e % packs * 4;
    if (m >= p.m || n >= p.n) continue;
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    for (int s = 0; s < slices; ++s) {
      const float4 x = __ldcg(reinterpret_cast<const float4*>(p.partials + (std::size_t(s) * std::size_t(p.m) + std::size_t(m)) * std::size_t(p.n) + std::size_t(n)));
      v.x += x.x, v.y += x.y, v.z += x.z, v.w += x.w;
    }
    skinny_finish<T>(p, m, n, v);
  }
  if (threadIdx.x == 0) p.counters[blockIdx.x] = 0;  // ready for the next launch
#endif
}

template <class T, bool TransposeW>
const void* skinny_kernel_for(int m_tiles) {
  switch (m_tiles) {
    case 1: return reinterpret_cast<const void*>(&skinny_matmul_kernel<T, TransposeW, 1>);
    case 2: return reinterpret_cast<const void*>(&skinny_matmul_kernel<T, TransposeW, 2>);
    case 4: return reinterpret_cast<const void*>(&skinny_matmul_kernel<T, TransposeW, 4>);
    default: return reinterpret_cast<const void*>(&skinny_matmul_kernel<T, TransposeW, 8>);
  }
}

}  // namespace ctg::runtime_ops::detail

namespace ctg {

//! Why the skinny matmul cannot run C[M,N] = A[M,K] x W on the current device, or null when it
//! can: the shape, the dtype, alignment (every pointer 16-byte aligned), the device.
template <class = void>  // compiled (with its kernels) only where a graph multiplies
const char* skinny_matmul_declines(dtype_id dtype, std::int64_t m, std::int64_t n, std::int64_t k, bool transpose_w,
                                   std::initializer_list<const void*> pointers) {
  if (dtype != dtype_id::bf16 && dtype != dtype_id::f16) return "dtype not bf16 or f16";
  if (m < 1 || m > skinny_matmul_max_rows) return "M outside 1..64";
  if (n % 8 != 0 || k % 8 != 0) return "K or N not a multiple of 8";
  if (n > 0x7fffffff || k > 0x7fffffff) return "K or N past 2^31";
  for (const void* p : pointers)
    if (reinterpret_cast<std::uintptr_t>(p) % 16 != 0) return "a pointer not 16-byte aligned";
  int device = 0, major = 0;
  if (cudaGetDevice(&device) != cudaSuccess || cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
      major < 8)
    return "a GPU before compute capability 8.0 (no cp.async, no bf16 mma)";
  // Built for an older virtual architecture (and JIT-compiled from it), the kernel is empty.
  cudaFuncAttributes f{};
  const void* kernel = dtype == dtype_id::bf16
                           ? (transpose_w ? runtime_ops::detail::skinny_kernel_for<__nv_bfloat16, true>(1)
                                          : runtime_ops::detail::skinny_kernel_for<__nv_bfloat16, false>(1))
                           : (transpose_w ? runtime_ops::detail::skinny_kernel_for<__half, true>(1)
                                          : runtime_ops::detail::skinny_kernel_for<__half, false>(1));
  if (cudaFuncGetAttributes(&f, kernel) != cudaSuccess || f.ptxVersion < 80) {
    (void)cudaGetLastError();
    return "built without sm_80 or newer code (CMAKE_CUDA_ARCHITECTURES)";
  }
  return nullptr;
}

//! Chooses the kernel instance, the tiles and the split-K of C[M,N] = A[M,K] x W for the current
//! device: as many K-slices as fill every SM once (with the blocks per SM the kernel's shared
//! memory allows), each warp at least 4 chunks of 32 k. The shape must be one that
//! `skinny_matmul_declines` accepts.
template <class = void>
cudaError_t configure_skinny_matmul(skinny_matmul_config& cfg, dtype_id dtype, std::int64_t m, std::int64_t n, std::int64_t k,
                                    bool transpose_w) {
  namespace rd = runtime_ops::detail;
  cfg = {};
  cfg.m_tiles = m <= 8 ? 1 : m <= 16 ? 2 : m <= 32 ? 4 : 8;
  cfg.shared_bytes = cfg.m_tiles == 1   ? rd::skinny_shared_bytes<1>
                     : cfg.m_tiles == 2 ? rd::skinny_shared_bytes<2>
                     : cfg.m_tiles == 4 ? rd::skinny_shared_bytes<4>
                                        : rd::skinny_shared_bytes<8>;
  if (dtype == dtype_id::bf16)
    cfg.kernel = transpose_w ? rd::skinny_kernel_for<__nv_bfloat16, true>(cfg.m_tiles) : rd::skinny_kernel_for<__nv_bfloat16, false>(cfg.m_tiles);
  else
    cfg.kernel = transpose_w ? rd::skinny_kernel_for<__half, true>(cfg.m_tiles) : rd::skinny_kernel_for<__half, false>(cfg.m_tiles);
  if (cudaError_t e = cudaFuncSetAttribute(cfg.kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(cfg.shared_bytes)); e != cudaSuccess)
    return e;
  int device = 0, sms = 0, per_sm = 0;
  if (cudaError_t e = cudaGetDevice(&device); e != cudaSuccess) return e;
  if (cudaError_t e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device); e != cudaSuccess) return e;
  if (cudaError_t e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, cfg.kernel, rd::skinny_warps * 32, cfg.shared_bytes);
      e != cudaSuccess)
    return e;
  const std::int64_t chunks = (k + rd::skinny_chunk_k - 1) / rd::skinny_chunk_k;
  const std::int64_t tiles = (n + rd::skinny_tile_n - 1) / rd::skinny_tile_n;
  const std::int64_t slots = std::int64_t(std::max(sms, 1)) * std::max(per_sm, 1);
  const std::int64_t most = std::max<std::int64_t>(1, chunks / (rd::skinny_warps * rd::skinny_min_chunks));
  std::int64_t slices = std::clamp<std::int64_t>(slots / tiles, 1, std::min<std::int64_t>(most, 65535));  // one wave: no second, mostly idle
  const std::int64_t per_warp = (chunks + slices * rd::skinny_warps - 1) / (slices * rd::skinny_warps);
  slices = (chunks + per_warp * rd::skinny_warps - 1) / (per_warp * rd::skinny_warps);  // no slice without work
  cfg.tiles = int(tiles), cfg.slices = int(slices), cfg.chunks_per_warp = int(per_warp);
  return cudaSuccess;
}

//! Enqueues the skinny matmul as `cfg` says; returns the launch's error.
template <class = void>
cudaError_t launch_skinny_matmul(const skinny_matmul_args& args, const skinny_matmul_config& cfg, cudaStream_t stream) {
  if (cfg.slices > 1 && (args.partials == nullptr || args.counters == nullptr)) return cudaErrorInvalidValue;
  skinny_matmul_args p = args;
  int chunks_per_warp = cfg.chunks_per_warp;
  void* params[] = {&p, &chunks_per_warp};
  return cudaLaunchKernel(cfg.kernel, dim3(unsigned(cfg.tiles), unsigned(cfg.slices)), dim3(runtime_ops::detail::skinny_warps * 32), params,
                          cfg.shared_bytes, stream);
}

}  // namespace ctg
