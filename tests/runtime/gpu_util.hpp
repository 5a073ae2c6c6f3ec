#pragma once
// The GPU tests' helpers, defined once: device buffers from host vectors and back, random
// values of every float dtype, the host reference matmul, and what a captured graph holds.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <random>
#include <vector>

#include <ctgraph/passes/flat_graph.hpp>
#include <ctgraph/runtime/error.hpp>

namespace ctg::test {

//! An environment variable set for one scope (prepare_matmul reads CTGRAPH_MATMUL_KERNEL and
//! CTGRAPH_MATMUL_TUNE), then as it was.
class scoped_env {
 public:
  scoped_env(const char* name, const char* value) : name_(name) {
    if (const char* v = std::getenv(name)) saved_ = v, had_ = true;
    setenv(name, value, 1);
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;
  ~scoped_env() {
    if (had_) setenv(name_, saved_.c_str(), 1);
    else unsetenv(name_);
  }

 private:
  const char* name_;
  std::string saved_;
  bool had_ = false;
};
struct matmul_kernel_env : scoped_env {
  explicit matmul_kernel_env(const char* value) : scoped_env("CTGRAPH_MATMUL_KERNEL", value) {}
};
//! The same matmul in two executors: cuBLASLt with its heuristic's first algorithm (no timed choice).
struct same_matmul_env {
  matmul_kernel_env kernel{"cublaslt"};
  scoped_env tune{"CTGRAPH_MATMUL_TUNE", "off"};
};


template <class T>
struct device_vector {
  T* ptr = nullptr;
  std::size_t n = 0;
  explicit device_vector(std::size_t count) : n(count) { CTG_CHECK("test", cudaMalloc(&ptr, count * sizeof(T))); }
  explicit device_vector(const std::vector<T>& h) : device_vector(h.size()) { upload(h); }
  device_vector(const device_vector&) = delete;
  ~device_vector() { cudaFree(ptr); }
  void upload(const std::vector<T>& h) { CTG_CHECK("test", cudaMemcpy(ptr, h.data(), n * sizeof(T), cudaMemcpyHostToDevice)); }
  std::vector<T> download() const {
    std::vector<T> h(n);
    CTG_CHECK("test", cudaMemcpy(h.data(), ptr, n * sizeof(T), cudaMemcpyDeviceToHost));
    return h;
  }
};

//! Raw device memory, freed at scope exit; `at<T>(i)` is element i of T (offsets misalign on purpose).
struct device_buffer {
  void* p = nullptr;
  explicit device_buffer(std::size_t bytes) { CTG_CHECK("test", cudaMalloc(&p, bytes)); }
  //! A copy of `host` on the device.
  template <class T>
  explicit device_buffer(const std::vector<T>& host) : device_buffer(host.size() * sizeof(T)) {
    CTG_CHECK("test", cudaMemcpy(p, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;
  ~device_buffer() { cudaFree(p); }
  template <class T>
  T* at(std::int64_t offset) const { return static_cast<T*>(p) + offset; }
};

inline float host_float(float x) { return x; }
inline float host_float(__half x) { return __half2float(x); }
inline float host_float(__nv_bfloat16 x) { return __bfloat162float(x); }
//! x rounded to T, to nearest even, as the device rounds.
template <class T>
T host_round(float x) {
  if constexpr (std::is_same_v<T, __half>) return __float2half_rn(x);
  else if constexpr (std::is_same_v<T, __nv_bfloat16>) return __float2bfloat16_rn(x);
  else return x;
}

//! n values of T, uniform in [lo, hi), rounded to T; the same for the same seed.
template <class T>
std::vector<T> random_values(std::size_t n, float lo, float hi, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<T> v(n);
  for (T& x : v) x = host_round<T>(u(rng));
  return v;
}
inline std::vector<float> random_floats(std::size_t n, unsigned seed, float lo = -1, float hi = 1) {
  return random_values<float>(n, lo, hi, seed);
}

//! The host reference: C[M,N] = A[M,K] x B[K,N], row-major, summed in float in k order.
inline std::vector<float> host_matmul(const std::vector<float>& A, const std::vector<float>& B, std::int64_t M,
                                      std::int64_t K, std::int64_t N) {
  std::vector<float> C(std::size_t(M * N), 0.f);
  for (std::int64_t i = 0; i < M; ++i)
    for (std::int64_t kk = 0; kk < K; ++kk)
      for (std::int64_t j = 0; j < N; ++j) C[std::size_t(i * N + j)] += A[std::size_t(i * K + kk)] * B[std::size_t(kk * N + j)];
  return C;
}

//! The nodes of a captured graph by type, and the memcpy nodes' parameters (a captured
//! cudaMemcpyAsync is a memcpy node: a DMA copy, not a kernel).
struct captured_nodes {
  int kernels = 0, memcpys = 0, memsets = 0, mem_allocs = 0, others = 0;
  struct copy {
    const void* src;
    void* dst;
    std::size_t bytes;
  };
  std::vector<copy> copies;
};

inline captured_nodes nodes_of(cudaGraph_t graph) {
  captured_nodes r;
  std::size_t count = 0;
  CTG_CHECK("test", cudaGraphGetNodes(graph, nullptr, &count));
  std::vector<cudaGraphNode_t> nodes(count);
  CTG_CHECK("test", cudaGraphGetNodes(graph, nodes.data(), &count));
  for (cudaGraphNode_t n : nodes) {
    cudaGraphNodeType type{};
    CTG_CHECK("test", cudaGraphNodeGetType(n, &type));
    switch (type) {
      case cudaGraphNodeTypeKernel: ++r.kernels; break;
      case cudaGraphNodeTypeMemset: ++r.memsets; break;
      case cudaGraphNodeTypeMemAlloc: ++r.mem_allocs; break;
      case cudaGraphNodeTypeMemcpy: {
        ++r.memcpys;
        cudaMemcpy3DParms p{};
        CTG_CHECK("test", cudaGraphMemcpyNodeGetParams(n, &p));
        r.copies.push_back({p.srcPtr.ptr, p.dstPtr.ptr, p.extent.width * p.extent.height * p.extent.depth});
        break;
      }
      default: ++r.others; break;
    }
  }
  return r;
}

//! What the executor's captured graphs hold for the plan's copies: every copy op of a capturable
//! partition (`traits.copy == copy_kind::dma`: to_host, to_device, the inserted to_symmetric) is
//! matched to a memcpy node that reads its input's buffer and (for named copies) writes its own,
//! with its size. `matched == planned == memcpy_nodes` says each copy is a DMA copy, not a kernel.
struct copy_check {
  int planned = 0, matched = 0, memcpy_nodes = 0, mem_alloc_nodes = 0;
};

template <class Executor>
copy_check captured_copies(const Executor& ex) {
  const auto& g = ex.plan_of().graph;
  copy_check r;
  for (int i = 0; i < g.partition_count; ++i) {
    const auto& q = g.partitions[i];
    if (q.kind != partition_kind::capturable) continue;
    const captured_nodes nodes = nodes_of(ex.captured_graph(i));
    r.memcpy_nodes += nodes.memcpys;
    r.mem_alloc_nodes += nodes.mem_allocs;
    for (int s = q.first_step; s <= q.last_step; ++s) {
      const auto& d = g.nodes[g.schedule[s]];
      if (d.op->traits.copy != copy_kind::dma) continue;
      ++r.planned;
      const void* src = ex.data(g.nodes[d.inputs[0]].name);
      const void* dst = ex.data(d.name);  // inserted copies too: "x.to_symmetric"
      for (const auto& c : nodes.copies)
        if (c.src == src && c.bytes == d.out.bytes() && c.dst == dst) {
          ++r.matched;
          break;
        }
    }
  }
  return r;
}

}  // namespace ctg::test
