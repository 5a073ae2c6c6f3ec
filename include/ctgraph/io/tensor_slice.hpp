#pragma once
//! tensor_slice: the part of a file's tensor that a parameter takes, for tensor parallelism: slice
//! `index` of `count` equal slices along dimension `dim` — rows (dim 0) of a column-parallel
//! nn.Linear weight [out, in], columns (dim 1) of a row-parallel one. A slice_rule says which
//! slice each parameter takes, by its name; `match_parameters` and `device_weights` take one.
#include <cstdint>
#include <functional>
#include <string_view>

#include <ctgraph/graph/tensor_desc.hpp>

namespace ctg {

struct tensor_slice {
  int dim = 0;
  int index = 0;
  int count = 1;  // 1: the whole tensor
  //! The file's tensor that `part` is this slice of: `part` with dimension `dim` `count` times as long.
  constexpr tensor_desc whole_of(tensor_desc part) const {
    if (dim >= 0 && dim < part.rank) part.dims[dim] *= count;
    return part;
  }
};

//! The slice each parameter takes, by its name (return `{}` for the whole tensor).
using slice_rule = std::function<tensor_slice(std::string_view parameter)>;

}  // namespace ctg
