#pragma once
//! The gemv: C[M,N] = act(A[M,K] W^T + bias) [+ residual] for M <= 8 rows (batch-1 decode) with W
//! in nn.Linear's layout [N,K], bf16 or f16, f32 accumulation: a kernel of ctgraph's own for the
//! products where the skinny matmul (runtime/ops/skinny_matmul.cuh) and cuBLASLt leave HBM
//! bandwidth unused. `prepare_matmul` (runtime/ops/matmul.hpp) times it against both per node.
//!
//! Why it looks as it does: at M <= 8 there is almost nothing to compute, so the kernel is a
//! stream of W with enough bytes in flight. A warp owns 2 rows of W (4 for M > 2: A's loads are
//! shared by more rows) and its lanes read them in 16-byte loads that bypass L1 (one warp-wide load
//! covers 512 contiguous bytes of a row), 8 loads per lane issued before the first is used; A is
//! read from global memory, where every warp of the SM hits it in L1. Small blocks (4 warps) and
//! no shared-memory staging keep many blocks resident; where N alone gives fewer warps than the
//! GPU holds (N = 256 or 2048 at K = 2048), the 4 warps of a block split K for the same rows
//! (`warps_k`), so that every SM pulls its share; and K is split further (blocks of up to 8
//! warps) until a warp's part of a row is one set of loads, so that a warp waits on one round
//! trip, not a chain of them (where that cannot be, as for the gated prologue's 8 rows, the
//! next set is requested before the current one is used). Each lane sums its k in a fixed order, a warp
//! adds its lanes by a butterfly of shuffles, and a block its warps' sums in warp order: the same
//! bits every run. No allocation, one kernel, capturable. Bias, activation and residual as the
//! skinny kernel applies them (its `skinny_matmul_args`), one element per lane. A prologue (an
//! RMS norm the plan folded in, `norm_weight`): each piece of A is multiplied by the norm's weight
//! as it is used, the lanes also sum its squares, and the row's 1/rms (from the squares of every
//! warp that shares the row) scales the sum at the end: y = W (x g) / rms(x), the normalisation
//! without a kernel, a buffer or a rounding of its own. A gated prologue (`gated`, the folded
//! silu(x) * y of a SwiGLU MLP): A's pieces are x, and each element is silu(x) * y in float as it
//! is used, once per lane for all its rows of W, with no rounding of the product to bf16.
//!
//! Sibling products (`skinny_matmul_args::siblings`: products of the same A, passes/fuse.hpp): the
//! launch's rows of W run on past the node's N into each sibling's W, and each warp writes the
//! product its rows belong to, so a layer's q, k and v (or gate and up) stream as one W with one
//! launch's latency and tail.
//!
//! PDL as in the skinny kernel: launched as a programmatic dependent, it lets the next kernel
//! start at once, and where no kernel writes W (`w_fixed`) it issues its first 8 loads of W before
//! griddepcontrol.wait; A, bias and residual are read, and C written, after the wait. The
//! residual is read right after it, with A: read after the sums, it queued behind the early loads
//! of W the next kernel had sent meanwhile (the decode step's o_proj: 97.6 -> 55.9 us a step, H200).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <type_traits>

#include <ctgraph/graph/dtype.hpp>
#include <ctgraph/graph/ops/elementwise.hpp>
#include <ctgraph/graph/ops/matmul.hpp>
#include <ctgraph/graph/ops/silu.hpp>
#include <ctgraph/runtime/ops/float_conversion.cuh>
#include <ctgraph/runtime/ops/skinny_matmul.cuh>

