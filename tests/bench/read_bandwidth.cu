// read_bandwidth: how fast one GPU reads a buffer once, and which ways of reading reach that: the
// ceiling for kernels that stream weights (the gemv, the skinny matmul, a decode step), and what
// a kernel of ours must do to get there. Plain CUDA (harness.hpp), no ctgraph header.
//
// Each variant reads every byte of the buffer once per run and adds its 32-bit words into a
// checksum that must match the host's (`checksum_ok`). Sizes: 48 MiB (a decode step's gate and
// up projections; under the L2's 50 MB, so replays partly hit it) and 512 MiB (ten times the L2).
//   registers     16-byte loads that skip L1, 8 in flight per thread, 8 blocks of 256 per SM
//   cp_async      16-byte cp.async into a shared ring of 8 stages of 16 KB, a block per SM
//   bulk_<S>      the copy engine (cp.async.bulk), one copy of S per stage, a block per SM
//   bulk_16k_x2   16 KB copies, 4 stages, two blocks per SM
//   bulk_2k_rows  16 KB stages in 8 copies of 2 KB (a row of K = 1024 bf16 each)
// Summary keys: read_<48|512>mb.<variant>.tb_s (bytes / GPU time).
#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "harness.hpp"

namespace read_bw {
using namespace bench_harness;

__device__ inline std::uint32_t words(const uint4& v) { return v.x + v.y + v.z + v.w; }
__device__ inline std::uint32_t shared_address(const void* p) { return std::uint32_t(__cvta_generic_to_shared(p)); }

__global__ void registers_kernel(const uint4* p, std::size_t pieces, unsigned* checksum) {
  std::uint32_t sum = 0;
  const std::size_t stride = std::size_t(gridDim.x) * blockDim.x * 8;
  for (std::size_t base = std::size_t(blockIdx.x) * blockDim.x * 8 + threadIdx.x; base < pieces; base += stride) {
    uint4 v[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) {  // all 8 requested before the first is used
      const std::size_t at = base + std::size_t(i) * blockDim.x;
      if (at < pieces)
        asm volatile("ld.global.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(v[i].x), "=r"(v[i].y), "=r"(v[i].z), "=r"(v[i].w) : "l"(p + at));
      else
        v[i] = make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) sum += words(v[i]);
  }
  atomicAdd(checksum, sum);
}

//! Block b reads its share [b * per, (b + 1) * per) of the buffer in `units` stages of `chunk`
//! bytes; the threads add the landed stage's words.
__device__ inline std::uint32_t sum_stage(const unsigned char* stage, int chunk) {
  std::uint32_t sum = 0;
  for (int i = int(threadIdx.x); i < chunk / 16; i += int(blockDim.x)) sum += words(reinterpret_cast<const uint4*>(stage)[i]);
  return sum;
}

template <int Stages>
__global__ void cp_async_kernel(const unsigned char* p, std::size_t per, int chunk, unsigned* checksum) {
  extern __shared__ __align__(128) unsigned char ring[];
  const unsigned char* src = p + per * blockIdx.x;
  const int units = int(per / std::size_t(chunk));
  const auto issue = [&](int u) {
    if (u < units)
      for (int i = int(threadIdx.x); i < chunk / 16; i += int(blockDim.x))
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(shared_address(ring + std::size_t(u % Stages) * chunk + std::size_t(i) * 16)),
                     "l"(src + std::size_t(u) * chunk + std::size_t(i) * 16)
                     : "memory");
    asm volatile("cp.async.commit_group;" ::: "memory");  // one group per stage, empty past the end
  };
  for (int u = 0; u < Stages - 1; ++u) issue(u);
  std::uint32_t sum = 0;
  for (int u = 0; u < units; ++u) {
    issue(u + Stages - 1);
    asm volatile("cp.async.wait_group %0;" ::"n"(Stages - 1) : "memory");  // stage u has landed
    __syncthreads();
    sum += sum_stage(ring + std::size_t(u % Stages) * chunk, chunk);
    __syncthreads();  // every thread is done with the stage before it is refilled
  }
  atomicAdd(checksum, sum);
}

__global__ void bulk_kernel(const unsigned char* p, std::size_t per, int chunk, int stages, int copies, unsigned* checksum) {
  extern __shared__ __align__(128) unsigned char shared[];
  auto* full = reinterpret_cast<unsigned long long*>(shared);  // a barrier per stage
  unsigned char* ring = shared + 128;
  const unsigned char* src = p + per * blockIdx.x;
  const int units = int(per / std::size_t(chunk)), piece = chunk / copies;
  const auto issue = [&](int u) {
    const std::uint32_t bar = shared_address(full + u % stages);
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar), "r"(std::uint32_t(chunk)) : "memory");
    for (int i = 0; i < copies; ++i)
      asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(
                       shared_address(ring + std::size_t(u % stages) * chunk + std::size_t(i) * piece)),
                   "l"(src + std::size_t(u) * chunk + std::size_t(i) * piece), "r"(std::uint32_t(piece)), "r"(bar)
                   : "memory");
  };
  if (threadIdx.x == 0) {
    for (int s = 0; s < stages; ++s) asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(shared_address(full + s)) : "memory");
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  __syncthreads();
  if (threadIdx.x == 0)
    for (int u = 0; u < stages && u < units; ++u) issue(u);
  std::uint32_t sum = 0;
  for (int u = 0; u < units; ++u) {
    const std::uint32_t bar = shared_address(full + u % stages), parity = std::uint32_t(u / stages) & 1u;
    std::uint32_t done = 0;
    while (!done)
      asm volatile("{ .reg .pred q; mbarrier.try_wait.parity.shared::cta.b64 q, [%1], %2; selp.u32 %0, 1, 0, q; }"
                   : "=r"(done)
                   : "r"(bar), "r"(parity)
                   : "memory");
    sum += sum_stage(ring + std::size_t(u % stages) * chunk, chunk);
    __syncthreads();  // every thread is done with the stage before it is refilled
    if (threadIdx.x == 0 && u + stages < units) {
      asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
      issue(u + stages);
    }
  }
  atomicAdd(checksum, sum);
}

