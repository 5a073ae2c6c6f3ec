#pragma once
//! launch_cache_attention: attention of a few new tokens over a K/V cache (ops::cache_attention),
//! f16 and bf16, D = 64 or 128. Decoding is bandwidth- and latency-bound, not compute-bound: one
//! block per (query head, token, batch entry) walks that token's keys 0 .. pos + t in chunks of
//! `cache_attention_chunk`: the warps score keys (one key per warp at a time, a lane holding
//! D/32 elements of q and k, summed by shuffles) into shared memory, then every thread owns one
//! output element (and a share of the chunk's keys) and adds p v with a running maximum and sum,
//! so any cache length fits in a fixed shared-memory tile. Scores in float, base 2. The position
//! is read on the device (a captured step replays unchanged); keys past the cache are never read.
//! With the cache writes it runs (passes/fuse.hpp: the writes that fill this step's rows), each
//! block takes its new tokens' keys (turned as the write's rotary turns them, rounded as the cache
//! stores them) and values from the writes' rows instead of the cache, the block of each K/V
//! head's first query head writes them into the caches, and no block reads a cache row being
//! written: the same bits as the writes' kernels, then this one, and two launches fewer.
//! Where the plan says nothing still running writes the caches or the position (`cache_fixed`),
//! the old keys and values are on their way before the kernel waits for the one before.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include <ctgraph/runtime/dtype.hpp>
#include <ctgraph/runtime/error.hpp>
#include <ctgraph/runtime/launch_context.hpp>
#include <ctgraph/runtime/ops/pdl.cuh>
#include <ctgraph/graph/ops/attention.hpp>
#include <ctgraph/runtime/ops/block_reduce.cuh>
#include <ctgraph/runtime/ops/rotary.cuh>
#include <ctgraph/runtime/ops/state.cuh>
#include <ctgraph/runtime/ops/warp_row.cuh>
#include <ctgraph/runtime/ops/float_conversion.cuh>

namespace ctg::runtime_ops::detail {

inline constexpr int cache_attention_threads = 256;  // a key each in one pass up to 256 keys
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
  //! The cache writes this launch runs (null `new_k`: none): the new tokens' keys and values, rows
  //! [T, KVHeads D] (`new_row` elements between tokens, `new_batch` between batch entries), the
  //! keys turned by a rotary of `key_theta` at `key_pos` (null: as they are; as `rotary_pos`),
  //! written into the caches `k_out` and `v_out` at the position; out of range nothing is written
  //! and the first such position is kept in `out_of_range` (as cache_rows_kernel).
  const T *new_k = nullptr, *new_v = nullptr;
  T *k_out = nullptr, *v_out = nullptr;
  std::int64_t new_row = 0, new_batch = 0;
  const void* key_pos = nullptr;
  bool key_i64 = false, key_start = true;
  float key_theta = 0.f;
  unsigned long long* out_of_range = nullptr;
  //! Nothing that may still run writes the position or the caches' rows before it (the plan's
  //! `launch_context::input_fixed`): the position, the first chunk's old keys and the first batch
  //! of their values are read before the wait for the kernel before, which then costs one round
  //! trip (q and the new rows) instead of three.
  bool cache_fixed = false;
};

//! Position `t` of a rotary's positions `at` (i64 where `i64`, else i32), as rotary_position reads it.
__device__ inline float rotary_position_of(const void* at, bool i64, std::int64_t t, bool start) {
  return i64 ? rotary_position(static_cast<const std::int64_t*>(at), t, start) : rotary_position(static_cast<const std::int32_t*>(at), t, start);
}