namespace ctg {

//! The most rows of A the gemv takes.
inline constexpr std::int64_t gemv_max_rows = 8;

//! What the gemv does to A as it loads it: nothing, an RMS norm (`skinny_matmul_args::norm_weight`)
//! or silu(x) * y (`skinny_matmul_args::gated`). A kernel instance each: one kernel that branched
//! at run time kept the registers of the heaviest and slowed the plain products (layer 0's
//! gate_proj of the decode step: 8.7 us, against 6.6 without the branches; H200).
enum class gemv_prologue : std::uint8_t { none, norm, gated };
static_assert(gemv_max_rows >= ops::prologue_max_rows, "the gemv runs every prologue the plan folds");

//! How the gemv covers one node's C.
struct gemv_config {
  const void* kernel = nullptr;  // the instance for the dtype and `rows`
  int rows = 0;                  // rows of A the instance computes: 1, 2, 4 or 8 (those past M are skipped)
  int rows_per_warp = 0;         // rows of W (columns of C) per warp: 2, 4 or 8 (gemv_rows_per_warp)
  int warps = 0;                 // per block
  int warps_k = 0;               // warps of a block that split K for the same rows of W: 1, 2, 4 or 8
  int blocks = 0;
};

}  // namespace ctg

namespace ctg::runtime_ops::detail {

inline constexpr int gemv_warps = 4;      // per block, unless the configuration says otherwise
inline constexpr int gemv_max_warps = 16;  // per block (gemv_bench tries up to 16)
inline constexpr int gemv_max_split = 8;   // warps of a block splitting K, as configure_gemv chooses
inline constexpr int gemv_loads = 8;       // 16-byte loads of W in flight per lane

//! Rows of W per warp: 4 where there are 4 or more rows of A to share A's loads, and for a gated
//! prologue, whose silu of each piece of A a warp computes once for all its rows of W (8 for one
//! row of A: the SwiGLU down projection, N = 2048 and K = 5632 on the H200, 8.3 us against 10.2
//! with 4, gemv_bench); else 2.
__host__ __device__ constexpr int gemv_rows_per_warp(int rows, gemv_prologue p) {
  return p == gemv_prologue::gated ? (rows == 1 ? 8 : 4) : rows >= 4 ? 4 : 2;
}
//! Whether the instance requests its next loads of W before it uses the current ones: where a warp
//! holds one load per row of W (8 rows of a gated prologue), several round trips would follow one
//! another.
__host__ __device__ constexpr bool gemv_pipelined(int rows, gemv_prologue p) { return gemv_loads / gemv_rows_per_warp(rows, p) == 1; }

//! A 16-byte load that does not allocate in L1 (W is read once); an ordinary (coherent) load, so
//! that after griddepcontrol.wait it sees what the kernel before wrote. Volatile: never moved above
//! the wait.
__device__ inline uint4 gemv_stream(const void* p) {
  uint4 v;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 700
  asm volatile("ld.global.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];\n" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
#else
  v = *static_cast<const uint4*>(p);
#endif
  return v;
}

//! The two elements packed in `v` (the first in the low half), as floats.
template <class T>
__device__ inline float2 gemv_unpack(std::uint32_t v) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) return make_float2(__uint_as_float(v << 16), __uint_as_float(v & 0xffff0000u));
  else {
    __half2 h;
    std::memcpy(&h, &v, sizeof(h));
    return __half22float2(h);
  }
}

//! acc + the sum of the squares of 8 elements of A, in element order.
template <class T>
__device__ inline float gemv_squares(const uint4& a, float acc) {
  const std::uint32_t as[4] = {a.x, a.y, a.z, a.w};
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const float2 x = gemv_unpack<T>(as[j]);
    acc = fmaf(x.x, x.x, acc);
    acc = fmaf(x.y, x.y, acc);
  }
  return acc;
}

//! acc + the dot product of 8 elements of A, each times its element of g (a norm's weight), and
//! 8 of W, in element order.
template <class T>
__device__ inline float gemv_dot_scaled(const uint4& a, const uint4& g, const uint4& w, float acc) {
  const std::uint32_t as[4] = {a.x, a.y, a.z, a.w}, gs[4] = {g.x, g.y, g.z, g.w}, ws[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const float2 x = gemv_unpack<T>(as[j]), s = gemv_unpack<T>(gs[j]), y = gemv_unpack<T>(ws[j]);
    acc = fmaf(x.x * s.x, y.x, acc);
    acc = fmaf(x.y * s.y, y.y, acc);
  }
  return acc;
}

