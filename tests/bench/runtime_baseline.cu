// runtime_baseline: the hand-written baselines for runtime_bench, in plain CUDA and cuBLASLt
// only (no ctgraph header): the same four workloads, written the way a careful CUDA programmer
// would, on one GPU. Prints one JSON object on stdout (progress on stderr) with the same
// workload names as runtime_bench and torch_bench.py; exits 77 where no GPU is present.
// `--summary PATH` also merges "<workload>.baseline_<variant>.<metric>" into PATH
// (tests/bench/results/summary.json).
//
// Workloads:  mlp16 / mlp4096  8 x (bf16 matmul [T,4096]x[4096,4096] -> relu in place), T = 16 / 4096
//             ew64             64 f32 elementwise kernels on 1M floats (by i % 4: relu, scale 1/2,
//                              add of the previous two tensors, gelu with the tanh approximation)
//             roundtrip        f32 matmul [16,1024]x[1024,1024] -> copy to pinned host -> square on
//                              the host -> copy back -> matmul
// Variants:   baseline_eager   the launches, one by one, every run
//             baseline_graph   the same launches captured once into CUDA graphs (one per run of
//                              device work; the host op runs between them after a synchronisation)
// Both use this file's own kernels (16-byte vector loads, grid-stride) and its own cuBLASLt calls:
// descriptors built and the heuristic queried once per matmul, outside the timed loop; f32
// compute, no TF32, 32 MiB of workspace. Inputs are the same pseudo-random values as
// runtime_bench's, so the output hashes of the two can be compared.
// Timing, inputs, JSON and the summary: tests/bench/harness.hpp (plain C++ and CUDA runtime),
// shared with runtime_bench so that both are timed the same way.
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness.hpp"

