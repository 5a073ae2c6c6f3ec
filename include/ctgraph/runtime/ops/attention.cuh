#pragma once
//! launch_attention: causal or full scaled dot-product attention (ops::attention) for f16 and
//! bf16, one kernel in the manner of FlashAttention-2. A warp group (4 warps, 16 rows each, kept in
//! registers) owns 64 query rows of one head and streams tiles of 64 keys through shared memory
//! (cp.async, double-buffered), computing scores and output with tensor-core mma (m16n8k16, float
//! accumulators) and a running maximum and sum per row, so the T x T scores never reach memory.
//! The key tiles of one query tile are split among `Groups` warp groups of a block and, on sm_90,
//! among `Splits` blocks of a thread-block cluster: each split takes every splits-th tile and the
//! partial results are merged through (distributed) shared memory. Splitting shortens the longest
//! chain of dependent tiles and, with clusters, spreads the long rows of few heads over idle SMs.
//! Causal tiles stop at the diagonal; the longest run first. Capturable.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#include <ctgraph/runtime/dtype.hpp>
#include <ctgraph/runtime/error.hpp>
#include <ctgraph/runtime/launch_context.hpp>

namespace ctg::runtime_ops::detail {

inline constexpr int attention_rows = 64;  // query rows per warp group (16 per warp)
inline constexpr int attention_keys = 64;  // keys per shared-memory tile

//! Where one attention node's tensors are: element strides per token and per batch entry.
template <class T>
struct attention_args {
  const T *q, *k, *v;
  T* o;
  std::int64_t q_row, kv_row, o_row;        // elements between consecutive tokens
  std::int64_t q_batch, kv_batch, o_batch;  // elements between batch entries
  int tokens, group;                        // group: query heads per K/V head
  float scale_log2;                         // 1/sqrt(D) * log2(e): scores in base 2
  bool causal;
};

//! Shared memory of one warp group: [2 buffers][K, V][attention_keys][D + 8] 16-bit elements. Once
//! the group is done with its tiles, the same space holds its partial result for the merge.
template <int D>
inline constexpr int attention_group_bytes = 2 * 2 * attention_keys * (D + 8) * 2;
//! A group's partial result: per thread D/2 outputs, 2 row maxima and 2 row sums, stored
//! [value][thread] so that a warp's accesses are conflict-free.
template <int D>
inline constexpr int attention_partial_values = D / 2 + 4;
static_assert(attention_partial_values<64> * 128 * 4 <= attention_group_bytes<64> &&
                  attention_partial_values<128> * 128 * 4 <= attention_group_bytes<128>,
              "a group's partial result fits in its tiles' space");

//! d += a * b for one 16x8x16 tile (row-major A, column-major B, float accumulators).
template <class T>
__device__ inline void mma16816(float (&d)[4], const std::uint32_t (&a)[4], std::uint32_t b0, std::uint32_t b1) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>)
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

template <class T>
__device__ inline std::uint32_t pack2(float lo, float hi) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const std::uint32_t*>(&h);
  } else {
    const __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<const std::uint32_t*>(&h);
  }
}

//! 16 bytes global -> shared without registers; `bytes` 0 writes zeros (rows past the sequence).
__device__ inline void copy16_async(void* smem, const void* gmem, int bytes) {
  const unsigned s = unsigned(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(bytes));
}

//! Four 8x8 tiles of V, transposed on the way: the B operands of two 16x8 mma tiles.
__device__ inline void load_matrix_x4_trans(std::uint32_t (&r)[4], const void* smem) {
  const unsigned s = unsigned(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}

// Thread-block clusters (sm_90): a block's rank in its cluster, a barrier over the cluster's
// threads that also orders their shared-memory writes before the reads after it, and the address
// of a shared variable in another block of the cluster. Only kernels with Splits > 1 call them,
// and run_attention launches those on sm_90 or newer only.
__device__ inline int cluster_rank() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  unsigned r;
  asm("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
  return int(r);
#else
  __trap();
  return 0;
#endif
}
__device__ inline void cluster_sync() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;\n" ::: "memory");
#else
  __trap();
#endif
}
__device__ inline const float* cluster_map(const float* p, int rank) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  const float* r;
  asm("mapa.u64 %0, %1, %2;\n" : "=l"(r) : "l"(p), "r"(rank));
  return r;
