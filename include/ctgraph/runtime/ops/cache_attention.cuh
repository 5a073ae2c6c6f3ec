#pragma once
//! launch_cache_attention: attention of a few new tokens over a K/V cache (ops::cache_attention),
//! f16 and bf16, D = 64 or 128. Decoding is bandwidth- and latency-bound, not compute-bound: one
//! block per (query head, token, batch entry) walks that token's keys 0 .. pos + t in chunks of
//! `cache_attention_chunk`: the warps score keys (one key per warp at a time, a lane holding
//! D/32 elements of q and k, summed by shuffles) into shared memory, then every thread owns one
//! output element (and a share of the chunk's keys) and adds p v with a running maximum and sum,
//! so any cache length fits in a fixed shared-memory tile. Scores in float, base 2. The position
//! is read on the device (a captured step replays unchanged); keys past the cache are never read.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include <ctgraph/runtime/dtype.hpp>
#include <ctgraph/runtime/error.hpp>
#include <ctgraph/runtime/launch_context.hpp>
#include <ctgraph/runtime/ops/pdl.cuh>
#include <ctgraph/runtime/ops/block_reduce.cuh>
#include <ctgraph/runtime/ops/warp_row.cuh>
#include <ctgraph/runtime/ops/float_conversion.cuh>

namespace ctg::runtime_ops::detail {

inline constexpr int cache_attention_threads = 128;
inline constexpr int cache_attention_chunk = 1024;  // keys scored per shared-memory tile

//! Where one cache_attention node's tensors are (element strides).
template <class T>
struct cache_attention_args {
  const T *q, *k, *v;
  T* o;
  std::int64_t q_row, kv_row;      // elements between tokens (q and o share q_row)
  std::int64_t q_batch, kv_batch;  // elements between batch entries
  int tokens, length, group;       // new tokens, the cache's length, query heads per K/V head
  float scale_log2;                // 1/sqrt(D) * log2(e)
  //! A rotary prologue: each query head rotated as it is loaded, token t at rotary_pos[0] + t
  //! (`rotary_start`) or rotary_pos[t] (i64 where `rotary_i64`, else i32); null: none.
  const void* rotary_pos = nullptr;
  bool rotary_i64 = false, rotary_start = true;
  float theta = 0.f;
};

template <class T, int D, class Pos>
__global__ void __launch_bounds__(cache_attention_threads) cache_attention_kernel(cache_attention_args<T> a, const Pos* position) {
  pdl_begin();  // the kernel before has completed (see pdl.cuh)
  constexpr int per = int(vector_bytes / sizeof(T)), packs = D / per;  // 16-byte packs of a row
  constexpr int subsets = cache_attention_threads / packs;             // subsets of keys in the p v sum
  __shared__ float qs[D];
  __shared__ float scores[cache_attention_chunk];
  __shared__ float scratch[cache_attention_threads / 32];
  __shared__ float partial[subsets][D];  // per subset: its p v sums
  __shared__ float sums[subsets];        // and its sum of p
  const int h = int(blockIdx.x), t = int(blockIdx.y), b = int(blockIdx.z), kvh = h / a.group;
  const std::int64_t p = std::int64_t(*position) + t;
  const int keys = int(p < 0 ? 0 : (p + 1 < a.length ? p + 1 : a.length));  // this token sees keys 0 .. p

  const T* q = a.q + b * a.q_batch + std::int64_t(t) * a.q_row + std::int64_t(h) * D;
  const T* k = a.k + b * a.kv_batch + std::int64_t(kvh) * D;
  const T* v = a.v + b * a.kv_batch + std::int64_t(kvh) * D;
  if (a.rotary_pos) {  // as ops::rotary computes it (runtime/ops/rotary.cuh), without its rounding to T
    const std::int64_t at = a.rotary_i64 ? static_cast<const std::int64_t*>(a.rotary_pos)[a.rotary_start ? 0 : t]
                                         : static_cast<const std::int32_t*>(a.rotary_pos)[a.rotary_start ? 0 : t];
    const float angle_pos = float(a.rotary_start ? at + t : at);
    for (int i = int(threadIdx.x); i < D; i += cache_attention_threads) {
      const int j = i % (D / 2);
      const float inv_freq = 1.f / powf(a.theta, float(2 * j) / float(D));
      float s, c;
      sincosf(angle_pos * inv_freq, &s, &c);
      const float x = to_float(q[j]), y = to_float(q[j + D / 2]);
      qs[i] = (i < D / 2 ? x * c - y * s : y * c + x * s) * a.scale_log2;
    }
  } else {
    for (int i = int(threadIdx.x); i < D; i += cache_attention_threads) qs[i] = to_float(q[i]) * a.scale_log2;
  }
  __syncthreads();

  const int column = int(threadIdx.x) % packs, subset = int(threadIdx.x) / packs;
  float m = -INFINITY, l = 0.f, acc[per] = {};  // this thread's running max, sum and p v for its pack of columns
  for (int first = 0; first < keys; first += cache_attention_chunk) {
    const int n = keys - first < cache_attention_chunk ? keys - first : cache_attention_chunk;
    for (int j = int(threadIdx.x); j < n; j += cache_attention_threads) {  // a key per thread, its row in packs
      const uint4* kr = reinterpret_cast<const uint4*>(k + std::int64_t(first + j) * a.kv_row);
      float s = 0.f;
#pragma unroll
      for (int c = 0; c < packs; ++c) {
        const uint4 pack = kr[c];
        T e[per];
        memcpy(e, &pack, vector_bytes);
#pragma unroll
        for (int i = 0; i < per; ++i) s = fmaf(qs[c * per + i], to_float(e[i]), s);
      }
      scores[j] = s;
    }
    __syncthreads();
    float chunk_max = -INFINITY;
    for (int j = int(threadIdx.x); j < n; j += cache_attention_threads) chunk_max = fmaxf(chunk_max, scores[j]);
    chunk_max = block_max(chunk_max, scratch);
    const float next = fmaxf(m, chunk_max), rescale = exp2f(m - next);  // exp2f(-inf) = 0 on the first chunk
    l *= rescale;
#pragma unroll
    for (int i = 0; i < per; ++i) acc[i] *= rescale;
    for (int j = subset; j < n; j += subsets) {
      const float e = exp2f(scores[j] - next);
      const uint4 pack = reinterpret_cast<const uint4*>(v + std::int64_t(first + j) * a.kv_row)[column];
      T x[per];
      memcpy(x, &pack, vector_bytes);
      l += e;
#pragma unroll
      for (int i = 0; i < per; ++i) acc[i] = fmaf(e, to_float(x[i]), acc[i]);
    }
    m = next;
    __syncthreads();  // scores are rewritten by the next chunk
  }
  // The subsets' sums share one maximum (every thread followed the same chunks): add them.
#pragma unroll
  for (int i = 0; i < per; ++i) partial[subset][column * per + i] = acc[i];
  if (column == 0) sums[subset] = l;
  __syncthreads();
  for (int d = int(threadIdx.x); d < D; d += cache_attention_threads) {
    float sum = 0.f, total = 0.f;
#pragma unroll
    for (int s = 0; s < subsets; ++s) sum += partial[s][d], total += sums[s];
    a.o[b * a.q_batch + std::int64_t(t) * a.q_row + std::int64_t(h) * D + d] = from_float<T>(keys > 0 ? sum / total : 0.f);
  }
}

}  // namespace ctg::runtime_ops::detail

