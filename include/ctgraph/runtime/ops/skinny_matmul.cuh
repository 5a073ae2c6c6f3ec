#pragma once
//! The skinny matmul: C[M,N] = act(A[M,K] W + bias) [+ residual] for M <= 64 rows (decode, small
//! batches) in bf16 or f16, W [K,N] or [N,K] (transposed), f32 accumulation: a kernel of ctgraph's
//! own for the shapes where cuBLASLt leaves HBM bandwidth unused. `prepare_matmul`
//! (runtime/ops/matmul.hpp) times it against cuBLASLt per node and keeps the faster.
//!
//! How it reaches the memory roofline: W is read exactly once, in 16 KB boxes whose rows are long
//! contiguous runs (512 bytes of a [K,N] row, 256 of an [N,K] row), each warp-wide cp.async
//! covering whole 128-byte lines, into a deep ring of stages shared by the block's 8 warps (one
//! block per SM, about 11 stages, ~170 KB in flight per SM). The ring is swizzled (16-byte pieces
//! XOR the row) so that ldmatrix (.trans for [K,N]) reads it without bank conflicts and hands the
//! tensor cores (mma.sync m16n8k16, f32 accumulators) W as the 16-row operand and A as the 8-column
//! one. Each warp owns 32 columns and 32 k of a stage; for [N,K] four warps split the stage's 128
//! k and add their sums in shared memory in warp order. Blocks split K (split-K) and the slices of
//! a column tile form one thread block cluster: each block leaves its partial tile in its shared
//! memory, and after a cluster barrier block r adds the slices' tiles, in slice order, over
//! distributed shared memory for its share of the tile, applies bias, activation and residual,
//! and writes C. No partial sums in global memory, no counters; one kernel, deterministic (same
//! bits run to run), no allocation, capturable. Needs compute capability 9.0 (clusters).
//!
//! Programmatic dependent launch (PDL): launched as a programmatic dependent of the kernel before
//! it, a block starts while that kernel finishes. It lets the kernel after it start at once
//! (griddepcontrol.launch_dependents), and where W is one that no kernel writes (`w_fixed`: a graph
//! input or parameter) it fills its ring's W stages before griddepcontrol.wait, so W streams
//! while the kernel before still runs; A, bias and residual are read, and C written, only after
//! the wait (else it waits first). Launched without PDL, the wait returns at once.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <cooperative_groups.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <type_traits>

#include <ctgraph/graph/dtype.hpp>
#include <ctgraph/graph/ops/elementwise.hpp>
#include <ctgraph/graph/ops/matmul.hpp>
#include <ctgraph/runtime/ops/float_conversion.cuh>
#include <ctgraph/runtime/ops/pdl.cuh>

namespace ctg {

//! The most rows of A the skinny matmul takes.
inline constexpr std::int64_t skinny_matmul_max_rows = 64;

//! How the skinny matmul covers one node's C: `tiles` column tiles times `slices` blocks along K
//! (one thread block cluster per column tile), each block `chunks_per_block` chunks of K.
struct skinny_matmul_config {
  const void* kernel = nullptr;  // the instance for the dtype, W's layout and `m_tiles`
  int m_tiles = 0;               // 8-row tiles of A: 1, 2, 4 or 8
  int tiles = 0, slices = 0, chunks_per_block = 0;
  int chunk_k = 0;               // k per chunk (one pipeline stage)
  int stages = 0;                // of the ring: the plan's, or fewer (CTGRAPH_SKINNY_STAGES)
  std::size_t shared_bytes = 0;  // dynamic shared memory per block
};

//! What one launch reads and writes.
struct skinny_matmul_args {
  const void* a = nullptr;
  const void* w = nullptr;
  const void* bias = nullptr;      // [N] or null
  const void* residual = nullptr;  // [M,N] or null
  void* out = nullptr;
  int m = 0, n = 0, k = 0;
  ops::epilogue act = ops::epilogue::none;
  //! No kernel writes W (a graph input or parameter): a programmatic dependent may read it before
  //! it waits for the kernel before it. False: it waits first.
  bool w_fixed = false;
  //! The gemv only: where given, A's rows are RMS-normalised with this weight [K] and epsilon as
  //! they are loaded (a prologue, runtime/ops/gemv.cuh).
  const void* norm_weight = nullptr;
  float norm_eps = 0.f;
  //! The gemv only: where given, A is silu(a) * gated elementwise ([M,K] each), computed as it
  //! is loaded (a gated prologue, runtime/ops/gemv.cuh).
  const void* gated = nullptr;
  //! The gemv only: sibling products of the same A that this launch runs too (no bias, residual or
  //! activation), each its own W [n,K] and C [M,n]; rows of W past `n` continue into them in order.
  struct sibling {
    const void* w = nullptr;
    void* out = nullptr;
    int n = 0;
  };
  sibling siblings[ops::max_sibling_products - 1]{};
  int sibling_count = 0;
};

}  // namespace ctg

