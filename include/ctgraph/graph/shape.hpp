#pragma once
//! Static shapes: `shape<16, 4096>`.
#include <cstdint>

#include <ctgraph/graph/dtype.hpp>
#include <ctgraph/graph/tensor_desc.hpp>

namespace ctg {

template <std::int64_t... Dims>
struct shape {
  static_assert(sizeof...(Dims) <= max_rank, "ctgraph: shape has too many dimensions. The limit is ctg::max_rank (6). Merge dimensions with a reshape.");
  // One mistake, one error: a shape with too many dimensions is not also checked for extents.
  static_assert(sizeof...(Dims) > max_rank || ((Dims > 0) && ...), "ctgraph: shape has a dimension that is not positive. Static shapes need every extent >= 1.");
  static constexpr int rank = sizeof...(Dims);
  static constexpr std::int64_t elements = (std::int64_t{1} * ... * Dims);
};

namespace detail {
template <class S>
struct is_shape_t { static constexpr bool value = false; };
template <std::int64_t... D>
struct is_shape_t<shape<D...>> { static constexpr bool value = true; };
}  // namespace detail

template <class S>
concept static_shape = detail::is_shape_t<S>::value;

//! The tensor_desc of a dtype tag and a shape.
template <dtype DT, std::int64_t... D>
constexpr tensor_desc describe_tensor(shape<D...>) {
  if constexpr (sizeof...(D) <= max_rank) return tensor_desc{DT::id, int(sizeof...(D)), {D...}};
  else return tensor_desc{};  // shape<> has rejected it already
}

}  // namespace ctg
