#pragma once
//! The skinny chain: several skinny products in a row, C_l = act_l(C_{l-1} W_l + bias_l), run by
//! one persistent launch of the skinny matmul's tiles (runtime/ops/skinny_matmul.cuh), so that W
//! streams without a break from one product into the next.
//!
//! Why: a product of M <= 64 rows reads W once and does little else, so each launch of its own
//! spends its start (the ring filling) and its end (split-K reduction, the last blocks' tail)
//! with HBM idle: about a third of a 16x4096x4096 product's time. No W depends on what the chain
//! computes (each is a graph input or parameter), so one launch keeps loading the next product's
//! W into its ring while the current product's blocks finish; only A waits.
//!
//! How: one block per SM, all resident at once. Product l is cut into units, a column tile times
//! a K-slice (`slices[l]` of them per tile, as many as fill the grid), and block b takes units b,
//! b + G, ... (G the blocks that take part: whole tiles per round). The ring holds W alone and runs
//! ahead across units and products; a unit's A (the block's K-slice of C_{l-1}) is loaded into
//! shared memory once all of product l - 1 is done. The slices of a tile add their f32 tiles
//! through the workspace in device memory (clusters would leave SMs idle: an H200 holds 15
//! clusters of 8 such blocks, not 16), each taking its 1/slices of the packs once all have
//! arrived, in slice order, as the skinny matmul's cluster does: with the same split of K, a
//! product gives the skinny matmul's bits. Counters in the workspace say which units are done;
//! a ninth warp that loads nothing keeps them (a fence waits for the thread's loads in flight,
//! and the 8 warps always have the ring's), and the last block out zeroes them for the next launch. The chain never lets a programmatic
//! dependent start before it ends (its blocks wait for each other: none may lose its SM).
#include <ctgraph/runtime/ops/skinny_matmul.cuh>


namespace ctg {

//! The most products one skinny chain runs.
inline constexpr int skinny_chain_max_products = 16;

//! One product of a chain: C [m,n] = act(A [m,k] W + bias) [+ residual]; A the chain's input or
//! the product before's C; W ([k,n], or [n,k] transposed as the chain's) and bias written by
//! nothing the chain waits for.
struct skinny_chain_product {
  const void* a = nullptr;
  const void* w = nullptr;
  const void* bias = nullptr;      // [n] or null
  const void* residual = nullptr;  // [m,n] or null: read once the product before is done
  void* out = nullptr;
  int m = 0, n = 0, k = 0;
  ops::epilogue act = ops::epilogue::none;
};

struct skinny_chain_args {
  skinny_chain_product products[skinny_chain_max_products]{};
  int count = 0;
  //! `skinny_chain_config::workspace_bytes` of device memory, zeroed before the first launch and
  //! left so by each (see the file's comment); one launch at a time.
  void* workspace = nullptr;
};

//! How a chain's launch is laid out: `blocks` (one per SM), `slices[l]` K-slices per column tile
//! of product l, a ring of `stages` W boxes, room for `a_chunks` chunks of A.
struct skinny_chain_config {
  const void* kernel = nullptr;
  int m_tiles = 0, blocks = 0, stages = 0, a_chunks = 0;
  int prefetch = 0;  // W boxes past the ring asked of L2 while a product ends (CTGRAPH_CHAIN_PREFETCH)
  int slices[skinny_chain_max_products]{};
  std::size_t shared_bytes = 0;
  std::size_t partials_offset = 0;  // in the workspace, after the counters
  std::size_t workspace_bytes = 0;
};

}  // namespace ctg

