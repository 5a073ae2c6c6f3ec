#pragma once
//! User tensors bound to graph inputs and parameters. Two ways:
//!  - checked at compile time: `ctg::bind<x>(ptr)` (a tensor type) or `ctg::bind<"w3">(ptr)` (a
//!    name; `ctg::indexed<"w", I>` in loops, `ctg::bind_each<N>`), collected by
//!    `ctg::bindings(...)`; instantiate<G> then proves that each names a graph input or parameter
//!    of G with the pointer's dtype, that none is bound twice and that none is left unbound;
//!  - checked at run time: `ctg::bind("x", ptr, count)`, for names known only then.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <string_view>
#include <type_traits>
#include <utility>

#include <boost/hana/core/is_a.hpp>
#include <boost/hana/flatten.hpp>
#include <boost/hana/tuple.hpp>

#include <ctgraph/graph/dtype.hpp>
#include <ctgraph/graph/node.hpp>
#include <ctgraph/meta/fixed_string.hpp>

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
  else if constexpr (std::is_same_v<T, bool>) return dtype_id::boolean;
  else {
    static_assert(std::is_same_v<T, float>, "ctgraph: bind() takes float, __half, __nv_bfloat16, int32_t, int64_t, uint8_t or bool pointers.");
    return dtype_id::f32;  // unreached: keeps nvcc from adding a missing-return warning to the error
  }
}

//! Binds `count` elements at `data` (device memory) to the graph input or parameter `name`.
template <class T>
binding bind(std::string_view name, T* data, std::size_t count) {
  return {name, const_cast<std::remove_const_t<T>*>(data), dtype_of<std::remove_const_t<T>>(), count * sizeof(T)};
}

//! A binding whose name and element type are types: instantiate<G> checks it against G's plan.
template <fixed_string Name, class Element>
struct named_binding {
  static constexpr auto name = Name;
  using element = Element;
  Element* data = nullptr;
};

//! Binds graph input or parameter `Name` (checked against the graph at instantiate<G>).
template <fixed_string Name, class T>
named_binding<Name, std::remove_const_t<T>> bind(T* data) {
  (void)dtype_of<std::remove_const_t<T>>();  // only the element types bind() takes
  return {const_cast<std::remove_const_t<T>*>(data)};
}

//! Binds tensor type Tensor (a graph input or parameter type); its dtype must be the pointer's.
template <class Tensor, class T>
  requires tensor<Tensor>
auto bind(T* data) {  // (a return type naming Tensor::name trips nvcc 13)
  static_assert(static_desc<Tensor>.dtype == dtype_of<std::remove_const_t<T>>(), "ctgraph: bind<T>(ptr): the pointer's element type is not the dtype of tensor T. Pass a pointer to T's dtype (float for f32, __half for f16, __nv_bfloat16 for bf16, ...).");
  return named_binding<Tensor::name, std::remove_const_t<T>>{const_cast<std::remove_const_t<T>*>(data)};
}

//! A set of compile-time bindings, for instantiate<G>: `ctg::bindings(ctg::bind<x>(dx), ...)`;
//! nested sets (from bind_each) are spliced in.
namespace detail {
template <class B>
constexpr auto as_binding_tuple(B b) {
  if constexpr (boost::hana::is_a<boost::hana::tuple_tag, B>) return b;
  else return boost::hana::make_tuple(b);
}
}  // namespace detail

template <class... B>
constexpr auto bindings(B... b) {
  return boost::hana::flatten(boost::hana::make_tuple(detail::as_binding_tuple(b)...));
}

//! `bind_each<N>(f)`: the bindings f(std::integral_constant<std::size_t, I>{}) for I < N, e.g.
//! `bind_each<8>([&](auto i) { return ctg::bind<ctg::indexed<"w", decltype(i)::value>>(w + i * n); })`.
template <std::size_t N, class F>
constexpr auto bind_each(F f) {
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    return boost::hana::make_tuple(f(std::integral_constant<std::size_t, I>{})...);
  }(std::make_index_sequence<N>{});
}

}  // namespace ctg