//! The 8 elements silu(x) * y of a gated prologue, in float (ops::silu, then the product).
template <class T>
__device__ inline void gemv_gate(const uint4& x, const uint4& y, float (&v)[8]) {
  const std::uint32_t xs[4] = {x.x, x.y, x.z, x.w}, ys[4] = {y.x, y.y, y.z, y.w};
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const float2 a = gemv_unpack<T>(xs[j]), b = gemv_unpack<T>(ys[j]);
    v[2 * j] = ops::silu{}(a.x) * b.x;
    v[2 * j + 1] = ops::silu{}(a.y) * b.y;
  }
}

//! acc + the dot product of 8 floats and 8 elements of W, in element order.
template <class T>
__device__ inline float gemv_dot_floats(const float (&v)[8], const uint4& w, float acc) {
  const std::uint32_t ws[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const float2 y = gemv_unpack<T>(ws[j]);
    acc = fmaf(v[2 * j], y.x, acc);
    acc = fmaf(v[2 * j + 1], y.y, acc);
  }
  return acc;
}

//! acc + the dot product of 8 elements of A and 8 of W, in element order.
template <class T>
__device__ inline float gemv_dot(const uint4& a, const uint4& w, float acc) {
  const std::uint32_t as[4] = {a.x, a.y, a.z, a.w}, ws[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const float2 x = gemv_unpack<T>(as[j]), y = gemv_unpack<T>(ws[j]);
    acc = fmaf(x.x, y.x, acc);
    acc = fmaf(x.y, y.y, acc);
  }
  return acc;
}

//! One block of `blockDim.x / 32` warps: rows [n0, n0 + PerWarp) of W for each of its warps /
//! warps_k warp groups. Warp (group, part) = (warp / warps_k, warp % warps_k) takes part `part` of
//! K's 16-byte pieces; lane l the pieces l, l + 32, ... of it, Loads / PerWarp of them per row at a
//! time. `Pipelined`: the next Loads pieces are requested before the current ones are used (two
//! register sets), so a warp never waits on memory with nothing in flight. Rows of A past M are
//! zero and skipped; rows of W past N are not read.
template <class T, int Rows, gemv_prologue P, int PerWarp = gemv_rows_per_warp(Rows, P), int Loads = gemv_loads,
          bool Pipelined = gemv_pipelined(Rows, P)>
