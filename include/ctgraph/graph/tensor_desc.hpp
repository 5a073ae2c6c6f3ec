#pragma once
//! The value-level description of a tensor: dtype and static shape. Passes work on these.
#include <cstddef>
#include <cstdint>
#include <initializer_list>

#include <ctgraph/graph/dtype.hpp>

namespace ctg {

inline constexpr int max_rank = 6;

struct tensor_desc {
  dtype_id dtype = dtype_id::f32;
  int rank = 0;
  std::int64_t dims[max_rank]{};

  constexpr std::int64_t elements() const {
    std::int64_t e = 1;
    for (int i = 0; i < rank; ++i) e *= dims[i];
    return e;
  }
  constexpr std::size_t bytes() const { return std::size_t(elements()) * size_of(dtype); }
  constexpr bool same_shape(const tensor_desc& o) const {
    if (rank != o.rank) return false;
    for (int i = 0; i < rank; ++i)
      if (dims[i] != o.dims[i]) return false;
    return true;
  }
  friend constexpr bool operator==(const tensor_desc& a, const tensor_desc& b) {
    return a.dtype == b.dtype && a.same_shape(b);
  }
};

//! A tensor description from values: `tensor_of(dtype_id::bf16, {16, 1024})` (a graph_value's
//! inputs and parameters; more than max_rank dimensions keep the first max_rank).
constexpr tensor_desc tensor_of(dtype_id dtype, std::initializer_list<std::int64_t> dims) {
  tensor_desc t{dtype};
  for (std::int64_t d : dims)
    if (t.rank < max_rank) t.dims[t.rank++] = d;
  return t;
}

namespace detail {
//! Dimension `d` of a rank-`rank` tensor, counting from the end where negative (as PyTorch's
//! dim=-1); -1 where it is outside the tensor.
constexpr int normalize_dim(int d, int rank) {
  const int r = d < 0 ? d + rank : d;
  return r >= 0 && r < rank ? r : -1;
}
}  // namespace detail

}  // namespace ctg
