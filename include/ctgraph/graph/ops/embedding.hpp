#pragma once
//! ops::embedding: out[t, :] = table[ids[t], :] (gather rows). Inputs: token ids [T] (i32 or i64)
//! and the table [V, D]; output [T, D] of the table's dtype. An id outside [0, V) is never read: its
//! row is written as zeros, and the first such id and its position are kept on the device for
//! `executor::check()` to report. The runtime runs it with `launch_embedding`
//! (runtime/ops/embedding.cuh).
#include <ctgraph/graph/op.hpp>

namespace ctg::ops {

struct embedding {
  static constexpr std::string_view name = "embedding";
  static constexpr op_traits traits{};
  static constexpr output_result output(std::span<const tensor_desc> in) {
    if (in.size() != 2) return output_result::fail(errc::wrong_arity);
    const tensor_desc &ids = in[0], &table = in[1];
    if (ids.dtype != dtype_id::i32 && ids.dtype != dtype_id::i64) return output_result::fail(errc::dtype_mismatch);
    if (ids.rank != 1 || table.rank != 2) return output_result::fail(errc::shape_mismatch);
    return {tensor_desc{table.dtype, 2, {ids.dims[0], table.dims[1]}}};
  }
  template <class Launch>
  static auto prepare(const Launch& l) { return prepare_embedding(l); }
  template <class Launch, class State>
  static void launch(const Launch& l, const State& s) { launch_embedding(l, s); }
  template <class Launch, class State>
  static void check(const Launch& l, const State& s) { check_embedding(l, s); }
};

}  // namespace ctg::ops