namespace ctg::runtime_ops::detail {

inline constexpr int skinny_warps = 8;         // per block, one block per SM
inline constexpr int skinny_warp_n = 32;       // columns per warp: two 16-row mma tiles
inline constexpr int skinny_warp_k = 32;       // k per warp and stage: two mma steps
inline constexpr int skinny_max_slices = 8;    // the portable cluster size
inline constexpr std::size_t skinny_shared_budget = 220 * 1024;  // of the 227 KB a block may have

//! The tiling for one layout of W and 8-row tiles of A. A stage holds W's box as W stores it, `w_rows`
//! rows of `w_pieces` 16-byte pieces (16 KB: 32 k-rows of 256 columns for [K,N], 64 n-rows of 128
//! k for [N,K]), then A's `rows` x `chunk_k`.
template <bool TransposeW, int MTiles>
struct skinny_plan {
  static constexpr int warps_n = TransposeW ? 2 : 8, warps_k = skinny_warps / warps_n;
  static constexpr int tile_n = skinny_warp_n * warps_n, chunk_k = skinny_warp_k * warps_k, rows = 8 * MTiles;
  static constexpr int w_rows = TransposeW ? tile_n : chunk_k, w_pieces = (TransposeW ? chunk_k : tile_n) / 8;
  static constexpr int a_pieces = chunk_k / 8;
  static constexpr int w_slots = w_rows * w_pieces, a_slots = rows * a_pieces, stage_slots = w_slots + a_slots;
  static constexpr int stages = std::min<int>(12, int(skinny_shared_budget / (std::size_t(stage_slots) * 16)));
  static constexpr std::size_t shared_bytes = std::size_t(stages) * stage_slots * 16;
  static_assert(w_slots * 16 == 16384 && w_slots % (skinny_warps * 32) == 0, "skinny_plan: W's box is 16 KB, whole pieces per thread");
  static_assert(stages >= 4 && stages <= 12, "skinny_plan: too few stages to overlap, or more than skinny_wait_for takes");
  // The ring becomes the reduction buffer (f32 [warps_k][rows][tile_n]) once drained: a smaller
  // ring (CTGRAPH_SKINNY_STAGES) keeps at least `fewest_stages`.
  static constexpr std::size_t reduce_bytes = std::size_t(warps_k) * rows * tile_n * sizeof(float);
  static constexpr int fewest_stages = std::max<int>(2, int((reduce_bytes + std::size_t(stage_slots) * 16 - 1) / (std::size_t(stage_slots) * 16)));
  static_assert(shared_bytes >= reduce_bytes, "skinny_plan: no room to reduce");
};

//! The slot of 16-byte piece `piece` of row `row` in a box of rows of `Pieces` pieces: XOR-swizzled
//! so that 8 consecutive rows at one piece, and one row's pieces, fall in distinct bank groups.
template <int Pieces>
__device__ constexpr int skinny_swizzle(int row, int piece) {
  constexpr int span = Pieces < 8 ? Pieces : 8, rows_per_line = 8 / span;
  return row * Pieces + (piece ^ ((row / rows_per_line) & (span - 1)));
}

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

//! skinny_wait<Pending> for a count known at run time (the ring's stages are): at most 10.
__device__ inline void skinny_wait_for(int pending) {
  switch (pending) {
    case 10: skinny_wait<10>(); break;
    case 9: skinny_wait<9>(); break;
    case 8: skinny_wait<8>(); break;
    case 7: skinny_wait<7>(); break;
    case 6: skinny_wait<6>(); break;
    case 5: skinny_wait<5>(); break;
    case 4: skinny_wait<4>(); break;
    case 3: skinny_wait<3>(); break;
    case 2: skinny_wait<2>(); break;
    case 1: skinny_wait<1>(); break;
    default: skinny_wait<0>(); break;  // all landed: right for any count
  }
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

//! Four 8x8 b16 matrices from shared memory, lane 8q + r giving row r of matrix q; `Trans` hands
//! each lane the transposed matrices' elements.
template <bool Trans>
__device__ inline void skinny_ldmatrix(std::uint32_t (&r)[4], const uint4* row) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const auto s = static_cast<std::uint32_t>(__cvta_generic_to_shared(row));
  if constexpr (Trans)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n" : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(s));
  else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n" : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(s));
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

//! One block: columns [tile_n x, tile_n x + tile_n) of C over K-slice y (see the file's comment).
//! Warp (wn, wk) = (warp % warps_n, warp / warps_n) owns columns 32 wn .. + 31 of the tile and k
//! 32 wk .. + 31 of each chunk. ldmatrix matrix q, row r (lane 8q + r) of the W operand at columns
//! nn.. nn + 15, k kk .. kk + 15 is W's stored row kk + r + 8 (q / 2), piece (nn + 8 (q % 2)) / 8 for
//! [K,N] (transposed as it loads), row nn + r + 8 (q % 2), piece (kk + 8 (q / 2)) / 8 for [N,K]; of
//! A, row 8i + r, piece (32 wk + 8q) / 8 (two mma steps per load). The result's rows are columns
//! nn + lane / 4 (+ 8), its columns rows 8i + 2 (lane % 4) (+ 1) of C. The ring has `stages` stages
//! (plan::fewest_stages .. plan::stages).
template <class T, bool TransposeW, int MTiles>
__global__ void __launch_bounds__(skinny_warps * 32, 1) skinny_matmul_kernel(skinny_matmul_args p, int chunks_per_block, int stages) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  using plan = skinny_plan<TransposeW, MTiles>;
  constexpr int rows = plan::rows, tile_n = plan::tile_n, chunk_k = plan::chunk_k;
  constexpr int threads = skinny_warps * 32;
  extern __shared__ uint4 skinny_ring[];
  const int tid = int(threadIdx.x), lane = tid % 32, warp = tid / 32;
  const int n0 = int(blockIdx.x) * tile_n;
  const int chunks = (p.k + chunk_k - 1) / chunk_k;
  const int first = int(blockIdx.y) * chunks_per_block;
  const int count = max(0, min(chunks_per_block, chunks - first));
  const T* a = static_cast<const T*>(p.a);
  const T* w = static_cast<const T*>(p.w);

  // One warp-wide copy covers one 512-byte row of a [K,N] box or two 256-byte rows of an [N,K] one.
  const auto load_w = [&](int chunk, int stage) {
    const int k0 = chunk * chunk_k;
    uint4* ws = skinny_ring + stage * plan::stage_slots;
#pragma unroll
    for (int i = 0; i < plan::w_slots / threads; ++i) {
      const int e = i * threads + tid, r = e / plan::w_pieces, c = e % plan::w_pieces;
      const int n = TransposeW ? n0 + r : n0 + 8 * c, k = TransposeW ? k0 + 8 * c : k0 + r;
      const bool ok = n < p.n && k < p.k;  // K, N % 8 == 0: a piece is all in or all out
      const std::size_t at = TransposeW ? std::size_t(n) * std::size_t(p.k) + std::size_t(k) : std::size_t(k) * std::size_t(p.n) + std::size_t(n);
      skinny_copy(ws + skinny_swizzle<plan::w_pieces>(r, c), ok ? w + at : w, ok);
    }
  };
  // A's piece e (row e / a_pieces) of a chunk: where it lies, and whether it is in the matrix
  // (zeros past K and M: garbage times zero could be NaN).
  const auto a_piece = [&](int chunk, int e, const T*& from) {
    const int r = e / plan::a_pieces, k = chunk * chunk_k + 8 * (e % plan::a_pieces);
    from = a + std::size_t(r) * std::size_t(p.k) + std::size_t(k);
    return r < p.m && k < p.k;
  };
  const auto a_slot = [&](int stage, int e) {
    return skinny_ring + stage * plan::stage_slots + plan::w_slots + skinny_swizzle<plan::a_pieces>(e / plan::a_pieces, e % plan::a_pieces);
  };
  const auto load_a = [&](int chunk, int stage) {
#pragma unroll
    for (int i = 0; i < (plan::a_slots + threads - 1) / threads; ++i) {
      const int e = i * threads + tid;
      if (plan::a_slots % threads != 0 && e >= plan::a_slots) break;
      const T* from = nullptr;
      const bool ok = a_piece(chunk, e, from);
      skinny_copy(a_slot(stage, e), ok ? from : a, ok);
    }
  };

  const int wn = warp % plan::warps_n, wk = warp / plan::warps_n, q = lane / 8, r = lane % 8;
  float acc[MTiles][2][4] = {};
  const auto compute = [&](int stage) {
    const uint4* ws = skinny_ring + stage * plan::stage_slots;
    const uint4* as = ws + plan::w_slots;
    std::uint32_t b[MTiles][4];  // k 32 wk + 0..7, 8..15 (step 0), 16..23, 24..31 (step 1)
#pragma unroll
    for (int i = 0; i < MTiles; ++i) skinny_ldmatrix<false>(b[i], as + skinny_swizzle<plan::a_pieces>(8 * i + r, 4 * wk + q));
#pragma unroll
    for (int s = 0; s < 2; ++s)
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        const int kk = skinny_warp_k * wk + 16 * s, nn = skinny_warp_n * wn + 16 * j;
        std::uint32_t f[4];
        if constexpr (TransposeW)
          skinny_ldmatrix<false>(f, ws + skinny_swizzle<plan::w_pieces>(nn + r + 8 * (q % 2), kk / 8 + q / 2));
        else
          skinny_ldmatrix<true>(f, ws + skinny_swizzle<plan::w_pieces>(kk + r + 8 * (q / 2), nn / 8 + q % 2));
#pragma unroll
        for (int i = 0; i < MTiles; ++i) skinny_mma<T>(acc[i][j], f, b[i][2 * s], b[i][2 * s + 1]);
      }
  };

