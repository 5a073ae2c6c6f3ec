#pragma once
//! ops::matmul: C[M,N] = A[M,K] x B[K,N]; same dtype in and out. The runtime runs it through
//! cuBLASLt (runtime/ops/matmul.hpp): descriptors and algorithm chosen once per node, when the
//! executor is instantiated, then one cuBLASLt call per launch.
#include <ctgraph/graph/op.hpp>

namespace ctg::ops {

struct matmul {
  static constexpr std::string_view name = "matmul";
  static constexpr op_traits traits{};
  static constexpr output_result output(std::span<const tensor_desc> in) {
    if (in.size() != 2) return output_result::fail(errc::wrong_arity);
    const tensor_desc &a = in[0], &b = in[1];
    if (a.dtype != b.dtype) return output_result::fail(errc::dtype_mismatch);
    if (a.rank != 2 || b.rank != 2) return output_result::fail(errc::shape_mismatch);
    if (a.dims[1] != b.dims[0]) return output_result::fail(errc::inner_dim_mismatch);
    return {tensor_desc{a.dtype, 2, {a.dims[0], b.dims[1]}}};
  }
  template <class Launch>
  static auto prepare(const Launch& l) { return prepare_matmul(l); }
  template <class Launch, class State>
  static void launch(const Launch& l, const State& s) { launch_matmul(l, s); }
};

}  // namespace ctg::ops