namespace ctg::runtime_ops::detail {

inline constexpr std::size_t skinny_chain_a_budget = 48 * 1024;  // shared memory for A's slice

//! Where the block's next W box comes from: product `l`, unit `u` (column tile u / slices, K-slice
//! u % slices), its chunk `i`.
struct skinny_chain_cursor {
  int l = 0, u = 0, i = 0;
};

inline constexpr int skinny_chain_threads = (skinny_warps + 1) * 32;  // the 8 warps and the counters' warp

template <class T, bool TransposeW, int MTiles>
__global__ void __launch_bounds__(skinny_chain_threads, 1)
    skinny_chain_kernel(const __grid_constant__ skinny_chain_args p, const __grid_constant__ skinny_chain_config cfg) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  using plan = skinny_plan<TransposeW, MTiles>;
  constexpr int tile_n = plan::tile_n, chunk_k = plan::chunk_k, threads = skinny_warps * 32, packs = plan::rows * tile_n / 4;
  extern __shared__ uint4 skinny_ring[];
  const int stages = cfg.stages;
  uint4* a_box = skinny_ring + stages * plan::w_slots;  // [a_chunks][a_slots], each as a stage's A
  float* red = reinterpret_cast<float*>(a_box + cfg.a_chunks * plan::a_slots);
  const int tid = int(threadIdx.x), lane = tid % 32, warp = tid / 32, block = int(blockIdx.x);
  const bool computes = tid < threads, keeper = tid == threads;  // keeper: lane 0 of the counters' warp
  unsigned* done = static_cast<unsigned*>(p.workspace);  // [l]: units of product l done; [count]: blocks out; then arrivals per tile
  float4* partials = reinterpret_cast<float4*>(static_cast<char*>(p.workspace) + cfg.partials_offset);

  const auto tiles = [&](int l) { return (p.products[l].n + tile_n - 1) / tile_n; };
  const auto chunks = [&](int l) { return (p.products[l].k + chunk_k - 1) / chunk_k; };
  const auto per_slice = [&](int l) { return (chunks(l) + cfg.slices[l] - 1) / cfg.slices[l]; };
  const auto units = [&](int l) { return tiles(l) * cfg.slices[l]; };
  // Blocks that take units of l: whole tiles per round, so a tile's slices never wait across rounds.
  const auto takers = [&](int l) { return min(int(gridDim.x) / cfg.slices[l] * cfg.slices[l], units(l)); };
  const auto mine = [&](int l, int u) {  // chunks of K in unit u
    return max(0, min(per_slice(l), chunks(l) - (u % cfg.slices[l]) * per_slice(l)));
  };
  const auto settle = [&](skinny_chain_cursor& c) {  // to the next box at or after c
    while (c.l < p.count) {
      if (block < takers(c.l) && c.u < units(c.l)) {
        if (c.i < mine(c.l, c.u)) return;
        c.i = 0, c.u += takers(c.l);
        continue;
      }
      ++c.l, c.u = block, c.i = 0;
    }
  };
  // One warp-wide copy covers one 512-byte row of a [K,N] box or two 256-byte rows of an [N,K] one.
  const auto load_w = [&](skinny_chain_cursor& c, int stage) {
    if (c.l >= p.count) return;
    const skinny_chain_product& q = p.products[c.l];
    const T* w = static_cast<const T*>(q.w);
    const int k0 = ((c.u % cfg.slices[c.l]) * per_slice(c.l) + c.i) * chunk_k, n0 = (c.u / cfg.slices[c.l]) * tile_n;
    uint4* ws = skinny_ring + stage * plan::w_slots;
#pragma unroll
    for (int i = 0; i < plan::w_slots / threads && computes; ++i) {
      const int e = i * threads + tid, r = e / plan::w_pieces, col = e % plan::w_pieces;
      const int n = TransposeW ? n0 + r : n0 + 8 * col, k = TransposeW ? k0 + 8 * col : k0 + r;
      const bool ok = n < q.n && k < q.k;
      const std::size_t at = TransposeW ? std::size_t(n) * std::size_t(q.k) + std::size_t(k) : std::size_t(k) * std::size_t(q.n) + std::size_t(n);
      skinny_copy(ws + skinny_swizzle<plan::w_pieces>(r, col), ok ? w + at : w, ok);
    }
    ++c.i;
    settle(c);
  };
  // Unit u's K-slice of product l's A, from L2 (.cg: an earlier product may have left lines of
  // this buffer in L1), zeros past K and M.
  const auto load_a = [&](int l, int u) {
    const skinny_chain_product& q = p.products[l];
    const T* a = static_cast<const T*>(q.a);
    const int pieces = mine(l, u) * plan::a_slots, k0 = (u % cfg.slices[l]) * per_slice(l) * chunk_k;
    constexpr int batch = 4;  // loads in flight per thread
    for (int e0 = tid; computes && e0 < pieces; e0 += batch * threads) {
      uint4 v[batch];
#pragma unroll
      for (int j = 0; j < batch; ++j) {
        const int e = e0 + j * threads, piece = e % plan::a_slots, r = piece / plan::a_pieces;
        const int k = k0 + (e / plan::a_slots) * chunk_k + 8 * (piece % plan::a_pieces);
        const bool ok = e < pieces && r < q.m && k < q.k;
        v[j] = ok ? __ldcg(reinterpret_cast<const uint4*>(a + std::size_t(r) * std::size_t(q.k) + std::size_t(k))) : make_uint4(0, 0, 0, 0);
      }
#pragma unroll
      for (int j = 0; j < batch; ++j) {
        const int e = e0 + j * threads, piece = e % plan::a_slots;
        if (e < pieces) a_box[(e / plan::a_slots) * plan::a_slots + skinny_swizzle<plan::a_pieces>(piece / plan::a_pieces, piece % plan::a_pieces)] = v[j];
      }
    }
  };
  const auto wait_for = [&](const unsigned* counter, unsigned want) {  // the keeper acquires, the block follows
    if (keeper) {
      unsigned seen = 0;
      for (;;) {
        asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n" : "=r"(seen) : "l"(counter) : "memory");
        if (seen >= want) break;
        __nanosleep(32);
      }
      __threadfence();
    }
    __syncthreads();
  };
  const auto arrive = [&](unsigned* counter) {  // after the block's writes
    __syncthreads();
    if (keeper) {
      __threadfence();
      atomicAdd(counter, 1u);
    }
  };

