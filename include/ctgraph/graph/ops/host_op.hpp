#pragma once
//! ops::host_op<Fn>: a user callable run on the host over pinned host buffers. Not capturable,
//! so it forms (part of) a fallback region. The output has input 0's shape and dtype.
#include <ctgraph/graph/ops/copy.hpp>

namespace ctg::ops {

template <class Fn>
struct host_op {
  static constexpr std::string_view name = "host_op";
  static constexpr op_traits traits{.capturable = false,
                                    .where = executes_on::host,
                                    .output_memory = memory_class::pinned_host};
  static constexpr output_result output(std::span<const tensor_desc> in) {
    if (in.empty()) return output_result::fail(errc::wrong_arity);
    return {in[0]};
  }
  using function = Fn;  // called by the runtime
};

}  // namespace ctg::ops