#else
  __trap();
  return p;
#endif
}

//! Grid: x = query tiles x Splits (a cluster of Splits blocks per query tile), y = heads, z = batch.
//! With clusters and D 64, at most 128 registers so that 4 groups fit on an SM (D 128 would
//! spill); without, no cap (a cap of 128 made GPT-2's prefill attention 10.7 -> 12.0 us).
template <class T, int D, int Groups, int Splits>
__global__ void __launch_bounds__(128 * Groups, D == 64 && Splits > 1 ? 4 / Groups : 1) attention_kernel(attention_args<T> a) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  __trap();  // bf16 mma, ldmatrix and cp.async need sm_80; run_attention refuses older devices
#else
  constexpr int stride = D + 8;  // padded shared rows: conflict-free fragment and ldmatrix reads
  constexpr int splits = Groups * Splits;  // warp groups sharing one query tile's keys
  extern __shared__ __align__(16) unsigned char attention_smem[];
  const int group = int(threadIdx.x) / 128, member = int(threadIdx.x) % 128;
  // This group's tiles: [2 buffers][K, V][attention_keys][stride].
  T* tiles = reinterpret_cast<T*>(attention_smem + group * attention_group_bytes<D>);
  const auto group_sync = [&] { asm volatile("bar.sync %0, 128;\n" ::"r"(group + 1)); };  // 0 is __syncthreads
  const int rank = Splits > 1 ? cluster_rank() : 0;
  const int split = rank * Groups + group;  // this group takes key tiles split, split + splits, ...

  const int warp = member / 32, lane = int(threadIdx.x) % 32, g = lane / 4, t = lane % 4;
  const int row_blocks = int(gridDim.x) / Splits, tile = int(blockIdx.x) / Splits;
  const int qb = a.causal ? row_blocks - 1 - tile : tile;  // longest first
  const int head = int(blockIdx.y), kv_head = head / a.group, batch = int(blockIdx.z);
  const T* q = a.q + batch * a.q_batch + std::int64_t(head) * D;
  const T* k = a.k + batch * a.kv_batch + std::int64_t(kv_head) * D;
  const T* v = a.v + batch * a.kv_batch + std::int64_t(kv_head) * D;
  const int row0 = qb * attention_rows + warp * 16;  // this warp's first query row

  const auto load_tile = [&](int kb, int buf) {
    T* kt = tiles + buf * 2 * attention_keys * stride;
    T* vt = kt + attention_keys * stride;
    for (int c = member; c < attention_keys * D / 8; c += 128) {
      const int r = c / (D / 8), col = (c % (D / 8)) * 8, key = kb * attention_keys + r;
      const bool in = key < a.tokens;
      const std::int64_t off = in ? key * a.kv_row + col : 0;
      copy16_async(kt + r * stride + col, k + off, in ? 16 : 0);
      copy16_async(vt + r * stride + col, v + off, in ? 16 : 0);
    }
    asm volatile("cp.async.commit_group;\n" ::);
  };

  float o[D / 8][4] = {};
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};  // rows g and g + 8, base-2 scores
  const int key_blocks = a.causal ? qb + 1 : (a.tokens + attention_keys - 1) / attention_keys;
  if (split < key_blocks) load_tile(split, 0);  // in flight while the queries load
  // The warp's 16 query rows as A fragments (rows g and g + 8; columns t*2 and t*2 + 8).
  std::uint32_t qf[D / 16][4];
  for (int kk = 0; kk < D / 16; ++kk)
    for (int r = 0; r < 4; ++r) {
      const int row = row0 + g + (r % 2) * 8, col = kk * 16 + t * 2 + (r / 2) * 8;
      qf[kk][r] = row < a.tokens ? *reinterpret_cast<const std::uint32_t*>(q + row * a.q_row + col) : 0u;
    }

  for (int kb = split, step = 0; kb < key_blocks; kb += splits, ++step) {
    if (kb + splits < key_blocks) {
      load_tile(kb + splits, (step + 1) % 2);
      asm volatile("cp.async.wait_group 1;\n" ::);
    } else {
      asm volatile("cp.async.wait_group 0;\n" ::);
    }
    group_sync();
    const T* kt = tiles + (step % 2) * 2 * attention_keys * stride;
    const T* vt = kt + attention_keys * stride;

    // Scores of 16 rows x 64 keys: 8 tiles of 8 keys.
    float s[attention_keys / 8][4] = {};
    for (int n = 0; n < attention_keys / 8; ++n)
      for (int kk = 0; kk < D / 16; ++kk) {
        const T* kr = kt + (n * 8 + g) * stride + kk * 16 + t * 2;
        mma16816<T>(s[n], qf[kk], *reinterpret_cast<const std::uint32_t*>(kr), *reinterpret_cast<const std::uint32_t*>(kr + 8));
      }
    // Scale, mask (future keys, keys past the sequence), and the rows' new maxima.
    const bool edge = (a.causal && kb == qb) || (kb + 1) * attention_keys > a.tokens;
    float mx[2] = {m[0], m[1]};
    for (int n = 0; n < attention_keys / 8; ++n)
      for (int e = 0; e < 4; ++e) {
        float x = s[n][e] * a.scale_log2;
        if (edge) {
          const int key = kb * attention_keys + n * 8 + t * 2 + e % 2, row = row0 + g + (e / 2) * 8;
          if (key >= a.tokens || (a.causal && key > row)) x = -INFINITY;
        }
        s[n][e] = x;
        mx[e / 2] = fmaxf(mx[e / 2], x);
      }
    float corr[2], sum[2] = {0.f, 0.f};
    for (int r = 0; r < 2; ++r) {
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
      const float base = mx[r] == -INFINITY ? 0.f : mx[r];  // a row with nothing seen yet
      corr[r] = exp2f(m[r] - base);
      m[r] = mx[r];
      mx[r] = base;
    }
    // Probabilities, packed as the A fragments of P x V (two score tiles per 16 keys).
    std::uint32_t p[attention_keys / 16][4];
    for (int n = 0; n < attention_keys / 8; ++n) {
      const float p0 = exp2f(s[n][0] - mx[0]), p1 = exp2f(s[n][1] - mx[0]);
      const float p2 = exp2f(s[n][2] - mx[1]), p3 = exp2f(s[n][3] - mx[1]);
      sum[0] += p0 + p1;
      sum[1] += p2 + p3;
      p[n / 2][(n % 2) * 2] = pack2<T>(p0, p1);
      p[n / 2][(n % 2) * 2 + 1] = pack2<T>(p2, p3);
    }
    for (int r = 0; r < 2; ++r) l[r] = l[r] * corr[r] + sum[r];
    for (int n = 0; n < D / 8; ++n) {
      o[n][0] *= corr[0], o[n][1] *= corr[0];
      o[n][2] *= corr[1], o[n][3] *= corr[1];
    }
    // O += P x V: V's tiles transposed by ldmatrix, two 8-column output tiles per load.
    for (int kk = 0; kk < attention_keys / 16; ++kk)
      for (int n = 0; n < D / 8; n += 2) {
        std::uint32_t b[4];
        load_matrix_x4_trans(b, vt + (kk * 16 + lane % 8 + ((lane / 8) % 2) * 8) * stride + n * 8 + (lane / 16) * 8);
        mma16816<T>(o[n], p[kk], b[0], b[1]);
        mma16816<T>(o[n + 1], p[kk], b[2], b[3]);
      }
    group_sync();  // the next iteration's load overwrites this buffer (and, after the last, the partial)
  }

  // The sums are per lane so far: add the quad's four lanes.
  for (int r = 0; r < 2; ++r) {
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
  }
  // Every group leaves its rows' outputs, maxima and sums in its own tiles' space (its loads are
  // complete and the loop's last barrier passed). All groups of all blocks of the cluster hold the
  // same rows in the same fragment layout, so thread `member` of each merges slot `member` of all
  // partials, for the output tiles n = split, split + splits, ...
  float* mine = reinterpret_cast<float*>(tiles);
  for (int n = 0; n < D / 8; ++n)
    for (int e = 0; e < 4; ++e) mine[(n * 4 + e) * 128 + member] = o[n][e];
  for (int r = 0; r < 2; ++r) mine[(D / 2 + r) * 128 + member] = m[r], mine[(D / 2 + 2 + r) * 128 + member] = l[r];
  if constexpr (Splits > 1)
    cluster_sync();
  else
    __syncthreads();
  // Everything this thread merges, loaded at once: one round trip to the other blocks.
  constexpr int tiles_each = (D / 8 + splits - 1) / splits;  // output tiles per merging thread
  float pm[splits][2], pl[splits][2], po[splits][tiles_each][4];
  for (int i = 0; i < splits; ++i) {  // partial i: block i / Groups of the cluster, its group i % Groups
    const float* p = reinterpret_cast<const float*>(attention_smem + (i % Groups) * attention_group_bytes<D>) + member;
    if constexpr (Splits > 1) p = cluster_map(p, i / Groups);
    for (int r = 0; r < 2; ++r) pm[i][r] = p[(D / 2 + r) * 128], pl[i][r] = p[(D / 2 + 2 + r) * 128];
    for (int j = 0; j < tiles_each; ++j)
      for (int e = 0; e < 4; ++e) po[i][j][e] = split + j * splits < D / 8 ? p[((split + j * splits) * 4 + e) * 128] : 0.f;
  }
  float mn[2] = {-INFINITY, -INFINITY}, c[splits][2], sum[2] = {0.f, 0.f};
  for (int i = 0; i < splits; ++i)
    for (int r = 0; r < 2; ++r) mn[r] = fmaxf(mn[r], pm[i][r]);
  for (int i = 0; i < splits; ++i)
    for (int r = 0; r < 2; ++r) {
      c[i][r] = pm[i][r] == -INFINITY ? 0.f : exp2f(pm[i][r] - mn[r]);  // a split that saw no keys of the row adds nothing
      sum[r] += pl[i][r] * c[i][r];
    }
  for (int r = 0; r < 2; ++r) sum[r] = sum[r] > 0.f ? 1.f / sum[r] : 0.f;
  T* out = a.o + batch * a.o_batch + std::int64_t(head) * D;
  for (int j = 0; j < tiles_each; ++j) {
    const int n = split + j * splits;
    if (n >= D / 8) break;
    float acc[4] = {};
    for (int i = 0; i < splits; ++i)
      for (int e = 0; e < 4; ++e) acc[e] += po[i][j][e] * c[i][e / 2];
    for (int r = 0; r < 2; ++r) {
      const int row = row0 + g + r * 8;
      if (row < a.tokens)
        *reinterpret_cast<std::uint32_t*>(out + row * a.o_row + n * 8 + t * 2) = pack2<T>(acc[2 * r] * sum[r], acc[2 * r + 1] * sum[r]);
    }
  }
  if constexpr (Splits > 1) cluster_sync();  // the other blocks read this one's shared memory until here