  // The prologue: W's first stages-1 chunks, one cp.async group each, before the wait where no
  // kernel writes W (see the file's comment), then A's for the same chunks through registers (a
  // group of their own would come last, and waiting for it would wait for all of W's).
  if (!p.w_fixed) grid_wait();
  for (int i = 0; i < stages - 1; ++i) {
    if (i < count) load_w(first + i, i);
    skinny_commit();  // an empty group where there is no chunk: the waits below count groups
  }
  launch_dependents();
  grid_wait();  // returns at once where it waited above
  {
    constexpr int batch = 4;  // loads in flight per thread
    const int pieces = (stages - 1) * plan::a_slots;
    for (int e0 = tid; e0 < pieces; e0 += batch * threads) {
      uint4 v[batch];
#pragma unroll
      for (int j = 0; j < batch; ++j) {
        const int e = e0 + j * threads, i = e / plan::a_slots;
        const T* from = nullptr;
        const bool ok = e < pieces && i < count && a_piece(first + i, e % plan::a_slots, from);
        v[j] = ok ? *reinterpret_cast<const uint4*>(from) : make_uint4(0, 0, 0, 0);
      }
#pragma unroll
      for (int j = 0; j < batch; ++j) {
        const int e = e0 + j * threads;
        if (e < pieces) *a_slot(e / plan::a_slots, e % plan::a_slots) = v[j];  // seen after the loop's first barrier
      }
    }
  }
  for (int i = 0, stage = 0; i < count; ++i) {  // stage: i % stages
    skinny_wait_for(stages - 2);  // this thread's copies of chunk i have landed
    __syncthreads();              // everyone's have; everyone is done with chunk i - 1's stage
    if (i + stages - 1 < count) {
      const int ahead = stage == 0 ? stages - 1 : stage - 1;  // (i + stages - 1) % stages
      load_w(first + i + stages - 1, ahead);
      load_a(first + i + stages - 1, ahead);
    }
    skinny_commit();
    compute(stage);
    stage = stage + 1 == stages ? 0 : stage + 1;
  }
  skinny_wait<0>();
  __syncthreads();  // the ring becomes the reduction buffer

