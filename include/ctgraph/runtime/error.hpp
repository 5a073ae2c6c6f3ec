#pragma once
//! Runtime errors: every CUDA, cuBLAS and NCCL call is checked; a failure becomes a
//! `ctg::runtime_error` that names the node (or "instantiate"), the call and the library's message.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace ctg {

class runtime_error : public std::runtime_error {
 public:
  runtime_error(std::string_view node, std::string_view call, const std::string& what)
      : std::runtime_error("ctgraph: " + std::string(call) + " failed in node '" + std::string(node) + "': " + what),
        node_(node),
        call_(call) {}
  const std::string& node() const noexcept { return node_; }
  const std::string& call() const noexcept { return call_; }

 private:
  std::string node_, call_;
};

namespace detail {
inline void check(cudaError_t e, std::string_view node, const char* call) {
  if (e != cudaSuccess) throw runtime_error(node, call, std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e));
}
inline void check(cublasStatus_t s, std::string_view node, const char* call) {
  if (s != CUBLAS_STATUS_SUCCESS) throw runtime_error(node, call, cublasGetStatusString(s));
}
}  // namespace detail

//! Checks a CUDA or cuBLAS call; `node` is the node's name (a string_view).
#define CTG_CHECK(node, call) ::ctg::detail::check((call), (node), #call)

}  // namespace ctg