#endif
}

template <class T, int D, int Groups, int Splits>
void run_attention_kernel(const launch_context& c, const attention_args<T>& a, int heads, int batch) {
  constexpr auto kernel = attention_kernel<T, D, Groups, Splits>;
  constexpr int smem = Groups * attention_group_bytes<D>;
  static const cudaError_t opted = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);  // once per kernel
  CTG_CHECK(c.node->name, opted);
  const unsigned row_blocks = unsigned((a.tokens + attention_rows - 1) / attention_rows);
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(row_blocks * Splits, unsigned(heads), unsigned(batch));
  config.blockDim = dim3(128 * Groups);
  config.dynamicSmemBytes = smem;
  config.stream = c.stream;
  cudaLaunchAttribute cluster{};
  cluster.id = cudaLaunchAttributeClusterDimension;
  cluster.val.clusterDim.x = Splits, cluster.val.clusterDim.y = 1, cluster.val.clusterDim.z = 1;
  if constexpr (Splits > 1) config.attrs = &cluster, config.numAttrs = 1;
  CTG_CHECK(c.node->name, cudaLaunchKernelEx(&config, kernel, a));
}

//! Splits a query tile's keys among the blocks of a cluster only where the query tiles alone leave
//! most SMs idle, so that every split lands on an SM of its own: a cluster launch costs ~1 us more
//! on an H200, and splits that share an SM gain nothing (the SM's issue rate is the limit). Measured
//! there: 2 heads x 1,000 causal tokens (32 query tiles) 17.0 -> 8.7 us with 4 splits; GPT-2's
//! prefill (96 query tiles on 132 SMs) gains nothing from splitting and stays on 2 groups per block.
//! Clusters need sm_90.
template <class T, int D>
void run_attention(const launch_context& c, const attention_args<T>& a, int heads, int batch) {
  int device = 0, major = 0, sms = 0;
  CTG_CHECK(c.node->name, cudaGetDevice(&device));
  CTG_CHECK(c.node->name, cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  CTG_CHECK(c.node->name, cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  if (major < 8) throw runtime_error(c.node->name, "launch_attention", "attention needs a GPU of compute capability 8.0 or newer");
  const std::int64_t row_blocks = (a.tokens + attention_rows - 1) / attention_rows, blocks = row_blocks * heads * batch;
  // The longest query tile has row_blocks key tiles: each split should get at least 2.
  if (major >= 9 && blocks * 4 <= sms && row_blocks >= 8)
    run_attention_kernel<T, D, 1, 4>(c, a, heads, batch);
  else if (major >= 9 && blocks * 2 <= sms && row_blocks >= 4)
    run_attention_kernel<T, D, 1, 2>(c, a, heads, batch);
  else
    run_attention_kernel<T, D, 2, 1>(c, a, heads, batch);
}

}  // namespace ctg::runtime_ops::detail

namespace ctg {

//! Runs one attention node: the packed [.., T, (H + 2 KVH) D] form or separate q, k, v.
template <class = void>  // compiled (with its kernels) only where a graph uses the op
void launch_attention(const launch_context& c, int heads, int kv_heads, bool causal) {
  const tensor_desc& out = c.output_desc();
  const bool packed = c.input_count == 1;
  const int rank = out.rank;
  const std::int64_t tokens = out.dims[rank - 2], batch = rank == 3 ? out.dims[0] : 1;
  const std::int64_t d = out.dims[rank - 1] / heads;
  if (tokens == 0 || batch == 0) return;
  for (int i = 0; i < c.input_count; ++i)
    if (c.inputs[i] == nullptr) throw runtime_error(c.node->name, "launch_attention", "an input has no device pointer");
  if (c.output == nullptr) throw runtime_error(c.node->name, "launch_attention", "the output has no device pointer");
  const std::int64_t q_cols = c.input_desc[0].dims[rank - 1], kv_cols = packed ? q_cols : c.input_desc[1].dims[rank - 1];
  const auto aligned = [](const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; };
  for (int i = 0; i < c.input_count; ++i)
    if (!aligned(c.inputs[i])) throw runtime_error(c.node->name, "launch_attention", "an input is not 16-byte aligned");
  if (!aligned(c.output)) throw runtime_error(c.node->name, "launch_attention", "the output is not 16-byte aligned");
  if (tokens > std::int64_t(0x7fffffff) / 2 || batch > 65535 || heads > 65535)
    throw runtime_error(c.node->name, "launch_attention", "more tokens, heads or batch entries than one grid holds");
  const auto run = [&](auto type) {
    using T = typename decltype(type)::type;
    const T* q = c.input<T>(0);
    runtime_ops::detail::attention_args<T> a{};
    a.q = q;
    a.k = packed ? q + heads * d : c.input<T>(1);
    a.v = packed ? q + (heads + kv_heads) * d : c.input<T>(2);
    a.o = c.out<T>();
    a.q_row = q_cols, a.kv_row = kv_cols, a.o_row = heads * d;
    a.q_batch = tokens * q_cols, a.kv_batch = tokens * kv_cols, a.o_batch = tokens * heads * d;
    a.tokens = int(tokens), a.group = heads / kv_heads, a.causal = causal;
    a.scale_log2 = float(1.0 / std::sqrt(double(d)) * 1.4426950408889634);
    if (d == 64)
      runtime_ops::detail::run_attention<T, 64>(c, a, heads, int(batch));
    else if (d == 128)
      runtime_ops::detail::run_attention<T, 128>(c, a, heads, int(batch));
    else
      throw runtime_error(c.node->name, "launch_attention", "head dimension " + std::to_string(d) + " is not 64 or 128");
  };
  if (out.dtype == dtype_id::bf16)
    run(std::type_identity<__nv_bfloat16>{});
  else if (out.dtype == dtype_id::f16)
    run(std::type_identity<__half>{});
  else
    throw runtime_error(c.node->name, "launch_attention", "dtype " + std::string(name_of(out.dtype)) + " is not supported; attention runs on f16 and bf16");
  CTG_CHECK(c.node->name, cudaGetLastError());
}

}  // namespace ctg
