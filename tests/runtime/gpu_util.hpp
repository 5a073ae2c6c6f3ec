#pragma once
// Small helpers for GPU tests and examples: device buffers from host vectors and back, and what
// a captured graph holds.
#include <cuda_runtime.h>

#include <random>
#include <vector>

#include <ctgraph/passes/flat_graph.hpp>
#include <ctgraph/runtime/error.hpp>

namespace ctg::test {

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

inline std::vector<float> random_floats(std::size_t n, unsigned seed, float lo = -1, float hi = 1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
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
      if (d.traits.copy != copy_kind::dma) continue;
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