struct cuda_free {
  void operator()(void* p) const { cudaFree(p); }
};
inline std::unique_ptr<void, cuda_free> device_allocation(std::size_t bytes) {
  void* p = nullptr;
  BENCH_CHECK(cudaMalloc(&p, bytes));
  return std::unique_ptr<void, cuda_free>(p);
}

struct variant {
  const char* name;
  int chunk = 0, stages = 0, copies = 1, blocks_per_sm = 1;  // chunk 0: registers_kernel; stages 0: cp_async
};

std::string run_size(std::size_t bytes, const char* size_name, const unsigned char* buf, unsigned* checksum, int sms, cudaStream_t st,
                     entries& summary) {
  const std::vector<variant> variants = {{"registers", 0, 0, 1, 8},       {"cp_async", 16384, 0, 1, 1},  {"bulk_16k", 16384, 8},
                                         {"bulk_32k", 32768, 6},          {"bulk_64k", 65536, 3},        {"bulk_16k_x2", 16384, 4, 1, 2},
                                         {"bulk_2k_rows", 16384, 8, 8, 1}};
  std::string json = "{";
  for (const variant& v : variants) {
    const int blocks = sms * v.blocks_per_sm;
    // The bytes each variant reads: the staged ones a whole number of stages per block.
    const std::size_t per = v.chunk == 0 ? bytes / blocks : bytes / std::size_t(blocks) / std::size_t(v.chunk) * std::size_t(v.chunk);
    const std::size_t read = v.chunk == 0 ? bytes : per * std::size_t(blocks);
    const std::size_t shared = v.chunk == 0 ? 0 : v.stages == 0 ? std::size_t(8) * v.chunk : 128 + std::size_t(v.stages) * v.chunk;
    if (v.chunk != 0 && v.stages == 0) BENCH_CHECK(cudaFuncSetAttribute(cp_async_kernel<8>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(shared)));
    if (v.stages != 0) BENCH_CHECK(cudaFuncSetAttribute(bulk_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(shared)));
    const auto once = [&] {
      if (v.chunk == 0) registers_kernel<<<blocks, 256, 0, st>>>(reinterpret_cast<const uint4*>(buf), bytes / 16, checksum);
      else if (v.stages == 0) cp_async_kernel<8><<<blocks, 256, shared, st>>>(buf, per, v.chunk, checksum);
      else bulk_kernel<<<blocks, 128, shared, st>>>(buf, per, v.chunk, v.stages, v.copies, checksum);
    };
    // The checksum of one run against the host's: every byte is 1, so every word 0x01010101.
    BENCH_CHECK(cudaMemsetAsync(checksum, 0, sizeof(unsigned), st));
    once();
    BENCH_CHECK(cudaGetLastError());
    unsigned got = 0;
    BENCH_CHECK(cudaMemcpyAsync(&got, checksum, sizeof(unsigned), cudaMemcpyDeviceToHost, st));
    BENCH_CHECK(cudaStreamSynchronize(st));
    const unsigned want = unsigned(std::uint64_t(read / 4) * 0x01010101ull);
    const timing t = measure(st, 20, once);
    const double tb_s = double(read) / (t.gpu_us * 1e-6) / 1e12;
    summary[std::string("read_") + size_name + "." + v.name + ".tb_s"] = number(tb_s);
    if (json.size() > 1) json += ", ";
    json += json_string(v.name) + ": {\"bytes\": " + number(double(read)) + ", \"gpu_us\": " + number(t.gpu_us) + ", \"tb_s\": " + number(tb_s) +
            ", \"blocks\": " + std::to_string(blocks) + ", \"checksum_ok\": " + (got == want ? "true" : "false") + "}";
    if (got != want) std::fprintf(stderr, "read_bandwidth: %s at %s read wrong bytes (checksum %u, want %u)\n", v.name, size_name, got, want);
  }
  return json + "}";
}

}  // namespace read_bw

int main(int argc, char** argv) {
  using namespace read_bw;
  entries summary;
  return bench_main("read_bandwidth", argc, argv, summary, [&](cudaStream_t st) {
    int device = 0, sms = 0;
    BENCH_CHECK(cudaGetDevice(&device));
    BENCH_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    const std::size_t most = std::size_t(512) << 20;
    const auto buffer = device_allocation(most), sum = device_allocation(sizeof(unsigned));
    const auto* buf = static_cast<const unsigned char*>(buffer.get());
    auto* checksum = static_cast<unsigned*>(sum.get());
    BENCH_CHECK(cudaMemsetAsync(buffer.get(), 1, most, st));
    std::string json = " \"workloads\": {\"read_48mb\": " + run_size(std::size_t(48) << 20, "48mb", buf, checksum, sms, st, summary);
    json += ",\n  \"read_512mb\": " + run_size(most, "512mb", buf, checksum, sms, st, summary) + "}";
    BENCH_CHECK(cudaStreamSynchronize(st));
    return json;
  });
}
