#pragma once
//! ops::reshape<shape<...>>: a view; its output aliases its source's buffer.
#include <ctgraph/graph/op.hpp>
#include <ctgraph/graph/shape.hpp>

namespace ctg::ops {

template <class Shape>
struct reshape {
  static_assert(static_shape<Shape>, "ctgraph: ops::reshape takes a ctg::shape<...>. Write e.g. ops::reshape<ctg::shape<64, 1024>>.");
  static constexpr std::string_view name = "reshape";
  static constexpr op_traits traits{.view = true};
  static constexpr output_result output(std::span<const tensor_desc> in) {
    if (in.size() != 1) return output_result::fail(errc::wrong_arity);
    if constexpr (!static_shape<Shape>) {
      return {in[0]};  // asserted above; passing the input through gives no second error
    } else {
      if (in[0].elements() != Shape::elements) return output_result::fail(errc::element_count_mismatch);
      tensor_desc t = describe_tensor<dtype_tag<dtype_id::f32>>(Shape{});
      t.dtype = in[0].dtype;
      return {t};
    }
  }
  //! Nothing to run: the output is the input's storage.
  template <class Launch>
  static void launch(const Launch&) {}
};

}  // namespace ctg::ops
