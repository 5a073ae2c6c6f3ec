#pragma once
//! repeat<L, Layer, X>: Layer<...Layer<Layer<X, 0>, 1>..., L - 1>, an L-layer model in one line.
//! Write Layer as a struct deriving from its output node, so type names grow by one level per
//! layer rather than by the whole layer body. Depth is L templates (nvcc allows about 200).
#include <cstddef>

namespace ctg {

namespace detail {
template <std::size_t L, template <class, std::size_t> class Layer, class X>
struct repeat_t {
  using type = Layer<typename repeat_t<L - 1, Layer, X>::type, L - 1>;
};
template <template <class, std::size_t> class Layer, class X>
struct repeat_t<0, Layer, X> {
  using type = X;
};
}  // namespace detail

template <std::size_t L, template <class, std::size_t> class Layer, class X>
using repeat = typename detail::repeat_t<L, Layer, X>::type;

}  // namespace ctg
