#pragma once
//! A user tensor bound to a graph input or parameter by name: `ctg::bind("x", ptr, count)`.
//! The element type gives the dtype, checked against the plan at instantiation.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <string_view>
#include <type_traits>

#include <ctgraph/graph/dtype.hpp>

namespace ctg {

struct binding {
  std::string_view name;
  void* data = nullptr;
  dtype_id dtype = dtype_id::f32;
  std::size_t bytes = 0;
};

template <class T>
constexpr dtype_id dtype_of() {
  if constexpr (std::is_same_v<T, float>) return dtype_id::f32;
  else if constexpr (std::is_same_v<T, __half>) return dtype_id::f16;
  else if constexpr (std::is_same_v<T, __nv_bfloat16>) return dtype_id::bf16;
  else if constexpr (std::is_same_v<T, std::int32_t>) return dtype_id::i32;
  else if constexpr (std::is_same_v<T, std::int64_t>) return dtype_id::i64;
  else if constexpr (std::is_same_v<T, std::uint8_t>) return dtype_id::u8;
  else {
    static_assert(std::is_same_v<T, float>, "ctgraph: bind() takes float, __half, __nv_bfloat16, int32_t, int64_t or uint8_t pointers.");
    return dtype_id::f32;  // unreached: keeps nvcc from adding a missing-return warning to the error
  }
}

//! Binds `count` elements at `data` (device memory) to the graph input or parameter `name`.
template <class T>
binding bind(std::string_view name, T* data, std::size_t count) {
  return {name, const_cast<std::remove_const_t<T>*>(data), dtype_of<std::remove_const_t<T>>(), count * sizeof(T)};
}

}  // namespace ctg