  // The ring's first stages - 1 boxes before the wait (no kernel writes a W), one group each.
  skinny_chain_cursor ahead{0, block, 0};
  settle(ahead);
  // While a product's units are reduced and the next one's A waits for them, the ring holds what
  // it can of the next W; the counters' warp asks L2 for the `cfg.prefetch` boxes past it,
  // which the ring then takes from L2 (HBM would idle meanwhile).
  const auto prefetch_past_ring = [&] {
    skinny_chain_cursor c = ahead;
    for (int b = 0; b < cfg.prefetch && c.l < p.count; ++b) {
      const skinny_chain_product& q = p.products[c.l];
      const int k0 = ((c.u % cfg.slices[c.l]) * per_slice(c.l) + c.i) * chunk_k, n0 = (c.u / cfg.slices[c.l]) * tile_n;
      constexpr int box_rows = TransposeW ? tile_n : chunk_k;  // rows of W in a box, each one run of bytes
      for (int r = lane; r < box_rows; r += 32) {
        const int row = TransposeW ? n0 + r : k0 + r, first = TransposeW ? k0 : n0;
        const int row_end = TransposeW ? q.n : q.k, run_end = min(TransposeW ? q.k : q.n, first + (TransposeW ? chunk_k : tile_n));
        if (row >= row_end || first >= run_end) continue;
        const T* at = static_cast<const T*>(q.w) + std::size_t(row) * std::size_t(TransposeW ? q.k : q.n) + std::size_t(first);
        asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;\n" ::"l"(at), "r"(unsigned(run_end - first) * unsigned(sizeof(T))) : "memory");
      }
      ++c.i;
      settle(c);
    }
  };

