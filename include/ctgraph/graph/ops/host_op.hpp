#pragma once
//! ops::host_op<Fn>: a user callable run on the host over pinned host buffers. Not capturable,
//! so it forms (part of) a fallback region. The output has input 0's shape and dtype. Fn is a
//! default-constructible type with `void operator()(const ctg::host_args&) const`. The runtime
//! runs it with `call_on_host` (runtime/ops/host_call.hpp), after the stream has caught up.
#include <type_traits>

#include <ctgraph/graph/node_desc.hpp>
#include <ctgraph/graph/op.hpp>

namespace ctg {

//! A host op's view of its buffers (pinned host memory).
struct host_args {
  const void* inputs[max_inputs]{};
  tensor_desc input_desc[max_inputs]{};
  int input_count = 0;
  void* output = nullptr;
  tensor_desc output_desc{};
  template <class T>
  const T* input(int i) const { return static_cast<const T*>(inputs[i]); }
  template <class T>
  T* out() const { return static_cast<T*>(output); }
};

namespace ops {

template <class Fn>
struct host_op {
  static_assert(std::is_invocable_v<const Fn&, const host_args&>, "ctgraph: the callable of ops::host_op<Fn> cannot be called with the host buffers. Give Fn 'void operator()(const ctg::host_args&) const'.");
  static constexpr std::string_view name = "host_op";
  static constexpr op_traits traits{.capturable = false,
                                    .where = executes_on::host,
                                    .output_memory = memory_class::pinned_host};
  static constexpr output_result output(std::span<const tensor_desc> in) {
    if (in.empty()) return output_result::fail(errc::wrong_arity);
    return {in[0]};
  }
  template <class Launch>
  static void launch(const Launch& l) { call_on_host(l, Fn{}); }
};

}  // namespace ops
}  // namespace ctg
