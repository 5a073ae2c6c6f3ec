#pragma once
//! Matrix products through cuBLASLt (runtime/ops/matmul.hpp): descriptors and algorithm chosen once
//! per node, when the executor is instantiated, then one cuBLASLt call per launch.
//!  - ops::matmul: C[M,N] = A[M,K] x B[K,N]; one dtype in and out.
//!  - ops::linear<TransposeW, Act>: y[M,N] = act(x[M,K] W + bias) [+ residual], with W [K,N], or
//!    [N,K] when TransposeW (nn.Linear's layout, a tied embedding); inputs x, W, then an optional
//!    bias [N] and an optional residual [M,N] (only without activation: a transformer's
//!    `h + proj(...)`). Bias, activation and residual run in the cuBLASLt call (one kernel).
//!  - ops::batched_matmul<TransposeB>: C[b] = A[b] x B[b] for every b of a batch, A [Bt,M,K],
//!    B [Bt,K,N] (or [Bt,N,K] when TransposeB: attention's q k^T), C [Bt,M,N]; one strided-batch
//!    cuBLASLt call.
#include <cstddef>
#include <cstdint>

#include <ctgraph/graph/op.hpp>

namespace ctg::ops {

//! The activation a matmul's epilogue applies: none, relu, or gelu (tanh approximation).
using epilogue = activation;

//! The most rows of A a product normalises as it loads them (its prologue): the gemv's
//! (runtime/ops/gemv.cuh), which runs it.
inline constexpr std::int64_t prologue_max_rows = 8;

//! The most products of one A (sibling products: a layer's q, k and v projections; gate and up)
//! that one gemv launch runs (passes/fuse.hpp decides which).
inline constexpr int max_sibling_products = 4;

//! What the runtime needs to know of a matrix product besides its tensors.
struct matmul_options {
  bool transpose_w = false;
  epilogue act = epilogue::none;
  //! > 0: a prologue: A is the input of a folded ops::rms_norm with this epsilon, whose weight is
  //! input 1 (the product's own inputs follow): each row of A is normalised as it is loaded.
  float prologue_eps = 0.f;
  //! A gated prologue: A is silu(input 0) * input 1 (a folded ops::mul of an ops::silu), computed
  //! as it is loaded; the product's own inputs follow.
  bool prologue_gated = false;
};

namespace detail {
//! A[M,K] x W (W [K,N], or [N,K] when transposed) [+ bias [N]] [+ residual [M,N]]: output [M,N] of
//! A's dtype. `extras`: whether the bias and residual inputs are allowed (linear) or not (matmul);
//! a residual goes with no activation (cuBLASLt would apply it to the sum).
constexpr output_result matmul_output(std::span<const tensor_desc> in, bool transpose_w, bool extras, bool activation) {
  const std::size_t count = in.size();
  const tensor_desc* t = in.data();  // not span's members: the plan and its proof run this for every product
  if (count < 2 || count > (extras ? 4u : 2u)) return output_result::fail(errc::wrong_arity);
  const tensor_desc &a = t[0], &w = t[1];
  for (std::size_t i = 1; i < count; ++i)
    if (t[i].dtype != a.dtype) return output_result::fail(errc::dtype_mismatch);
  if (a.rank != 2 || w.rank != 2) return output_result::fail(errc::shape_mismatch);
  const std::int64_t k = transpose_w ? w.dims[1] : w.dims[0], n = transpose_w ? w.dims[0] : w.dims[1];
  if (a.dims[1] != k) return output_result::fail(errc::inner_dim_mismatch);
  const tensor_desc out{a.dtype, 2, {a.dims[0], n}};
  const bool bias = count > 2 && t[2].rank == 1, residual = count > (bias ? 3u : 2u);
  if (count > 2 + std::size_t(bias) + std::size_t(residual)) return output_result::fail(errc::wrong_arity);  // two biases
  if (bias && t[2].dims[0] != n) return output_result::fail(errc::shape_mismatch);
  if (residual && (activation || !t[count - 1].same_shape(out))) return output_result::fail(errc::shape_mismatch);
  return {out};
}

//! A[Bt,M,K] x B[Bt,K,N] (B [Bt,N,K] when transposed): output [Bt,M,N] of A's dtype.
constexpr output_result batched_matmul_output(std::span<const tensor_desc> in, bool transpose_b) {
  if (in.size() != 2) return output_result::fail(errc::wrong_arity);
  const tensor_desc &a = in[0], &b = in[1];
  if (a.dtype != b.dtype) return output_result::fail(errc::dtype_mismatch);
  if (a.rank != 3 || b.rank != 3 || a.dims[0] != b.dims[0]) return output_result::fail(errc::shape_mismatch);
  if (a.dims[2] != (transpose_b ? b.dims[2] : b.dims[1])) return output_result::fail(errc::inner_dim_mismatch);
  return {tensor_desc{a.dtype, 3, {a.dims[0], a.dims[1], transpose_b ? b.dims[1] : b.dims[2]}}};
}

//! The hooks every matrix product shares.
template <matmul_options Options>
struct matmul_hooks {
  template <class Launch>
  static auto prepare(const Launch& l) { return prepare_matmul(l, Options); }
  template <class Launch, class State>
  static void launch(const Launch& l, const State& s) { launch_matmul(l, s); }
};
}  // namespace detail

template <bool TransposeW, epilogue Act, float PrologueEps, bool Gated>
struct linear;

namespace detail {
//! The epsilon of a folded normalisation P, or 0 for another prologue.
template <class P>
constexpr float prologue_epsilon() {
  if constexpr (requires { P::epsilon; }) return P::epsilon;
  else return 0.f;
}
}  // namespace detail

struct matmul : detail::matmul_hooks<matmul_options{}> {
  static constexpr std::string_view name = "matmul";
  //! With an activation: linear's (the plan folds a relu or gelu reader in, passes/fuse.hpp).
  static constexpr bool takes_epilogue = true;
  template <activation A>
  using with_epilogue = linear<false, A, 0.f, false>;
  static constexpr op_traits traits{};
  static constexpr output_result output(std::span<const tensor_desc> in) { return detail::matmul_output(in, false, false, false); }
};

//! PrologueEps > 0: the plan folded an ops::rms_norm<PrologueEps> that feeds A into the product;
//! Gated: an ops::mul of an ops::silu, A = silu(x) * y (`with_prologue`; the runtime's ops,
//! never written by hand).
template <bool TransposeW = false, epilogue Act = epilogue::none, float PrologueEps = 0.f, bool Gated = false>
struct linear : detail::matmul_hooks<matmul_options{TransposeW, Act, PrologueEps, Gated}> {
  static constexpr std::string_view name = "linear";
  //! Without one, an activation can join it (when there is no residual: the rule says).
  static constexpr bool takes_epilogue = Act == epilogue::none;
  template <activation A>
  using with_epilogue = linear<TransposeW, A, PrologueEps, Gated>;
  //! With W [N,K] (what the gemv streams), a row normalisation or a gated product feeding A can
  //! run in its prologue.
  static constexpr prologue_set takes_prologue =
      TransposeW && PrologueEps == 0.f && !Gated ? prologue_set{prologue::rms_norm, prologue::gated} : prologue_set{};
  template <class P>
  using with_prologue = linear<TransposeW, Act, detail::prologue_epsilon<P>(), P::traits.as_prologue == prologue::gated>;
  static constexpr op_traits traits{};
  static constexpr output_result output(std::span<const tensor_desc> in) { return detail::matmul_output(in, TransposeW, true, Act != epilogue::none); }
};

template <bool TransposeB = false>
struct batched_matmul : detail::matmul_hooks<matmul_options{TransposeB}> {
  static constexpr std::string_view name = "batched_matmul";
  static constexpr op_traits traits{};
  static constexpr output_result output(std::span<const tensor_desc> in) { return detail::batched_matmul_output(in, TransposeB); }
};

}  // namespace ctg::ops
