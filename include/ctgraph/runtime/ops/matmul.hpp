#pragma once
//! The built-in matmul through cuBLASLt: C[M,N] = A[M,K] x B[K,N], all row-major, one dtype
//! (f32, f16 or bf16), accumulated in f32 (plain f32 for f32, never TF32, so results are exact
//! to f32 rounding). Host-only code: it enqueues one cuBLASLt kernel and allocates no device
//! memory, so it can be captured into a CUDA graph.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <string_view>

#include <ctgraph/runtime/dtype.hpp>
#include <ctgraph/runtime/error.hpp>
#include <ctgraph/runtime/launch_context.hpp>

namespace ctg::runtime_ops {

namespace detail {

//! Owns one cuBLASLt descriptor, so that every path out of launch_matmul, throws included,
//! destroys what it created.
template <class Handle, cublasStatus_t (*Destroy)(Handle)>
class lt_descriptor {
 public:
  lt_descriptor() = default;
  lt_descriptor(const lt_descriptor&) = delete;
  lt_descriptor& operator=(const lt_descriptor&) = delete;
  ~lt_descriptor() {
    if (h_ != nullptr) Destroy(h_);
  }
  Handle get() const { return h_; }
  Handle* out() { return &h_; }  // for the Create call; filled at most once

 private:
  Handle h_ = nullptr;
};

using lt_matmul_desc = lt_descriptor<cublasLtMatmulDesc_t, cublasLtMatmulDescDestroy>;
using lt_layout = lt_descriptor<cublasLtMatrixLayout_t, cublasLtMatrixLayoutDestroy>;
using lt_preference = lt_descriptor<cublasLtMatmulPreference_t, cublasLtMatmulPreferenceDestroy>;

//! The largest power of two (at most 256) that divides the address. cuBLASLt's heuristic assumes
//! 256-byte aligned buffers unless told otherwise, and may pick a kernel that needs it.
inline std::uint32_t pointer_alignment(const void* p) {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  std::uint32_t align = 256;
  while (align > 1 && a % align != 0) align /= 2;
  return align;
}

inline bool matmul_data_type(dtype_id d, cudaDataType_t& out) {
  if (!is_floating(d)) return false;
  out = cuda_type_of(d);
  return true;
}

}  // namespace detail

//! Runs the node's matmul on `c.stream`: inputs[0] = A [M,K], inputs[1] = B [K,N], output = C
//! [M,N], all row-major and of one dtype (f32, f16, bf16); shapes from `c.input_desc` and
//! `c.node->out`. Uses `c.cublas_lt` and at most `c.workspace_bytes` of `c.workspace`.
//! Throws ctg::runtime_error for shapes or dtypes that do not fit, when cuBLASLt has no
//! algorithm, and when a cuBLASLt call fails; it leaks nothing on any path.
inline void launch_matmul(const launch_context& c) {
  const std::string_view name = c.node->name;
  constexpr const char* call = "launch_matmul";
  const tensor_desc &a = c.input_desc[0], &b = c.input_desc[1], &out = c.node->out;
  if (a.rank != 2 || b.rank != 2 || out.rank != 2)
    throw runtime_error(name, call, "A, B and C must be 2-d; got ranks " + std::to_string(a.rank) + ", " +
                                        std::to_string(b.rank) + " and " + std::to_string(out.rank));
  const std::int64_t m = a.dims[0], k = a.dims[1], n = b.dims[1];
  if (b.dims[0] != k || out.dims[0] != m || out.dims[1] != n)
    throw runtime_error(name, call, "shapes do not fit C[M,N] = A[M,K] x B[K,N]: A is " + std::to_string(a.dims[0]) + "x" +
                                        std::to_string(a.dims[1]) + ", B " + std::to_string(b.dims[0]) + "x" +
                                        std::to_string(b.dims[1]) + ", C " + std::to_string(out.dims[0]) + "x" +
                                        std::to_string(out.dims[1]));
  cudaDataType_t type{};
  if (a.dtype != out.dtype || b.dtype != out.dtype || !detail::matmul_data_type(out.dtype, type))
    throw runtime_error(name, call, "A, B and C must share one dtype of f32, f16 or bf16; got " +
                                        std::string(name_of(a.dtype)) + ", " + std::string(name_of(b.dtype)) +
                                        " and " + std::string(name_of(out.dtype)));
  if (m == 0 || n == 0) return;
  if (c.output == nullptr) throw runtime_error(name, call, "C has no device pointer");
  if (k == 0) {  // an empty sum: C = 0 (cuBLASLt does not take k = 0)
    CTG_CHECK(name, cudaMemsetAsync(c.output, 0, out.bytes(), c.stream));
    return;
  }
  if (c.inputs[0] == nullptr || c.inputs[1] == nullptr) throw runtime_error(name, call, "A or B has no device pointer");
  if (c.cublas_lt == nullptr) throw runtime_error(name, call, "the launch context has no cuBLASLt handle");

  // Row-major C = A x B is column-major C^T = B^T x A^T, with the same buffers: B^T is N x K
  // (ld N), A^T is K x M (ld K), C^T is N x M (ld N). So cuBLASLt gets (B, A), m = N, n = M.
  detail::lt_matmul_desc op;
  CTG_CHECK(name, cublasLtMatmulDescCreate(op.out(), CUBLAS_COMPUTE_32F, CUDA_R_32F));
  detail::lt_layout b_layout, a_layout, c_layout;
  CTG_CHECK(name, cublasLtMatrixLayoutCreate(b_layout.out(), type, std::uint64_t(n), std::uint64_t(k), n));
  CTG_CHECK(name, cublasLtMatrixLayoutCreate(a_layout.out(), type, std::uint64_t(k), std::uint64_t(m), k));
  CTG_CHECK(name, cublasLtMatrixLayoutCreate(c_layout.out(), type, std::uint64_t(n), std::uint64_t(m), n));

  detail::lt_preference pref;
  CTG_CHECK(name, cublasLtMatmulPreferenceCreate(pref.out()));
  const std::uint64_t workspace_bytes = c.workspace != nullptr ? c.workspace_bytes : 0;
  CTG_CHECK(name, cublasLtMatmulPreferenceSetAttribute(pref.get(), CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                       &workspace_bytes, sizeof(workspace_bytes)));
  // cuBLASLt's "A" is our B and its "B" is our A.
  const std::uint32_t align_a = detail::pointer_alignment(c.inputs[1]), align_b = detail::pointer_alignment(c.inputs[0]),
                      align_c = detail::pointer_alignment(c.output);
  CTG_CHECK(name, cublasLtMatmulPreferenceSetAttribute(pref.get(), CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a,
                                                       sizeof(align_a)));
  CTG_CHECK(name, cublasLtMatmulPreferenceSetAttribute(pref.get(), CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b,
                                                       sizeof(align_b)));
  CTG_CHECK(name, cublasLtMatmulPreferenceSetAttribute(pref.get(), CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_c,
                                                       sizeof(align_c)));
  CTG_CHECK(name, cublasLtMatmulPreferenceSetAttribute(pref.get(), CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_c,
                                                       sizeof(align_c)));

  cublasLtMatmulHeuristicResult_t heuristic{};
  int found = 0;
  const cublasStatus_t searched = cublasLtMatmulAlgoGetHeuristic(c.cublas_lt, op.get(), b_layout.get(), a_layout.get(),
                                                                 c_layout.get(), c_layout.get(), pref.get(), 1, &heuristic, &found);
  if (searched != CUBLAS_STATUS_NOT_SUPPORTED)  // "not supported" is how it says that none fits
    ::ctg::detail::check(searched, name, "cublasLtMatmulAlgoGetHeuristic");  // what CTG_CHECK does, naming the call
  if (searched == CUBLAS_STATUS_NOT_SUPPORTED || found == 0)
    throw runtime_error(name, call, "cuBLASLt has no algorithm for " + std::string(name_of(out.dtype)) + " " +
                                        std::to_string(m) + "x" + std::to_string(k) + " x " + std::to_string(k) + "x" +
                                        std::to_string(n) + " with " + std::to_string(workspace_bytes) +
                                        " bytes of workspace");

  const float alpha = 1.f, beta = 0.f;  // host scalars: read when the call is made (or captured)
  CTG_CHECK(name, cublasLtMatmul(c.cublas_lt, op.get(), &alpha, c.inputs[1], b_layout.get(), c.inputs[0], a_layout.get(),
                                 &beta, c.output, c_layout.get(), c.output, c_layout.get(), &heuristic.algo,
                                 c.workspace, heuristic.workspaceSize, c.stream));
}

}  // namespace ctg::runtime_ops