__global__ void __launch_bounds__(gemv_max_warps * 32) gemv_kernel(skinny_matmul_args p, int warps_k) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  constexpr int per_warp = PerWarp, steps = Loads / per_warp, outputs = Rows * per_warp;
  static_assert(outputs <= 32, "gemv_kernel: one lane per output of a warp");
  static_assert(steps >= 1 && steps * per_warp == Loads, "gemv_kernel: Loads a multiple of the rows per warp");
  __shared__ float partial[gemv_max_warps][outputs];
  __shared__ float squares[gemv_max_warps][Rows];  // a norm's sums of A's squares, per warp and row
  const int lane = int(threadIdx.x) % 32, warp = int(threadIdx.x) / 32, warps = int(blockDim.x) / 32;
  const int group = warp / warps_k, part = warp % warps_k;
  int n0 = (int(blockIdx.x) * (warps / warps_k) + group) * per_warp;
  const int pieces = p.k / 8, span = (pieces + warps_k - 1) / warps_k;
  const int begin = min(pieces, part * span), end = min(pieces, begin + span);
  constexpr int stride = 32 * steps;  // pieces of a row per set of loads
  // The product these rows belong to: the node's, or past its N a sibling's (each N a multiple of
  // per_warp, so a warp's rows are one product's).
  const uint4* w = static_cast<const uint4*>(p.w);
  void* out = p.out;
  int n_rows = p.n;
  for (int j = 0; j < p.sibling_count && n0 >= n_rows; ++j)
    n0 -= n_rows, w = static_cast<const uint4*>(p.siblings[j].w), out = p.siblings[j].out, n_rows = p.siblings[j].n;
  const uint4* a = static_cast<const uint4*>(p.a);
  [[maybe_unused]] const uint4* g = static_cast<const uint4*>(p.norm_weight);  // a norm's weight
  [[maybe_unused]] const uint4* u = static_cast<const uint4*>(p.gated);        // a gated prologue's y

  using w_set = uint4[steps][per_warp];
  const auto load_w = [&](w_set& wv, int base) {
#pragma unroll
    for (int s = 0; s < steps; ++s)
#pragma unroll
      for (int r = 0; r < per_warp; ++r) {
        const int piece = base + 32 * s + lane, n = n0 + r;
        wv[s][r] = piece < end && n < n_rows ? gemv_stream(w + std::size_t(n) * std::size_t(pieces) + std::size_t(piece)) : make_uint4(0, 0, 0, 0);
      }
  };
  float acc[Rows][per_warp] = {};
  float sq[Rows] = {};  // a prologue's sums of squares of this lane's part of each row of A
  const auto use_w = [&](const w_set& wv, int base) {
#pragma unroll
    for (int s = 0; s < steps; ++s) {
      const int piece = base + 32 * s + lane;
      if (piece >= end) continue;
      if constexpr (P == gemv_prologue::gated) {  // silu(x) * y, once for all rows of W
#pragma unroll
        for (int m = 0; m < Rows; ++m) {
          if (m >= p.m) continue;
          const std::size_t at = std::size_t(m) * std::size_t(pieces) + std::size_t(piece);
          float v[8];
          gemv_gate<T>(a[at], u[at], v);
#pragma unroll
          for (int r = 0; r < per_warp; ++r) acc[m][r] = gemv_dot_floats<T>(v, wv[s][r], acc[m][r]);
        }
      } else if constexpr (P == gemv_prologue::norm) {  // A times the norm's weight here, its 1/rms once the row is summed
        const uint4 gv = g[piece];
#pragma unroll
        for (int m = 0; m < Rows; ++m) {
          if (m >= p.m) continue;
          const uint4 x = a[std::size_t(m) * std::size_t(pieces) + std::size_t(piece)];
          sq[m] = gemv_squares<T>(x, sq[m]);
#pragma unroll
          for (int r = 0; r < per_warp; ++r) acc[m][r] = gemv_dot_scaled<T>(x, gv, wv[s][r], acc[m][r]);
        }
      } else {
#pragma unroll
        for (int m = 0; m < Rows; ++m) {
          if (m >= p.m) continue;
          const uint4 x = a[std::size_t(m) * std::size_t(pieces) + std::size_t(piece)];
#pragma unroll
          for (int r = 0; r < per_warp; ++r) acc[m][r] = gemv_dot<T>(x, wv[s][r], acc[m][r]);
        }
      }
    }
  };
  w_set w0, w1;
  if (!p.w_fixed) grid_wait();
  if (begin < end) load_w(w0, begin);
  launch_dependents();
  grid_wait();  // returns at once where it waited above
  // The lane that writes an output reads its residual now, with A's first loads, not one more
  // round trip after the sums (the last blocks' end is the kernel's).
  float residual = 0.f;
  if (p.residual && part == 0 && lane < outputs && lane / per_warp < p.m && n0 + lane % per_warp < n_rows)
    residual = to_float(static_cast<const T*>(p.residual)[std::size_t(lane / per_warp) * std::size_t(n_rows) + std::size_t(n0 + lane % per_warp)]);
  if constexpr (Pipelined) {
    for (int base = begin; base < end; base += 2 * stride) {
      if (base + stride < end) load_w(w1, base + stride);
      use_w(w0, base);
      if (base + stride >= end) break;
      if (base + 2 * stride < end) load_w(w0, base + 2 * stride);
      use_w(w1, base + stride);
    }
  } else {
    for (int base = begin; base < end; base += stride) {
      if (base != begin) load_w(w0, base);
      use_w(w0, base);
    }
  }
  // The lanes' sums: a butterfly leaves every lane the same bits (each addition is commutative).
#pragma unroll
  for (int m = 0; m < Rows; ++m)
#pragma unroll
    for (int r = 0; r < per_warp; ++r)