  for (int i = 0; i < stages - 1; ++i) {
    load_w(ahead, i);
    skinny_commit();  // an empty group past the last box: the waits below count groups
  }
  grid_wait();
  int stage = 0;
  unsigned* arrived = done + p.count + 1;  // product l's tiles' arrivals
  for (int l = 0; l < p.count; arrived += tiles(l), ++l) {
    const int slices = cfg.slices[l], takers_l = takers(l);
    if (block >= takers_l) continue;
    if (l > 0) wait_for(done + l - 1, unsigned(units(l - 1)));  // all of C_{l-1}: the next A
    load_a(l, block);  // every unit of this block in l has its K-slice (takers_l % slices == 0)
    for (int u = block; u < units(l); u += takers_l) {
      const int tile = u / slices, slice = u % slices, n0 = tile * tile_n;
      float acc[MTiles][2][4] = {};
      for (int i = 0; i < mine(l, u); ++i) {
        skinny_wait_for(stages - 2);  // this thread's copies of this box have landed
        __syncthreads();              // everyone's have (and A's stores); the stage before is free
        load_w(ahead, stage == 0 ? stages - 1 : stage - 1);
        skinny_commit();
        if (computes) skinny_stage<T, TransposeW, MTiles>(acc, skinny_ring + stage * plan::w_slots, a_box + i * plan::a_slots, warp, lane);
        stage = stage + 1 == stages ? 0 : stage + 1;
      }
      if (warp == skinny_warps && u + takers_l >= units(l)) prefetch_past_ring();  // the block's last unit of l
      const float4* sums = skinny_gather<TransposeW, MTiles>(acc, red);
      const skinny_chain_product& q = p.products[l];
      if (slices == 1) {
        for (int e = tid; computes && e < packs; e += threads) {
          const int m = e / (tile_n / 4), n = n0 + e % (tile_n / 4) * 4;
          if (m < q.m && n < q.n) skinny_finish<T>(q, m, n, sums[e]);
        }
      } else {  // the slices' tiles through the workspace; this block adds every 1/slices-th pack, in slice order
        for (int e = tid; computes && e < packs; e += threads) __stcg(partials + std::size_t(u) * packs + e, sums[e]);
        arrive(arrived + tile);
        wait_for(arrived + tile, unsigned(slices));
        const float4* tile_sums = partials + std::size_t(tile) * slices * packs;
        for (int e = slice * threads + tid; computes && e < packs; e += threads * slices) {
          const int m = e / (tile_n / 4), n = n0 + e % (tile_n / 4) * 4;
          if (m >= q.m || n >= q.n) continue;
          float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
          for (int s0 = 0; s0 < slices; s0 += 8) {  // 8 loads in flight, then added in slice order
            float4 x[8];
#pragma unroll
            for (int j = 0; j < 8; ++j)
              if (s0 + j < slices) x[j] = __ldcg(tile_sums + std::size_t(s0 + j) * packs + e);
#pragma unroll
            for (int j = 0; j < 8; ++j)
              if (s0 + j < slices) v.x += x[j].x, v.y += x[j].y, v.z += x[j].z, v.w += x[j].w;
          }
          skinny_finish<T>(q, m, n, v);
        }
      }
      arrive(done + l);  // also: `red` is free again
    }
  }
  skinny_wait<0>();  // empty groups only by now
  // The last block out zeroes the counters: every block is past its waits.
  if (keeper) {
    __threadfence();
    if (atomicAdd(done + p.count, 1u) == gridDim.x - 1) {
      for (unsigned* c = done; c < arrived; ++c) *c = 0;
      __threadfence();
    }
  }
#endif
}

}  // namespace ctg::runtime_ops::detail