template <class T, int D, class Pos>
__global__ void __launch_bounds__(cache_attention_threads) cache_attention_kernel(cache_attention_args<T> a, const Pos* position) {
  constexpr int per = int(vector_bytes / sizeof(T)), packs = D / per;  // 16-byte packs of a row
  constexpr int subsets = cache_attention_threads / packs;             // subsets of keys in the p v sum
  __shared__ float qs[D];
  __shared__ float scores[cache_attention_chunk];
  __shared__ float scratch[cache_attention_threads / 32];
  constexpr int warps = cache_attention_threads / 32;
  static_assert(packs <= 32 && 32 % packs == 0, "a warp holds whole subsets");
  __shared__ float partial[warps][D];  // per warp: its subsets' p v sums
  __shared__ float sums[warps];        // and their sum of p
  __shared__ float new_keys[ops::max_written_tokens][D];  // the cache writes' keys, as the cache would hold them
  __shared__ __align__(16) T new_values[ops::max_written_tokens][D];  // and their values
  const int h = int(blockIdx.x), t = int(blockIdx.y), b = int(blockIdx.z), kvh = h / a.group, x = int(threadIdx.x);
  const T* q = a.q + b * a.q_batch + std::int64_t(t) * a.q_row + std::int64_t(h) * D;
  const T* k = a.k + b * a.kv_batch + std::int64_t(kvh) * D;
  const T* v = a.v + b * a.kv_batch + std::int64_t(kvh) * D;
  const int column = x % packs, subset = x / packs;
  // This subset's keys of V, `batch` 16-byte loads at a time, issued before the first is used
  // (not one round trip per key); the first batch of a chunk with its keys' loads, as V does not
  // wait for the scores. `from`: the keys before it are loaded already.
  constexpr int batch = 8;
  uint4 packed[batch];
  std::int64_t first_new = 0;
  bool fresh = false;  // keys first_new .. p are the cache writes' rows
  const auto load_v = [&](int first, int n, int j0, int from) {
#pragma unroll
    for (int u = 0; u < batch; ++u) {
      const int key = first + j0 + u * subsets;
      if (j0 + u * subsets >= n || j0 + u * subsets < from) continue;
      const T* vr = fresh && key >= first_new ? new_values[key - first_new] : v + std::int64_t(key) * a.kv_row;  // shared or global
      packed[u] = reinterpret_cast<const uint4*>(vr)[column];
    }
  };
  // Where nothing still running writes them: the position, this thread's old key of the first
  // chunk and its subset's first batch of old values, before the wait.
  uint4 early_k[packs];
  int early = 0;  // keys of the first chunk read before the wait (all before first_new)
  if (a.cache_fixed) {
    first_new = std::int64_t(*position);
    const std::int64_t p = first_new + t, seen = p < 0 ? 0 : (p + 1 < a.length ? p + 1 : a.length);
    early = int(first_new < 0 ? 0 : (first_new < seen ? first_new : seen));
    early = early < cache_attention_chunk ? early : cache_attention_chunk;
    if (x < early) {
      const uint4* kr = reinterpret_cast<const uint4*>(k + std::int64_t(x) * a.kv_row);
#pragma unroll
      for (int c = 0; c < packs; ++c) early_k[c] = kr[c];
    }
    load_v(0, early, subset, 0);
  }
  pdl_begin();  // the kernel before has completed (see pdl.cuh)
  // First every load the scores wait for, none waiting for another (one round trip, not a chain):
  // the position, this thread's pair of q (element j and its partner j + D/2; D <= the threads) and
  // its rotary position, and with the cache writes its pairs of the new tokens' keys and values.
  constexpr int half = D / 2, slots = int((ops::max_written_tokens * half + cache_attention_threads - 1) / cache_attention_threads);
  static_assert(D <= cache_attention_threads, "a thread per element of q");
  if (!a.cache_fixed) first_new = std::int64_t(*position);
  const std::int64_t p = first_new + t;
  const int j = x % half;
  const float q0 = x < D ? to_float(q[j]) : 0.f, q1 = x < D ? to_float(q[j + half]) : 0.f;
  const float q_at = a.rotary_pos ? rotary_position_of(a.rotary_pos, a.rotary_i64, t, a.rotary_start) : 0.f;
  const int pairs = a.new_k ? (t + 1) * half : 0;  // tokens 0 .. t's keys of this K/V head
  const bool writer = h % a.group == 0;            // the block that writes them for its K/V head
  T k0[slots], k1[slots], v0[slots], v1[slots];
  float k_at[slots];
#pragma unroll
  for (int i = 0; i < slots; ++i) {
    const int e = x + i * cache_attention_threads, u = e / half;
    if (e >= pairs) continue;
    const std::int64_t row = b * a.new_batch + std::int64_t(u) * a.new_row + std::int64_t(kvh) * D + e % half;
    k0[i] = a.new_k[row], k1[i] = a.new_k[row + half];
    v0[i] = a.new_v[row], v1[i] = a.new_v[row + half];  // p v reads them from shared memory: no second round trip
    k_at[i] = a.key_pos ? rotary_position_of(a.key_pos, a.key_i64, u, a.key_start) : 0.f;
  }
  const int keys = int(p < 0 ? 0 : (p + 1 < a.length ? p + 1 : a.length));  // this token sees keys 0 .. p
  // With the cache writes: keys first_new .. p are the writes' rows (where the writes fit the cache;
  // else they write nothing, and every key comes from the cache, as it would be).
  fresh = a.new_k != nullptr && first_new >= 0 && first_new + a.tokens <= a.length;
  if (a.new_k != nullptr && !fresh && h == 0 && t == 0 && b == 0 && x == 0 && atomicAdd(&a.out_of_range[0], 1ull) == 0ull)
    a.out_of_range[1] = static_cast<unsigned long long>(first_new);
  if (fresh) {
#pragma unroll
    for (int i = 0; i < slots; ++i) {
      const int e = x + i * cache_attention_threads, u = e / half, f = e % half;
      if (e >= pairs) continue;
      T y0 = k0[i], y1 = k1[i];
      if (a.key_pos) {  // as the write's rotary turns them (runtime/ops/rotary.cuh)
        float s, c;
        rotary_angle(k_at[i], f, half, a.key_theta, s, c);
        const float2 r = rotate_pair(to_float(y0), to_float(y1), c, s);
        y0 = from_float<T>(r.x), y1 = from_float<T>(r.y);
      }
      new_keys[u][f] = to_float(y0), new_keys[u][f + half] = to_float(y1);
      new_values[u][f] = v0[i], new_values[u][f + half] = v1[i];
      if (writer && u == t) {
        const std::int64_t at = b * a.kv_batch + p * a.kv_row + std::int64_t(kvh) * D + f;
        a.k_out[at] = y0, a.k_out[at + half] = y1;
        a.v_out[at] = v0[i], a.v_out[at + half] = v1[i];
      }
    }
  }
  if (x < D) {
    if (a.rotary_pos) {  // as ops::rotary computes it (runtime/ops/rotary.cuh), without its rounding to T
      float s, c;
      rotary_angle(q_at, j, half, a.theta, s, c);
      const float2 r = rotate_pair(q0, q1, c, s);
      qs[x] = (x < half ? r.x : r.y) * a.scale_log2;
    } else {
      qs[x] = (x < half ? q0 : q1) * a.scale_log2;
    }
  }
  __syncthreads();

  float m = -INFINITY, l = 0.f, acc[per] = {};  // this thread's running max, sum and p v for its pack of columns
  for (int first = 0; first < keys; first += cache_attention_chunk) {
    const int n = keys - first < cache_attention_chunk ? keys - first : cache_attention_chunk;
    load_v(first, n, subset, first == 0 ? early : 0);
    for (int j = int(threadIdx.x); j < n; j += cache_attention_threads) {  // a key per thread, its row in packs
      const int key = first + j;
      float s = 0.f;
      if (fresh && key >= first_new) {  // a new token's key: the same sum over the same values
        const float* nk = new_keys[key - first_new];
#pragma unroll
        for (int i = 0; i < D; ++i) s = fmaf(qs[i], nk[i], s);
        scores[j] = s;
        continue;
      }
      const uint4* kr = reinterpret_cast<const uint4*>(k + std::int64_t(key) * a.kv_row);
#pragma unroll
      for (int c = 0; c < packs; ++c) {
        const uint4 pack = j == x && key < early ? early_k[c] : kr[c];  // read before the wait
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
    for (int j0 = subset; j0 < n; j0 += batch * subsets) {  // added in key order
      if (j0 != subset) load_v(first, n, j0, 0);
#pragma unroll
      for (int u = 0; u < batch; ++u) {
        if (j0 + u * subsets >= n) continue;
        const float e = exp2f(scores[j0 + u * subsets] - next);
        T y[per];
        memcpy(y, &packed[u], vector_bytes);
        l += e;
#pragma unroll
        for (int i = 0; i < per; ++i) acc[i] = fmaf(e, to_float(y[i]), acc[i]);
      }
    }
    m = next;
    if (first + cache_attention_chunk < keys) __syncthreads();  // scores are rewritten by the next chunk
  }
  // The subsets' sums share one maximum (every thread followed the same chunks): add them, a
  // warp's by a butterfly of shuffles (its subsets are lanes `packs` apart), then the warps' in
  // warp order: a few steps, not one per subset, and the same bits every run.
  for (int o = packs; o < 32; o *= 2) {
#pragma unroll
    for (int i = 0; i < per; ++i) acc[i] += __shfl_xor_sync(0xffffffffu, acc[i], o);
    l += __shfl_xor_sync(0xffffffffu, l, o);
  }
  if (x % 32 < packs) {
#pragma unroll
    for (int i = 0; i < per; ++i) partial[x / 32][column * per + i] = acc[i];
    if (column == 0) sums[x / 32] = l;
  }
  __syncthreads();
  for (int d = int(threadIdx.x); d < D; d += cache_attention_threads) {
    float sum = 0.f, total = 0.f;
#pragma unroll
    for (int w = 0; w < warps; ++w) sum += partial[w][d], total += sums[w];
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
//! With `writes` (their out-of-range record), the cache writes the plan runs in this launch
//! (`ctx.cache_writes`: K's, its rows turned by an ops::rotary<key_rotary_dim, key_theta> where it
//! has positions, then V's).
template <class = void>  // compiled (with its kernels) only where a graph uses the op
void launch_cache_attention(const launch_context& ctx, int heads, int kv_heads, int rotary_dim = 0, float theta = 0.f,
                            const cache_write_state* writes = nullptr, int key_rotary_dim = 0, float key_theta = 0.f) {
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
  if (writes) {  // the writes' rows: [T, KVH*D] (or [B, T, KVH*D]) of q's dtype, 16-byte aligned
    const auto fits = [&](const cache_write_launch& x) {
      const tensor_desc& w = x.rows_desc;
      bool ok = x.rows && x.cache && w.rank == r && w.dtype == q.dtype && w.dims[r - 2] == tokens && w.dims[r - 1] == k.dims[r - 1] &&
                (r == 2 || w.dims[0] == batch) && runtime_ops::detail::aligned_to_vector(x.rows) && runtime_ops::detail::aligned_to_vector(x.cache);
      if (x.rotary_positions)
        ok = ok && key_rotary_dim == d && (x.rotary_positions_desc.dtype == dtype_id::i32 || x.rotary_positions_desc.dtype == dtype_id::i64) &&
             (x.rotary_positions_desc.elements() == 1 || x.rotary_positions_desc.elements() == tokens);
      return ok;
    };
    if (c.cache_write_count != 2 || tokens > ops::max_written_tokens || !fits(c.cache_writes[0]) || !fits(c.cache_writes[1]) ||
        c.cache_writes[1].rotary_positions != nullptr || writes->out_of_range.get() == nullptr)
      throw runtime_error(c.node->name, "launch_cache_attention",
                          "the cache writes it runs must give K's and V's rows [T, KV heads * D] of its dtype (T <= 8), 16-byte aligned, "
                          "K's turned by a rotary of the attention's head dimension at most");
  }
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
    runtime_ops::detail::cache_attention_args<T> with = a;
    if (writes) {
      const cache_write_launch &kw = c.cache_writes[0], &vw = c.cache_writes[1];
      with.new_k = static_cast<const T*>(kw.rows), with.new_v = static_cast<const T*>(vw.rows);
      with.k_out = static_cast<T*>(kw.cache), with.v_out = static_cast<T*>(vw.cache);
      with.new_row = k.dims[r - 1], with.new_batch = tokens * k.dims[r - 1];
      with.key_pos = kw.rotary_positions, with.key_i64 = kw.rotary_positions_desc.dtype == dtype_id::i64;
      with.key_start = kw.rotary_positions_desc.elements() == 1, with.key_theta = key_theta;
      with.out_of_range = static_cast<unsigned long long*>(writes->out_of_range.get());
    }
    with.cache_fixed = c.input_fixed[1] && c.input_fixed[2] && c.input_fixed[3];
    CTG_CHECK(c.node->name, ::ctg::runtime_ops::detail::launch_kernel(c.node->name, c.stream, runtime_ops::detail::cache_attention_kernel<T, D, Pos>, dim3(grid), dim3(runtime_ops::detail::cache_attention_threads), 0, with, c.input<Pos>(3)));
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