namespace baseline {
using namespace bench_harness;

constexpr std::size_t workspace_bytes = std::size_t{32} << 20;

inline void check_call(cudaError_t e, const char* call) { bench_harness::check(e, call); }
inline void check_call(cublasStatus_t s, const char* call) {
  if (s != CUBLAS_STATUS_SUCCESS) throw std::runtime_error(std::string(call) + ": cuBLAS status " + std::to_string(int(s)));
}
#define BASELINE_CHECK(call) ::baseline::check_call((call), #call)

// ---------------------------------------------------------------------------------------------
// Memory and handles
// ---------------------------------------------------------------------------------------------
struct device_buffer {
  void* ptr = nullptr;
  explicit device_buffer(std::size_t bytes) { BASELINE_CHECK(cudaMalloc(&ptr, bytes)); }
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;
  ~device_buffer() { cudaFree(ptr); }
  template <class T>
  T* as() const { return static_cast<T*>(ptr); }
};

struct pinned_buffer {
  void* ptr = nullptr;
  explicit pinned_buffer(std::size_t bytes) { BASELINE_CHECK(cudaMallocHost(&ptr, bytes)); }
  pinned_buffer(const pinned_buffer&) = delete;
  pinned_buffer& operator=(const pinned_buffer&) = delete;
  ~pinned_buffer() { cudaFreeHost(ptr); }
  template <class T>
  T* as() const { return static_cast<T*>(ptr); }
};

struct graph_exec {
  cudaGraphExec_t exec = nullptr;
  graph_exec() = default;
  graph_exec(const graph_exec&) = delete;
  graph_exec& operator=(const graph_exec&) = delete;
  ~graph_exec() {
    if (exec) cudaGraphExecDestroy(exec);
  }
};

//! Captures what `enqueue` puts on `st` into a graph and instantiates it.
void capture(cudaStream_t st, const std::function<void()>& enqueue, graph_exec& out) {
  BASELINE_CHECK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
  enqueue();
  cudaGraph_t graph = nullptr;
  BASELINE_CHECK(cudaStreamEndCapture(st, &graph));
  const cudaError_t e = cudaGraphInstantiate(&out.exec, graph, 0);
  cudaGraphDestroy(graph);
  BASELINE_CHECK(e);
}

// ---------------------------------------------------------------------------------------------
// Elementwise kernels: grid-stride over 16-byte packs (all sizes here are multiples of a pack)
// ---------------------------------------------------------------------------------------------
constexpr int block = 256;

unsigned grid_for(std::int64_t packs) {
  int device = 0, sms = 0;
  cudaGetDevice(&device);
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  return unsigned(std::min<std::int64_t>((packs + block - 1) / block, std::int64_t(sms) * 8));
}

__device__ inline float relu(float x) { return x < 0.f ? 0.f : x; }
__device__ inline float gelu_tanh(float x) {
  constexpr float sqrt_2_over_pi = 0.7978845608028654f;
  return 0.5f * x * (1.f + tanhf(sqrt_2_over_pi * (x + 0.044715f * x * x * x)));
}

enum class unary { relu, half, gelu };

template <unary Op>
__global__ void unary_f32(const float4* a, float4* y, std::int64_t packs) {
  for (std::int64_t p = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; p < packs; p += std::int64_t(gridDim.x) * blockDim.x) {
    float4 v = a[p];
    float* f = reinterpret_cast<float*>(&v);
#pragma unroll
    for (int k = 0; k < 4; ++k) f[k] = Op == unary::relu ? relu(f[k]) : Op == unary::half ? f[k] * 0.5f : gelu_tanh(f[k]);
    y[p] = v;
  }
}

__global__ void add_f32(const float4* a, const float4* b, float4* y, std::int64_t packs) {
  for (std::int64_t p = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; p < packs; p += std::int64_t(gridDim.x) * blockDim.x) {
    const float4 u = a[p], v = b[p];
    y[p] = make_float4(u.x + v.x, u.y + v.y, u.z + v.z, u.w + v.w);
  }
}

//! relu in place on bf16, 8 values a pack.
__global__ void relu_bf16(uint4* y, std::int64_t packs) {
  for (std::int64_t p = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; p < packs; p += std::int64_t(gridDim.x) * blockDim.x) {
    uint4 u = y[p];
    __nv_bfloat16* h = reinterpret_cast<__nv_bfloat16*>(&u);
#pragma unroll
    for (int k = 0; k < 8; ++k) h[k] = __float2bfloat16(relu(__bfloat162float(h[k])));
    y[p] = u;
  }
}

// ---------------------------------------------------------------------------------------------
// cuBLASLt matmul: row-major C[M,N] = A[M,K] x B[K,N], one dtype, f32 compute. Everything but the
// cublasLtMatmul call is done once, here.
// ---------------------------------------------------------------------------------------------
class matmul {
 public:
  matmul(cublasLtHandle_t lt, cudaDataType_t type, std::int64_t m, std::int64_t k, std::int64_t n, void* workspace)
      : lt_(lt), workspace_(workspace) {
    // Row-major C = A x B is column-major C^T = B^T x A^T: cuBLASLt gets (B, A) and m = N, n = M.
    BASELINE_CHECK(cublasLtMatmulDescCreate(&op_, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    BASELINE_CHECK(cublasLtMatrixLayoutCreate(&b_, type, std::uint64_t(n), std::uint64_t(k), n));
    BASELINE_CHECK(cublasLtMatrixLayoutCreate(&a_, type, std::uint64_t(k), std::uint64_t(m), k));
    BASELINE_CHECK(cublasLtMatrixLayoutCreate(&c_, type, std::uint64_t(n), std::uint64_t(m), n));
    cublasLtMatmulPreference_t pref = nullptr;
    BASELINE_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    const std::uint64_t ws = workspace_bytes;
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
    int found = 0;
    const cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(lt_, op_, b_, a_, c_, c_, pref, 1, &heuristic_, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    BASELINE_CHECK(s);
    if (found == 0) throw std::runtime_error("cuBLASLt has no algorithm for this matmul");
  }
  matmul(const matmul&) = delete;
  matmul& operator=(const matmul&) = delete;
  ~matmul() {
    cublasLtMatrixLayoutDestroy(c_);
    cublasLtMatrixLayoutDestroy(a_);
    cublasLtMatrixLayoutDestroy(b_);
    cublasLtMatmulDescDestroy(op_);
  }
  void operator()(const void* a, const void* b, void* c, cudaStream_t st) const {
    const float alpha = 1.f, beta = 0.f;
    BASELINE_CHECK(cublasLtMatmul(lt_, op_, &alpha, b, b_, a, a_, &beta, c, c_, c, c_, &heuristic_.algo, workspace_,
                                  heuristic_.workspaceSize, st));
  }

 private:
  cublasLtHandle_t lt_;
  void* workspace_;
  cublasLtMatmulDesc_t op_ = nullptr;
  cublasLtMatrixLayout_t a_ = nullptr, b_ = nullptr, c_ = nullptr;
  cublasLtMatmulHeuristicResult_t heuristic_{};
};

// ---------------------------------------------------------------------------------------------
// One workload, both variants
// ---------------------------------------------------------------------------------------------
//! One workload: `eager()` enqueues one run; `segments` are its runs of device work, with
//! `between[i]` (host work, after a synchronisation) run after segment i. Checks that eager and
//! graph runs give identical bits, then times both.
struct workload {
  std::string name;
  int k;
  std::vector<std::function<void()>> segments;  // each enqueues device work on the stream
  std::vector<std::function<void()>> between;   // host work after segment i (may be empty)
  const void* output;
  std::size_t output_bytes;
  bool bf16;
};

std::string run(workload& w, cudaStream_t st, entries& summary) {
  std::fprintf(stderr, "[%s] capturing\n", w.name.c_str());
  std::vector<std::unique_ptr<graph_exec>> graphs;
  for (auto& seg : w.segments) {
    graphs.push_back(std::make_unique<graph_exec>());
    capture(st, seg, *graphs.back());
  }
  auto host_work = [&](std::size_t i) {
    if (i < w.between.size() && w.between[i]) {
      BASELINE_CHECK(cudaStreamSynchronize(st));
      w.between[i]();
    }
  };
  auto eager = [&] {
    for (std::size_t i = 0; i < w.segments.size(); ++i) w.segments[i](), host_work(i);
  };
  auto replay = [&] {
    for (std::size_t i = 0; i < graphs.size(); ++i) {
      BASELINE_CHECK(cudaGraphLaunch(graphs[i]->exec, st));
      host_work(i);
    }
  };
  auto output_after = [&](auto&& once) {
    BASELINE_CHECK(cudaMemsetAsync(const_cast<void*>(w.output), 0, w.output_bytes, st));
    once();
    BASELINE_CHECK(cudaStreamSynchronize(st));
    std::vector<unsigned char> h(w.output_bytes);
    BASELINE_CHECK(cudaMemcpy(h.data(), w.output, w.output_bytes, cudaMemcpyDeviceToHost));
    return h;
  };
  const bool equal = output_after(eager) == output_after(replay);
  if (!equal) std::fprintf(stderr, "[%s] WARNING: eager and graph outputs differ\n", w.name.c_str());
  const std::string out = describe_output(w.output, w.output_bytes, w.bf16);  // the graph's run

  std::fprintf(stderr, "[%s] baseline_eager\n", w.name.c_str());
  const timing t_eager = measure(st, w.k, eager);
  std::fprintf(stderr, "[%s] baseline_graph\n", w.name.c_str());
  const timing t_graph = measure(st, w.k, replay);
  std::fprintf(stderr, "[%s] gpu_us eager %.2f graph %.2f\n", w.name.c_str(), t_eager.gpu_us, t_graph.gpu_us);
  summarise(summary, w.name, "baseline_eager", t_eager);
  summarise(summary, w.name, "baseline_graph", t_graph);
  std::ostringstream o;
  o << "{\"runs_per_trial\": " << w.k << ", \"graphs\": " << graphs.size() << ",\n     \"baseline_eager\": " << to_json(t_eager)
    << ",\n     \"baseline_graph\": " << to_json(t_graph) << ",\n     \"eager_equals_graph\": " << (equal ? "true" : "false")
    << ", " << out << "}";
  return o.str();
}

// ---------------------------------------------------------------------------------------------
// The workloads
// ---------------------------------------------------------------------------------------------
constexpr std::int64_t hidden = 4096;
constexpr int mlp_layers = 8;

template <std::int64_t Tokens>
std::string bench_mlp(const char* name, cublasLtHandle_t lt, void* workspace, cudaStream_t st, int k,
                      entries& summary) {
  const std::size_t nx = std::size_t(Tokens) * hidden, nw = std::size_t(hidden) * hidden;
  device_buffer x(nx * 2), w(nw * mlp_layers * 2), y0(nx * 2), y1(nx * 2);
  upload_random_bf16(x.ptr, nx, 7, 1.f);
  upload_random_bf16(w.ptr, nw * mlp_layers, 11, 0.03f);
  const matmul mm(lt, CUDA_R_16BF, Tokens, hidden, hidden, workspace);
  const std::int64_t packs = std::int64_t(nx) / 8;
  const unsigned grid = grid_for(packs);
  __nv_bfloat16* ys[2] = {y0.as<__nv_bfloat16>(), y1.as<__nv_bfloat16>()};
  workload wl{name, k, {}, {}, ys[(mlp_layers - 1) % 2], nx * 2, true};
  wl.segments.push_back([&, ys, grid, packs] {
    const __nv_bfloat16* in = x.as<__nv_bfloat16>();
    for (int l = 0; l < mlp_layers; ++l) {
      __nv_bfloat16* out = ys[l % 2];
      mm(in, w.as<__nv_bfloat16>() + std::size_t(l) * nw, out, st);
      relu_bf16<<<grid, block, 0, st>>>(reinterpret_cast<uint4*>(out), packs);
      BASELINE_CHECK(cudaGetLastError());
      in = out;
    }
  });
  return run(wl, st, summary);
}

std::string bench_ew(cudaStream_t st, int k, entries& summary) {
  constexpr std::int64_t n = std::int64_t{1} << 20, packs = n / 4;
  constexpr int steps = 64;
  device_buffer x(n * 4), b0(n * 4), b1(n * 4), b2(n * 4);
  upload_random_f32(x.ptr, n, 5, 1.f);
  float4* ring[3] = {b0.as<float4>(), b1.as<float4>(), b2.as<float4>()};
  const unsigned grid = grid_for(packs);
  // t[0] = x; t[i + 1] = step i of t[i] (and t[i - 1]); t[i + 1] lives in ring[i % 3].
  workload wl{"ew64", k, {}, {}, ring[(steps - 1) % 3], n * 4, false};
  wl.segments.push_back([&, ring, grid] {
    const float4* prev2 = nullptr;
    const float4* prev = x.as<float4>();
    for (int i = 0; i < steps; ++i) {
      float4* out = ring[i % 3];
      switch (i % 4) {
        case 0: unary_f32<unary::relu><<<grid, block, 0, st>>>(prev, out, packs); break;
        case 1: unary_f32<unary::half><<<grid, block, 0, st>>>(prev, out, packs); break;
        case 2: add_f32<<<grid, block, 0, st>>>(prev, prev2, out, packs); break;
        default: unary_f32<unary::gelu><<<grid, block, 0, st>>>(prev, out, packs); break;
      }
      BASELINE_CHECK(cudaGetLastError());
      prev2 = prev;
      prev = out;
    }
  });
  return run(wl, st, summary);
}

std::string bench_round_trip(cublasLtHandle_t lt, void* workspace, cudaStream_t st, int k, entries& summary) {
  constexpr std::int64_t m = 16, kk = 1024;
  constexpr std::size_t bytes = std::size_t(m * kk) * 4;
  device_buffer x(bytes), w(std::size_t(kk * kk) * 4), h(bytes), back(bytes), y(bytes);
  pinned_buffer on_host(bytes), squared(bytes);
  upload_random_f32(x.ptr, std::size_t(m * kk), 3, 1.f);
  upload_random_f32(w.ptr, std::size_t(kk * kk), 13, 0.05f);
  const matmul mm(lt, CUDA_R_32F, m, kk, kk, workspace);
  workload wl{"roundtrip", k, {}, {}, y.ptr, bytes, false};
  wl.segments.push_back([&] {
    mm(x.ptr, w.ptr, h.ptr, st);
    BASELINE_CHECK(cudaMemcpyAsync(on_host.ptr, h.ptr, bytes, cudaMemcpyDeviceToHost, st));
  });
  wl.between.push_back([&] {
    const float* in = on_host.as<float>();
    float* out = squared.as<float>();
    for (std::int64_t i = 0; i < m * kk; ++i) out[i] = in[i] * in[i];
  });
  wl.segments.push_back([&] {
    BASELINE_CHECK(cudaMemcpyAsync(back.ptr, squared.ptr, bytes, cudaMemcpyHostToDevice, st));
    mm(back.ptr, w.ptr, y.ptr, st);
  });
  return run(wl, st, summary);
}

}  // namespace baseline

int main(int argc, char** argv) {
  using namespace baseline;
  return gpu_main("runtime_baseline", [&](const cudaDeviceProp& prop, cudaStream_t st) {
    cublasLtHandle_t lt = nullptr;
    BASELINE_CHECK(cublasLtCreate(&lt));
    entries summary;
    std::string json;
    {
      device_buffer workspace(workspace_bytes);
      json = " \"workloads\": {\n  \"mlp16\": " + bench_mlp<16>("mlp16", lt, workspace.ptr, st, 200, summary);
      json += ",\n  \"mlp4096\": " + bench_mlp<4096>("mlp4096", lt, workspace.ptr, st, 20, summary);
      json += ",\n  \"ew64\": " + bench_ew(st, 200, summary);
      json += ",\n  \"roundtrip\": " + bench_round_trip(lt, workspace.ptr, st, 200, summary) + "}";
      BASELINE_CHECK(cudaStreamSynchronize(st));
    }
    cublasLtDestroy(lt);
    finish("runtime_baseline", prop, json, summary, summary_path(argc, argv));
  });
}