#pragma unroll
      for (int o = 16; o > 0; o /= 2) acc[m][r] += __shfl_xor_sync(0xffffffffu, acc[m][r], o);
  if (lane == 0)
#pragma unroll
    for (int m = 0; m < Rows; ++m)
#pragma unroll
      for (int r = 0; r < per_warp; ++r) partial[warp][m * per_warp + r] = acc[m][r];
  if constexpr (P == gemv_prologue::norm) {
#pragma unroll
    for (int m = 0; m < Rows; ++m) {
#pragma unroll
      for (int o = 16; o > 0; o /= 2) sq[m] += __shfl_xor_sync(0xffffffffu, sq[m], o);
      if (lane == 0) squares[warp][m] = sq[m];
    }
  }
  __syncthreads();
  if (part != 0 || lane >= outputs) return;
  const int m = lane / per_warp, n = n0 + lane % per_warp;
  if (m >= p.m || n >= n_rows) return;
  float v = partial[warp][lane];
  for (int j = 1; j < warps_k; ++j) v += partial[warp + j][lane];  // in warp order
  if constexpr (P == gemv_prologue::norm) {  // the warps of a group cover all of K: their sums of squares make the row's
    float s = squares[warp][m];
    for (int j = 1; j < warps_k; ++j) s += squares[warp + j][m];
    v *= rsqrtf(s / float(p.k) + p.norm_eps);
  }
  const std::size_t at = std::size_t(m) * std::size_t(n_rows) + std::size_t(n);
  if (p.bias) v += to_float(static_cast<const T*>(p.bias)[n]);
  if (p.act == ops::epilogue::relu) v = ops::relu{}(v);
  else if (p.act == ops::epilogue::gelu) v = ops::gelu{}(v);
  if (p.residual) v += residual;
  static_cast<T*>(out)[at] = from_float<T>(v);
#endif
}

template <class T, gemv_prologue P>
const void* gemv_kernel_for(int rows) {
  switch (rows) {
    case 1: return reinterpret_cast<const void*>(&gemv_kernel<T, 1, P>);
    case 2: return reinterpret_cast<const void*>(&gemv_kernel<T, 2, P>);
    case 4: return reinterpret_cast<const void*>(&gemv_kernel<T, 4, P>);
    default: return reinterpret_cast<const void*>(&gemv_kernel<T, 8, P>);
  }
}

template <class T>
const void* gemv_kernel_for(int rows, gemv_prologue p) {
  return p == gemv_prologue::norm    ? gemv_kernel_for<T, gemv_prologue::norm>(rows)
         : p == gemv_prologue::gated ? gemv_kernel_for<T, gemv_prologue::gated>(rows)
                                     : gemv_kernel_for<T, gemv_prologue::none>(rows);
}

inline const void* gemv_kernel_for(dtype_id dtype, int rows, gemv_prologue p = gemv_prologue::none) {
  return dtype == dtype_id::bf16 ? gemv_kernel_for<__nv_bfloat16>(rows, p) : gemv_kernel_for<__half>(rows, p);
}

}  // namespace ctg::runtime_ops::detail

