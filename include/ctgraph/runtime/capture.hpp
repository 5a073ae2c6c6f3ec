#pragma once
//! Stream capture done once, right: `capture(stream, what, fn)` records what `fn` enqueues on
//! `stream` into a graph; when `fn` throws or capture breaks, the capture is ended and the partial
//! graph destroyed, so the stream is usable again. `instantiate_graph(graph, what)` makes it runnable.
//! `capture_frontier` and `set_capture_frontier` let one stream capture parallel branches.
#include <cuda_runtime.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <ctgraph/runtime/error.hpp>
#include <ctgraph/runtime/handles.hpp>

namespace ctg {

namespace detail {
inline void end_failed_capture(cudaStream_t s) noexcept {
  cudaGraph_t raw = nullptr;
  cudaStreamEndCapture(s, &raw);
  if (raw) cudaGraphDestroy(raw);
  (void)cudaGetLastError();
}
}  // namespace detail

//! The graph of what `fn()` enqueues on `s` (captured in thread-local mode).
template <class Fn>
graph_owner capture(cudaStream_t s, std::string_view what, Fn&& fn) {
  CTG_CHECK(what, cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  try {
    std::forward<Fn>(fn)();
  } catch (...) {
    detail::end_failed_capture(s);
    throw;
  }
  cudaGraph_t raw = nullptr;
  const cudaError_t e = cudaStreamEndCapture(s, &raw);
  graph_owner graph(raw);
  if (e != cudaSuccess)
    throw runtime_error(what, "cudaStreamEndCapture",
                        std::string(cudaGetErrorString(e)) + ". Something captured here cannot be captured; mark its op op_traits::capturable = false");
  return graph;
}

//! Whether `s` is still capturing: false once an operation broke the capture.
inline bool capture_intact(cudaStream_t s) noexcept {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  return cudaStreamIsCapturing(s, &status) == cudaSuccess && status == cudaStreamCaptureStatusActive;
}

//! The work `s` captured last: what the next work captured on it would depend on.
inline std::vector<cudaGraphNode_t> capture_frontier(cudaStream_t s, std::string_view what) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  const cudaGraphNode_t* nodes = nullptr;
  const cudaGraphEdgeData* edges = nullptr;  // asked for, or the query fails where an edge carries data
  std::size_t count = 0;
  CTG_CHECK(what, cudaStreamGetCaptureInfo(s, &status, nullptr, nullptr, &nodes, &edges, &count));
  return std::vector<cudaGraphNode_t>(nodes, nodes + count);
}

//! Makes the next work captured on `s` depend on exactly `nodes` (none: it starts a branch).
inline void set_capture_frontier(cudaStream_t s, std::vector<cudaGraphNode_t>& nodes, std::string_view what) {
  CTG_CHECK(what, cudaStreamUpdateCaptureDependencies(s, nodes.data(), nullptr, nodes.size(), cudaStreamSetCaptureDependencies));
}

//! Whether `s` is capturing and the next work captured on it would depend on exactly one node, a
//! kernel, by an ordinary edge: where a kernel launched with PDL (the launch attribute
//! cudaLaunchAttributeProgrammaticStreamSerialization) becomes a programmatic dependent of that
//! kernel. Capture turns the attribute into a programmatic edge (cudaGraphDependencyTypeProgrammatic
//! from cudaGraphKernelNodePortProgrammatic), which CUDA allows between kernel nodes only. A
//! single predecessor also means the kernel depends on nothing else, so its griddepcontrol.wait,
//! which waits for that kernel's completion, covers every dependency: the predecessor itself ran
//! after all of its own (by an ordinary edge, or because it waited too, as ctgraph's PDL kernels
//! do in every block). False when not capturing (eager work: the kernel before is unknown).
inline bool capture_follows_one_kernel(cudaStream_t s) noexcept {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  const cudaGraphNode_t* nodes = nullptr;
  const cudaGraphEdgeData* edges = nullptr;
  std::size_t count = 0;
  if (cudaStreamGetCaptureInfo(s, &status, nullptr, nullptr, &nodes, &edges, &count) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  if (status != cudaStreamCaptureStatusActive || count != 1) return false;
  if (edges && (edges[0].type != cudaGraphDependencyTypeDefault || edges[0].from_port != cudaGraphKernelNodePortDefault)) return false;
  cudaGraphNodeType type = cudaGraphNodeTypeEmpty;
  if (cudaGraphNodeGetType(nodes[0], &type) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return type == cudaGraphNodeTypeKernel;
}

inline graph_exec instantiate_graph(const graph_owner& graph, std::string_view what) {
  cudaGraphExec_t exec = nullptr;
  CTG_CHECK(what, cudaGraphInstantiate(&exec, graph.get(), 0));
  return graph_exec(exec);
}

}  // namespace ctg
