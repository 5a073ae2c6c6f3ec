#pragma once
//! Move-only owners of CUDA graph executables, graphs, streams, events, cuBLASLt handles and cuBLASLt
//! descriptors: one template, one alias each.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <utility>

namespace ctg {

//! Owns a C handle and calls `Destroy` on it once (errors are ignored: a destructor cannot
//! throw). Empty when default-constructed or moved from.
template <class Handle, auto Destroy>
class unique_handle {
 public:
  unique_handle() = default;
  explicit unique_handle(Handle h) noexcept : h_(h) {}
  unique_handle(std::nullptr_t) = delete;  // say unique_handle{} for an empty one
  unique_handle(unique_handle&& o) noexcept : h_(std::exchange(o.h_, Handle{})) {}
  unique_handle& operator=(unique_handle&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, Handle{});
    }
    return *this;
  }
  unique_handle(const unique_handle&) = delete;
  unique_handle& operator=(const unique_handle&) = delete;
  ~unique_handle() { reset(); }

  Handle get() const noexcept { return h_; }
  explicit operator bool() const noexcept { return h_ != Handle{}; }
  void reset() noexcept {
    if (h_ != Handle{}) (void)Destroy(h_);
    h_ = Handle{};
  }

 private:
  Handle h_{};
};

using graph_exec = unique_handle<cudaGraphExec_t, &cudaGraphExecDestroy>;
//! The graph an executable was made from.
using graph_owner = unique_handle<cudaGraph_t, &cudaGraphDestroy>;
using owned_stream = unique_handle<cudaStream_t, &cudaStreamDestroy>;
using owned_event = unique_handle<cudaEvent_t, &cudaEventDestroy>;
using cublas_lt = unique_handle<cublasLtHandle_t, &cublasLtDestroy>;
using lt_matmul_desc = unique_handle<cublasLtMatmulDesc_t, &cublasLtMatmulDescDestroy>;
using lt_layout = unique_handle<cublasLtMatrixLayout_t, &cublasLtMatrixLayoutDestroy>;
using lt_preference = unique_handle<cublasLtMatmulPreference_t, &cublasLtMatmulPreferenceDestroy>;

}  // namespace ctg
