#pragma once
//! Move-only owners of CUDA graph executables, streams and cuBLASLt handles.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <utility>

namespace ctg {

class graph_exec {
 public:
  graph_exec() = default;
  explicit graph_exec(cudaGraphExec_t e) noexcept : e_(e) {}
  graph_exec(graph_exec&& o) noexcept : e_(std::exchange(o.e_, nullptr)) {}
  graph_exec& operator=(graph_exec&& o) noexcept {
    if (this != &o) {
      if (e_) cudaGraphExecDestroy(e_);
      e_ = std::exchange(o.e_, nullptr);
    }
    return *this;
  }
  graph_exec(const graph_exec&) = delete;
  graph_exec& operator=(const graph_exec&) = delete;
  ~graph_exec() {
    if (e_) cudaGraphExecDestroy(e_);
  }
  cudaGraphExec_t get() const noexcept { return e_; }

 private:
  cudaGraphExec_t e_ = nullptr;
};

//! Owns a cudaGraph_t: the graph an executable was made from.
class graph_owner {
 public:
  graph_owner() = default;
  explicit graph_owner(cudaGraph_t g) noexcept : g_(g) {}
  graph_owner(graph_owner&& o) noexcept : g_(std::exchange(o.g_, nullptr)) {}
  graph_owner& operator=(graph_owner&& o) noexcept {
    if (this != &o) {
      if (g_) cudaGraphDestroy(g_);
      g_ = std::exchange(o.g_, nullptr);
    }
    return *this;
  }
  graph_owner(const graph_owner&) = delete;
  graph_owner& operator=(const graph_owner&) = delete;
  ~graph_owner() {
    if (g_) cudaGraphDestroy(g_);
  }
  cudaGraph_t get() const noexcept { return g_; }

 private:
  cudaGraph_t g_ = nullptr;
};

class owned_stream {
 public:
  owned_stream() = default;
  explicit owned_stream(cudaStream_t s) noexcept : s_(s) {}
  owned_stream(owned_stream&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  owned_stream& operator=(owned_stream&& o) noexcept {
    if (this != &o) {
      if (s_) cudaStreamDestroy(s_);
      s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
  }
  owned_stream(const owned_stream&) = delete;
  owned_stream& operator=(const owned_stream&) = delete;
  ~owned_stream() {
    if (s_) cudaStreamDestroy(s_);
  }
  cudaStream_t get() const noexcept { return s_; }

 private:
  cudaStream_t s_ = nullptr;
};

class cublas_lt {
 public:
  cublas_lt() = default;
  explicit cublas_lt(cublasLtHandle_t h) noexcept : h_(h) {}
  cublas_lt(cublas_lt&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  cublas_lt& operator=(cublas_lt&& o) noexcept {
    if (this != &o) {
      if (h_) cublasLtDestroy(h_);
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  cublas_lt(const cublas_lt&) = delete;
  cublas_lt& operator=(const cublas_lt&) = delete;
  ~cublas_lt() {
    if (h_) cublasLtDestroy(h_);
  }
  cublasLtHandle_t get() const noexcept { return h_; }

 private:
  cublasLtHandle_t h_ = nullptr;
};

}  // namespace ctg