namespace ctg {

//! Why the skinny chain cannot run these products (m x k_l -> n_l, one dtype, W's layout alike),
//! or null: too many or too few, products that do not chain (k_l != n_{l-1}, or A not the C
//! before), what the skinny matmul declines.
template <class = void>
const char* skinny_chain_declines(dtype_id dtype, bool transpose_w, const skinny_chain_args& args) {
  if (args.count < 2 || args.count > skinny_chain_max_products) return "fewer than 2 or more than 16 products";
  for (int l = 1; l < args.count; ++l) {
    const skinny_chain_product &q = args.products[l], &before = args.products[l - 1];
    if (q.m != before.m) return "products of different row counts";
    if (q.k != before.n || q.a != before.out) return "a product that does not read the one before";
  }
  for (int l = 0; l < args.count; ++l) {
    const skinny_chain_product& q = args.products[l];
    if (const char* why = skinny_matmul_declines(dtype, q.m, q.n, q.k, transpose_w, {q.a, q.w, q.bias, q.residual, q.out})) return why;
  }
  return nullptr;
}

//! Lays out the chain's launch for the current device (see skinny_chain_config): one block per
//! SM; per product, as many K-slices per column tile as fill the grid, or more where A's slice
//! would not fit its budget; the deepest ring that leaves room for A's slice and the reduction.
//! cudaErrorInvalidConfiguration (not raised) where no layout fits.
template <class = void>
cudaError_t configure_skinny_chain(skinny_chain_config& cfg, dtype_id dtype, bool transpose_w, const skinny_chain_args& args) {
  namespace rd = runtime_ops::detail;
  cfg = {};
  const int m = args.products[0].m;
  cfg.m_tiles = m <= 8 ? 1 : m <= 16 ? 2 : m <= 32 ? 4 : 8;
  int device = 0, sms = 0;
  if (cudaError_t e = cudaGetDevice(&device); e != cudaSuccess) return e;
  if (cudaError_t e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device); e != cudaSuccess) return e;
  const auto fill = [&]<bool TransposeW, int MTiles>() -> cudaError_t {
    using plan = rd::skinny_plan<TransposeW, MTiles>;
    constexpr std::size_t a_chunk_bytes = std::size_t(plan::a_slots) * 16, box_bytes = std::size_t(plan::w_slots) * 16;
    const int most_per_slice = int(rd::skinny_chain_a_budget / a_chunk_bytes);
    std::size_t counters = std::size_t(args.count) + 1, partials = 0;
    for (int l = 0; l < args.count; ++l) {
      const int chunks = (args.products[l].k + plan::chunk_k - 1) / plan::chunk_k, tiles = (args.products[l].n + plan::tile_n - 1) / plan::tile_n;
      int slices = std::clamp(sms / tiles, 1, chunks);
      slices = std::max(slices, (chunks + most_per_slice - 1) / most_per_slice);  // A's slice fits
      const int per = (chunks + slices - 1) / slices;
      slices = (chunks + per - 1) / per;  // no slice without work
      if (slices > sms) return cudaErrorInvalidConfiguration;
      cfg.slices[l] = slices, cfg.a_chunks = std::max(cfg.a_chunks, per);
      counters += std::size_t(tiles);
      if (slices > 1) partials = std::max(partials, std::size_t(tiles) * std::size_t(slices) * plan::rows * plan::tile_n * sizeof(float));
    }
    const std::size_t fixed = std::size_t(cfg.a_chunks) * a_chunk_bytes + plan::reduce_bytes;
    if (fixed + 4 * box_bytes > rd::skinny_shared_budget) return cudaErrorInvalidConfiguration;
    cfg.stages = int(std::min<std::size_t>(12, (rd::skinny_shared_budget - fixed) / box_bytes));
    cfg.shared_bytes = fixed + std::size_t(cfg.stages) * box_bytes;
    cfg.partials_offset = (counters * sizeof(unsigned) + 255) / 256 * 256;
    cfg.workspace_bytes = cfg.partials_offset + partials;
    cfg.kernel = dtype == dtype_id::bf16 ? reinterpret_cast<const void*>(&rd::skinny_chain_kernel<__nv_bfloat16, TransposeW, MTiles>)
                                         : reinterpret_cast<const void*>(&rd::skinny_chain_kernel<__half, TransposeW, MTiles>);
    if (cudaError_t e = cudaFuncSetAttribute(cfg.kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(cfg.shared_bytes)); e != cudaSuccess)
      return e;
    int per_sm = 0;
    if (cudaError_t e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, cfg.kernel, rd::skinny_chain_threads, cfg.shared_bytes); e != cudaSuccess)
      return e;
    if (per_sm < 1) return cudaErrorInvalidConfiguration;
    cfg.blocks = sms;  // one per SM: each keeps its SM's bandwidth busy
    const char* prefetch = std::getenv("CTGRAPH_CHAIN_PREFETCH");
    cfg.prefetch = prefetch ? std::max(0, std::atoi(prefetch)) : 8;
    return cudaSuccess;
  };
  const auto pick = [&]<int MTiles>() { return transpose_w ? fill.template operator()<true, MTiles>() : fill.template operator()<false, MTiles>(); };
  switch (cfg.m_tiles) {
    case 1: return pick.template operator()<1>();
    case 2: return pick.template operator()<2>();
    case 4: return pick.template operator()<4>();
    default: return pick.template operator()<8>();
  }
}

//! Enqueues the chain as `cfg` says; returns the launch's error. With `programmatic`, as a
//! programmatic dependent of the kernel before it on `stream`: its blocks load W while that kernel
//! ends, and read the first A once it has.
template <class = void>
cudaError_t launch_skinny_chain(const skinny_chain_args& args, const skinny_chain_config& cfg, cudaStream_t stream, bool programmatic = false) {
  skinny_chain_args p = args;
  skinny_chain_config c = cfg;
  void* params[] = {&p, &c};
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(unsigned(cfg.blocks));
  config.blockDim = dim3(runtime_ops::detail::skinny_chain_threads);
  config.dynamicSmemBytes = cfg.shared_bytes;
  config.stream = stream;
  config.attrs = &attr;
  config.numAttrs = programmatic ? 1 : 0;
  return cudaLaunchKernelExC(&config, cfg.kernel, params);
}

}  // namespace ctg