namespace ctg {

//! Runs ops::cache_attention<heads, kv_heads> on the node: q = input 0 ([T, heads D] or
//! [B, T, heads D]), the K and V caches = inputs 1 and 2 ([S, kv_heads D] or [B, S, kv_heads D]),
//! the position = input 3. Throws ctg::runtime_error for shapes or dtypes that do not fit, a
//! missing pointer or a failed launch.
//! With `rotary_dim` > 0, an ops::rotary<rotary_dim, theta> folded into its prologue: q is the
//! rotary's input, its positions input 1, then the caches and the position (inputs 2 to 4).
template <class = void>  // compiled (with its kernels) only where a graph uses the op
void launch_cache_attention(const launch_context& ctx, int heads, int kv_heads, int rotary_dim = 0, float theta = 0.f) {
  const void* rotary_pos = nullptr;
  tensor_desc rotary_desc{};
  if (rotary_dim > 0) {
    if (ctx.input_count != 5) throw runtime_error(ctx.node->name, "launch_cache_attention", "a rotary prologue takes q, its positions, the caches and the position");
    rotary_pos = ctx.inputs[1], rotary_desc = ctx.input_desc[1];
  }
  const launch_context c = rotary_dim > 0 ? without_input(ctx, 1) : ctx;  // the op's own inputs
  const tensor_desc &q = c.input_desc[0], &k = c.input_desc[1], &pos = c.input_desc[3];
  const int r = q.rank;
  const std::int64_t d = heads > 0 && q.dims[r - 1] % heads == 0 ? q.dims[r - 1] / heads : 0;
  if (c.input_count != 4 || (r != 2 && r != 3) || k.rank != r || (d != 64 && d != 128) || kv_heads <= 0 ||
      heads % kv_heads != 0 || k.dims[r - 1] != kv_heads * d || pos.elements() != 1)
    throw runtime_error(c.node->name, "launch_cache_attention", "the inputs are not q [T, H*D], caches [S, KVH*D] and one position");
  const std::int64_t batch = r == 3 ? q.dims[0] : 1, tokens = q.dims[r - 2], length = k.dims[r - 2];
  if (q.elements() == 0) return;
  for (int i = 0; i < 4; ++i)
    if (c.inputs[i] == nullptr) throw runtime_error(c.node->name, "launch_cache_attention", "an input has no device pointer");
  if (c.output == nullptr) throw runtime_error(c.node->name, "launch_cache_attention", "the output has no device pointer");
  if (rotary_dim > 0 && (rotary_dim != d || rotary_pos == nullptr || (rotary_desc.dtype != dtype_id::i32 && rotary_desc.dtype != dtype_id::i64) ||
                         (rotary_desc.elements() != 1 && rotary_desc.elements() != tokens)))
    throw runtime_error(c.node->name, "launch_cache_attention",
                        "the rotary in its prologue must rotate heads of the attention's " + std::to_string(d) +
                            " elements at one position or one per token (i32 or i64); it rotates " + std::to_string(rotary_dim));
  if (!runtime_ops::detail::aligned_to_vector(c.inputs[1]) || !runtime_ops::detail::aligned_to_vector(c.inputs[2]))
    throw runtime_error(c.node->name, "launch_cache_attention", "a cache is not 16-byte aligned (its rows are read in 16-byte loads)");
  if (tokens > 65535 || batch > 65535 || length > 0x7fffffff)
    throw runtime_error(c.node->name, "launch_cache_attention", "more tokens or batch entries than one grid holds");
  const dim3 grid{unsigned(heads), unsigned(tokens), unsigned(batch)};
  bool ok = false;
  auto run = [&](auto t, auto dim, auto p) {
    using T = decltype(t);
    using Pos = decltype(p);
    constexpr int D = decltype(dim)::value;
    const runtime_ops::detail::cache_attention_args<T> a{
        c.input<T>(0), c.input<T>(1), c.input<T>(2), c.out<T>(), q.dims[r - 1], k.dims[r - 1], tokens * q.dims[r - 1],
        length * k.dims[r - 1], int(tokens), int(length), heads / kv_heads, float(1.0 / std::sqrt(double(D)) * 1.4426950408889634),
        rotary_pos, rotary_desc.dtype == dtype_id::i64, rotary_desc.elements() == 1, theta};
    CTG_CHECK(c.node->name, ::ctg::runtime_ops::detail::launch_kernel(c.node->name, c.stream, runtime_ops::detail::cache_attention_kernel<T, D, Pos>, dim3(grid), dim3(runtime_ops::detail::cache_attention_threads), 0, a, c.input<Pos>(3)));
    ok = true;
  };
  auto with_dim = [&](auto t, auto p) {
    if (d == 64) run(t, std::integral_constant<int, 64>{}, p);
    else run(t, std::integral_constant<int, 128>{}, p);
  };
  auto with_pos = [&](auto t) {
    if (pos.dtype == dtype_id::i32) with_dim(t, std::int32_t{});
    else if (pos.dtype == dtype_id::i64) with_dim(t, std::int64_t{});
  };
  if (q.dtype == dtype_id::bf16) with_pos(__nv_bfloat16{});
  else if (q.dtype == dtype_id::f16) with_pos(__half{});
  if (!ok)
    throw runtime_error(c.node->name, "launch_cache_attention",
                        "dtypes " + std::string(name_of(q.dtype)) + " and " + std::string(name_of(pos.dtype)) +
                            " are not supported; cache_attention runs on f16 and bf16 with an i32 or i64 position");
  CTG_CHECK(c.node->name, cudaGetLastError());
}

}  // namespace ctg
