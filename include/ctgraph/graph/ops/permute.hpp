#pragma once
//! ops::permute<P...> and ops::transpose<D0, D1>: the output's dimension i is the input's
//! dimension P[i] (transpose swaps two; negative dimensions count from the end, as PyTorch's).
//! Every tensor is contiguous, so a permutation that moves data is a copy (one strided kernel,
//! tiled through shared memory where the contiguous dimension changes: `launch_permute`,
//! runtime/ops/strided_copy.cuh). The identity (permute<0, 1, 2>, transpose<D, D>) is a view:
//! its traits say so, and the plan prints "view of". A permutation that only moves size-1
//! dimensions keeps the bytes in place too, but the op cannot see shapes in its traits: write
//! it as ops::reshape, which is a view.
#include <cstddef>

#include <ctgraph/graph/op.hpp>

namespace ctg::ops {

namespace detail {
//! Whether P is a permutation of 0 .. size-1.
template <int... P>
constexpr bool is_permutation() {
  constexpr int p[sizeof...(P) + 1] = {P..., 0};
  bool seen[sizeof...(P) + 1]{};
  for (std::size_t i = 0; i < sizeof...(P); ++i) {
    if (p[i] < 0 || p[i] >= int(sizeof...(P)) || seen[p[i]]) return false;
    seen[p[i]] = true;
  }
  return true;
}
template <int... P>
constexpr bool is_identity() {
  int i = 0;
  return ((P == i++) && ...);
}
//! The input's dimensions reordered by `perm` (rank entries), of the input's dtype.
constexpr output_result permuted(std::span<const tensor_desc> in, const int* perm, int rank) {
  if (in.size() != 1) return output_result::fail(errc::wrong_arity);
  if (in[0].rank != rank) return output_result::fail(errc::shape_mismatch);
  tensor_desc out = in[0];
  for (int i = 0; i < rank; ++i) out.dims[i] = in[0].dims[perm[i]];
  return {out};
}
}  // namespace detail

template <int... P>
struct permute {
  static_assert(detail::is_permutation<P...>(),
                "ctgraph: ops::permute needs a permutation of 0 .. rank-1 (each dimension once). Write e.g. ops::permute<0, 2, 1, 3>.");
  static constexpr std::string_view name = "permute";
  static constexpr bool identity = detail::is_identity<P...>();
  static constexpr op_traits traits{.view = identity};
  static constexpr int perm[sizeof...(P) + 1] = {P..., 0};  // +1: a rank-0 permute has an array too
  static constexpr output_result output(std::span<const tensor_desc> in) { return detail::permuted(in, perm, int(sizeof...(P))); }
  template <class Launch>
  static void launch(const Launch& l) {
    if constexpr (!identity) launch_permute(l, perm);
  }
};

template <int D0, int D1>
struct transpose {
  static constexpr std::string_view name = "transpose";
  static constexpr bool identity = D0 == D1;
  static constexpr op_traits traits{.view = identity};
  //! The permutation of a rank-`rank` tensor; perm[0] = -1 where a dimension is outside it.
  struct permutation {
    int p[max_rank]{};
  };
  static constexpr permutation of_rank(int rank) {
    permutation r;
    for (int i = 0; i < rank; ++i) r.p[i] = i;
    const int a = ctg::detail::normalize_dim(D0, rank), b = ctg::detail::normalize_dim(D1, rank);
    if (a < 0 || b < 0) r.p[0] = -1;
    else r.p[a] = b, r.p[b] = a;
    return r;
  }
  static constexpr output_result output(std::span<const tensor_desc> in) {
    if (in.size() != 1) return output_result::fail(errc::wrong_arity);
    const permutation p = of_rank(in[0].rank);
    if (p.p[0] < 0) return output_result::fail(errc::shape_mismatch);
    return detail::permuted(in, p.p, in[0].rank);
  }
  template <class Launch>
  static void launch(const Launch& l) {
    if constexpr (!identity) launch_permute(l, of_rank(l.input_desc[0].rank).p);
  }
};

}  // namespace ctg::ops