namespace ctg {

//! Why the gemv cannot run C[M,N] = A[M,K] x W on the current device, or null when it can: the
//! dtype, M, W's layout (only [N,K], `transpose_w`), the shape, alignment (every pointer 16-byte
//! aligned), the device.
template <class = void>  // compiled (with its kernels) only where a graph multiplies
const char* gemv_declines(dtype_id dtype, std::int64_t m, std::int64_t n, std::int64_t k, bool transpose_w,
                          std::initializer_list<const void*> pointers) {
  if (const char* why = runtime_ops::detail::own_product_declines(dtype, n, k, pointers)) return why;
  if (m < 1 || m > gemv_max_rows) return "M outside 1..8 (the gemv)";
  if (!transpose_w) return "W not [N,K] (the gemv streams rows of a transposed W)";
  if (k % 8 != 0) return "K not a multiple of 8";
  return runtime_ops::detail::sm90_kernel_declines(runtime_ops::detail::gemv_kernel_for(dtype, 1),
                                                    "a GPU before compute capability 9.0 (griddepcontrol)");
}

//! Chooses the instance, the rows per warp and the K-split of C[M,N] = A[M,K] x W^T for the
//! current device: the most warps per row group (1, 2 or 4) that still fit on the GPU at once, and
//! at least a whole 512-byte run of a row per warp; more (up to 8, the block as large) until a
//! warp's part of each row is one set of loads in flight together (a round trip, not a chain of
//! them: gate/up of the decode step 13.3 us against 14.3 with one warp per row pair, H200,
//! gemv_bench). `split` (1, 2, 4 or 8) forces the warps per row group instead. The shape must be
//! one `gemv_declines` accepts.
template <class = void>
cudaError_t configure_gemv(gemv_config& cfg, dtype_id dtype, std::int64_t m, std::int64_t n, std::int64_t k,
                           gemv_prologue prologue = gemv_prologue::none, int split = 0) {
  namespace rd = runtime_ops::detail;
  cfg = {};
  cfg.rows = m <= 1 ? 1 : m <= 2 ? 2 : m <= 4 ? 4 : 8;
  cfg.rows_per_warp = rd::gemv_rows_per_warp(cfg.rows, prologue);
  cfg.kernel = rd::gemv_kernel_for(dtype, cfg.rows, prologue);
  int device = 0, sms = 0, per_sm = 0;
  if (cudaError_t e = cudaGetDevice(&device); e != cudaSuccess) return e;
  if (cudaError_t e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device); e != cudaSuccess) return e;
  cfg.warps = rd::gemv_warps;
  if (cudaError_t e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, cfg.kernel, cfg.warps * 32, 0); e != cudaSuccess)
    return e;
  if (per_sm < 1) return cudaErrorInvalidConfiguration;
  const std::int64_t resident = std::int64_t(sms) * per_sm * cfg.warps;  // warps the GPU holds at once
  const std::int64_t row_groups = (n + cfg.rows_per_warp - 1) / cfg.rows_per_warp, pieces = k / 8;
  cfg.warps_k = 1;
  while (cfg.warps_k < cfg.warps && row_groups * cfg.warps_k * 2 <= resident && pieces >= 32 * cfg.warps_k * 2) cfg.warps_k *= 2;
  const std::int64_t per_set = 32 * (rd::gemv_loads / cfg.rows_per_warp);  // pieces of a row one set of loads covers
  while (cfg.warps_k < rd::gemv_max_split && pieces > per_set * cfg.warps_k) cfg.warps_k *= 2;
  if (split == 1 || split == 2 || split == 4 || split == 8) cfg.warps_k = split;
  if (cfg.warps_k > cfg.warps) {  // a block of warps_k warps: one row group
    cfg.warps = cfg.warps_k;
    if (cudaError_t e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, cfg.kernel, cfg.warps * 32, 0); e != cudaSuccess)
      return e;
    if (per_sm < 1) return cudaErrorInvalidConfiguration;
  }
  const std::int64_t groups_per_block = cfg.warps / cfg.warps_k, blocks = (row_groups + groups_per_block - 1) / groups_per_block;
  if (blocks > 0x7fffffff) return cudaErrorInvalidConfiguration;
  cfg.blocks = int(blocks);
  return cudaSuccess;
}

//! Enqueues the gemv as `cfg` says; returns the launch's error. `programmatic` as in
//! `launch_skinny_matmul`: the caller vouches that nothing before it on `stream` writes W once it
//! may start, where `args.w_fixed`.
template <class = void>
cudaError_t launch_gemv(const skinny_matmul_args& args, const gemv_config& cfg, cudaStream_t stream, bool programmatic = false) {
  skinny_matmul_args p = args;
  int warps_k = cfg.warps_k;
  void* params[] = {&p, &warps_k};
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(unsigned(cfg.blocks));
  config.blockDim = dim3(unsigned(cfg.warps) * 32);
  config.stream = stream;
  config.attrs = &attr;
  config.numAttrs = programmatic ? 1 : 0;
  return cudaLaunchKernelExC(&config, cfg.kernel, params);
}

}  // namespace ctg