  float* red = reinterpret_cast<float*>(skinny_ring);  // [wk][row][tile_n]
  const int g = lane / 4, t = lane % 4;
#pragma unroll
  for (int i = 0; i < MTiles; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) {  // c0, c1: column nn + g, rows m, m + 1; c2, c3: column + 8
      float* at = red + (wk * rows + 8 * i + 2 * t) * tile_n + skinny_warp_n * wn + 16 * j + g;
      at[0] = acc[i][j][0], at[tile_n] = acc[i][j][1], at[8] = acc[i][j][2], at[tile_n + 8] = acc[i][j][3];
    }
  __syncthreads();
  constexpr int packs = rows * tile_n / 4;  // float4s of the tile
  float4* tile = reinterpret_cast<float4*>(red);
  if constexpr (plan::warps_k > 1) {
    for (int e = tid; e < packs; e += threads) {  // in warp order: the same bits every run
      float4 v = tile[e];
      for (int k = 1; k < plan::warps_k; ++k) {
        const float4 x = tile[k * packs + e];
        v.x += x.x, v.y += x.y, v.z += x.z, v.w += x.w;
      }
      tile[e] = v;
    }
    __syncthreads();
  }
  const int slices = int(gridDim.y);
  if (slices == 1) {
    for (int e = tid; e < packs; e += threads) {
      const int m = e / (tile_n / 4), n = n0 + e % (tile_n / 4) * 4;
      if (m < p.m && n < p.n) skinny_finish<T>(p, m, n, tile[e]);  // N % 8 == 0: a pack is all in or all out
    }
    return;
  }
  // The slices of this column tile are one cluster: block r adds every 1/slices-th pack, in slice order.
  namespace cg = cooperative_groups;
  const cg::cluster_group cluster = cg::this_cluster();
  cluster.sync();  // every slice's tile is in its shared memory
  for (int e = int(cluster.block_rank()) * threads + tid; e < packs; e += threads * slices) {
    const int m = e / (tile_n / 4), n = n0 + e % (tile_n / 4) * 4;
    if (m >= p.m || n >= p.n) continue;
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    for (int s = 0; s < slices; ++s) {
      const float4 x = cluster.map_shared_rank(tile, unsigned(s))[e];
      v.x += x.x, v.y += x.y, v.z += x.z, v.w += x.w;
    }
    skinny_finish<T>(p, m, n, v);
  }
  cluster.sync();  // no block leaves while another still reads its shared memory
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

namespace ctg::runtime_ops::detail {
//! What ctgraph's own products (the skinny matmul, the gemv) all need, or null: bf16 or f16, K and
//! N below 2^31, every pointer 16-byte aligned (their loads are 16 bytes wide).
inline const char* own_product_declines(dtype_id dtype, std::int64_t n, std::int64_t k, std::initializer_list<const void*> pointers) {
  if (dtype != dtype_id::bf16 && dtype != dtype_id::f16) return "dtype not bf16 or f16";
  if (n > 0x7fffffff || k > 0x7fffffff) return "K or N past 2^31";
  for (const void* p : pointers)
    if (reinterpret_cast<std::uintptr_t>(p) % 16 != 0) return "a pointer not 16-byte aligned";
  return nullptr;
}

//! Why `kernel`, a kernel of ctgraph's own whose body needs sm_90, cannot run on the current
//! device, or null: `old_gpu` below compute capability 9.0; built for an older virtual
//! architecture only (and JIT-compiled from it), the kernel is empty.
inline const char* sm90_kernel_declines(const void* kernel, const char* old_gpu) {
  int device = 0, major = 0;
  if (cudaGetDevice(&device) != cudaSuccess || cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
      major < 9) {
    (void)cudaGetLastError();
    return old_gpu;
  }
  cudaFuncAttributes f{};
  if (cudaFuncGetAttributes(&f, kernel) != cudaSuccess || f.ptxVersion < 90) {
    (void)cudaGetLastError();
    return "built without sm_90 or newer code (CMAKE_CUDA_ARCHITECTURES)";
  }
  return nullptr;
}
}  // namespace ctg::runtime_ops::detail

namespace ctg {

//! Why the skinny matmul cannot run C[M,N] = A[M,K] x W on the current device, or null when it
//! can: the shape, the dtype, alignment (every pointer 16-byte aligned), the device.
template <class = void>  // compiled (with its kernels) only where a graph multiplies
const char* skinny_matmul_declines(dtype_id dtype, std::int64_t m, std::int64_t n, std::int64_t k, bool transpose_w,
                                   std::initializer_list<const void*> pointers) {
  if (const char* why = runtime_ops::detail::own_product_declines(dtype, n, k, pointers)) return why;
  if (m < 1 || m > skinny_matmul_max_rows) return "M outside 1..64";
  if (n % 8 != 0 || k % 8 != 0) return "K or N not a multiple of 8";
  const void* kernel = dtype == dtype_id::bf16
                           ? (transpose_w ? runtime_ops::detail::skinny_kernel_for<__nv_bfloat16, true>(1)
                                          : runtime_ops::detail::skinny_kernel_for<__nv_bfloat16, false>(1))
                           : (transpose_w ? runtime_ops::detail::skinny_kernel_for<__half, true>(1)
                                          : runtime_ops::detail::skinny_kernel_for<__half, false>(1));
  return runtime_ops::detail::sm90_kernel_declines(kernel, "a GPU before compute capability 9.0 (no thread block clusters)");
}

namespace runtime_ops::detail {
//! The launch of `cfg` on `stream`: its grid, the slices of a column tile as one cluster, and
//! with `programmatic`, as a programmatic dependent of the kernel before it on `stream`.
struct skinny_launch {
  cudaLaunchAttribute attrs[2]{};
  cudaLaunchConfig_t config{};
  skinny_launch(const skinny_matmul_config& cfg, cudaStream_t stream, bool programmatic = false) {
    attrs[0].id = cudaLaunchAttributeClusterDimension;
    attrs[0].val.clusterDim.x = 1, attrs[0].val.clusterDim.y = unsigned(cfg.slices), attrs[0].val.clusterDim.z = 1;
    attrs[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attrs[1].val.programmaticStreamSerializationAllowed = 1;
    config.gridDim = dim3(unsigned(cfg.tiles), unsigned(cfg.slices));
    config.blockDim = dim3(skinny_warps * 32);
    config.dynamicSmemBytes = cfg.shared_bytes;
    config.stream = stream;
    config.attrs = attrs;
    config.numAttrs = programmatic ? 2 : 1;
  }
  skinny_launch(const skinny_launch&) = delete;  // config points at attrs
};

//! `stages`: the ring's, 0 for the plan's (else clamped to what the plan allows). Returns the
//! plan's shared bytes: what the kernel instance may ask for, whatever one node's ring.
template <bool TransposeW, int MTiles>
std::size_t skinny_plan_into(skinny_matmul_config& cfg, int stages) {
  using plan = skinny_plan<TransposeW, MTiles>;
  cfg.stages = stages <= 0 ? plan::stages : std::clamp(stages, plan::fewest_stages, plan::stages);
  cfg.shared_bytes = std::size_t(cfg.stages) * plan::stage_slots * 16, cfg.chunk_k = plan::chunk_k, cfg.tiles = plan::tile_n;  // tile_n until configured
  return plan::shared_bytes;
}

//! CTGRAPH_SKINNY_STAGES: a smaller ring (fewer stages than the plan's), to measure whether two
//! blocks that fit on one SM (the next kernel's beside this one, with PDL) pay for less in
//! flight; unset or not a number: the plan's.
inline int requested_skinny_stages() {
  const char* v = std::getenv("CTGRAPH_SKINNY_STAGES");
  return v ? std::atoi(v) : 0;
}
}  // namespace runtime_ops::detail

//! Chooses the kernel instance, the tiles and the split-K of C[M,N] = A[M,K] x W for the current
//! device: one block per SM; of 8, 4, 2 or 1 K-slices per column tile (the cluster size), the one
//! that finishes in the fewest chunks per SM, counting waves of clusters. The shape must be one
//! that `skinny_matmul_declines` accepts.
template <class = void>
cudaError_t configure_skinny_matmul(skinny_matmul_config& cfg, dtype_id dtype, std::int64_t m, std::int64_t n, std::int64_t k,
                                    bool transpose_w) {
  namespace rd = runtime_ops::detail;
  cfg = {};
  cfg.m_tiles = m <= 8 ? 1 : m <= 16 ? 2 : m <= 32 ? 4 : 8;
  const int stages = rd::requested_skinny_stages();
  std::size_t most_shared = 0;
  const auto plan = [&]<int MTiles>() {
    most_shared = transpose_w ? rd::skinny_plan_into<true, MTiles>(cfg, stages) : rd::skinny_plan_into<false, MTiles>(cfg, stages);
  };
  if (cfg.m_tiles == 1) plan.template operator()<1>();
  else if (cfg.m_tiles == 2) plan.template operator()<2>();
  else if (cfg.m_tiles == 4) plan.template operator()<4>();
  else plan.template operator()<8>();
  const std::int64_t tile_n = cfg.tiles;
  if (dtype == dtype_id::bf16)
    cfg.kernel = transpose_w ? rd::skinny_kernel_for<__nv_bfloat16, true>(cfg.m_tiles) : rd::skinny_kernel_for<__nv_bfloat16, false>(cfg.m_tiles);
  else
    cfg.kernel = transpose_w ? rd::skinny_kernel_for<__half, true>(cfg.m_tiles) : rd::skinny_kernel_for<__half, false>(cfg.m_tiles);
  if (cudaError_t e = cudaFuncSetAttribute(cfg.kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(most_shared)); e != cudaSuccess)
    return e;
  const std::int64_t chunks = (k + cfg.chunk_k - 1) / cfg.chunk_k;
  const std::int64_t tiles = (n + tile_n - 1) / tile_n;
  cfg.tiles = int(tiles);
  std::int64_t best = -1;
  for (std::int64_t most = rd::skinny_max_slices; most >= 1; --most) {
    const std::int64_t per_block = (chunks + most - 1) / most;
    skinny_matmul_config c = cfg;
    c.slices = int((chunks + per_block - 1) / per_block), c.chunks_per_block = int(per_block);  // no slice without work
    int clusters = 0;
    const rd::skinny_launch launch(c, nullptr);
    if (cudaError_t e = cudaOccupancyMaxActiveClusters(&clusters, c.kernel, &launch.config); e != cudaSuccess) return e;
    if (clusters < 1) continue;
    const std::int64_t waves = (tiles + clusters - 1) / clusters, cost = waves * per_block;
    if (best < 0 || cost < best) best = cost, cfg.slices = c.slices, cfg.chunks_per_block = c.chunks_per_block;
  }
  return best < 0 ? cudaErrorInvalidConfiguration : cudaSuccess;
}

//! Enqueues the skinny matmul as `cfg` says; returns the launch's error. With `programmatic`, as a
//! programmatic dependent of the kernel before it on `stream` (PDL, see the file's comment): its
//! blocks may start before that kernel has finished, and read W before it has where
//! `args.w_fixed`; the caller vouches that nothing before it on `stream` writes W then.
template <class = void>
cudaError_t launch_skinny_matmul(const skinny_matmul_args& args, const skinny_matmul_config& cfg, cudaStream_t stream,
                                 bool programmatic = false) {
  skinny_matmul_args p = args;
  int chunks_per_block = cfg.chunks_per_block, stages = cfg.stages;
  void* params[] = {&p, &chunks_per_block, &stages};
  const runtime_ops::detail::skinny_launch launch(cfg, stream, programmatic);
  return cudaLaunchKernelExC(&launch.config, cfg.kernel, params);
}

}  // namespace ctg
