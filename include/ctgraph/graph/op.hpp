#pragma once
//! The op concept: what a type must provide to be applied in a node.
//!
//! An op is a type with
//!   static constexpr std::string_view name;                       // for plans and errors
//!   static constexpr ctg::op_traits traits;                       // how the planner treats it
//!   static constexpr ctg::output_result output(std::span<const ctg::tensor_desc> in);  // output rule
//! and, for the runtime, a launch hook: `static void launch(const ctg::launch_context&)`, or typed,
//! `template <class Launch> static void launch(const Launch&)` where `Launch::node_type` is the
//! node's type (its inputs and static extents: `ctg::static_desc<T>`). An op may also have
//! `prepare(const Launch&)`, run once per node at instantiation (and again when a rebound input
//! moves); what it returns is kept and passed to `launch(l, state)`. The core never calls these:
//! built-in ops are ordinary ops, and their hooks name runtime functions that the runtime's
//! headers define. Attributes (a factor, a rank count) are the op type's template arguments.
#include <concepts>
#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>

#include <ctgraph/graph/errc.hpp>
#include <ctgraph/graph/memory_class.hpp>
#include <ctgraph/graph/tensor_desc.hpp>

namespace ctg {

//! Out-variant ops write into a planned buffer; opaque ops allocate their own output.
enum class op_result : std::uint8_t { out_variant, opaque };
//! Where an op runs.
enum class executes_on : std::uint8_t { device, host };
//! How a copy op moves bytes: a DMA memcpy (a memcpy node when captured) or a kernel.
enum class copy_kind : std::uint8_t { none, dma, kernel };
struct op_traits {
  bool capturable = true;          // may be captured into a CUDA graph
  op_result result = op_result::out_variant;
  bool in_place = false;           // output may take input 0's buffer
  bool symmetric_inputs = false;   // inputs must be peer-addressable (collectives)
  //! Peers read this op's inputs while it runs (collectives): its output must never take over
  //! an input's storage, or it would overwrite what a slower peer has yet to read.
  bool reads_peers = false;
  executes_on where = executes_on::device;
  memory_class output_memory = memory_class::device;
  bool view = false;               // output aliases input 0 (no buffer of its own)
  copy_kind copy = copy_kind::none;  // a copy op, and how it copies
};

//! What an output rule returns: the output tensor, or why the inputs do not fit.
struct output_result {
  tensor_desc out{};
  errc error = errc::ok;
  static constexpr output_result fail(errc e) { return {tensor_desc{}, e}; }
};

using output_rule = output_result (*)(std::span<const tensor_desc>);

template <class Op>
concept has_op_name = requires {
  { Op::name } -> std::convertible_to<std::string_view>;
};
template <class Op>
concept has_op_traits = requires {
  { Op::traits } -> std::convertible_to<op_traits>;
};
template <class Op>
concept has_output_rule = requires(std::span<const tensor_desc> in) {
  { Op::output(in) } -> std::same_as<output_result>;
};

//! An op: name, traits and output rule. `check_op<Op>()` says which one is missing.
template <class Op>
concept op = has_op_name<Op> && has_op_traits<Op> && has_output_rule<Op>;

//! Requests that a node's output take its first input's buffer: `node<"y", in_place<ops::relu>, h>`.
template <class Op>
struct in_place {};

namespace detail {
template <class Op> struct unwrap_op { using type = Op; static constexpr bool in_place = false; };
template <class Op> struct unwrap_op<in_place<Op>> { using type = Op; static constexpr bool in_place = true; };
template <class> inline constexpr bool always_false = false;
}  // namespace detail

//! One static_assert per missing requirement; true when `Op` is an op.
template <class Op>
constexpr bool check_op() {
  if constexpr (!has_op_name<Op>) {
    static_assert(detail::always_false<Op>, "ctgraph: the op of this node has no name. An op needs 'static constexpr std::string_view name'. Add it to the op type.");
    return false;
  } else if constexpr (!has_op_traits<Op>) {
    static_assert(detail::always_false<Op>, "ctgraph: the op of this node has no traits. An op needs 'static constexpr ctg::op_traits traits'. Add it to the op type.");
    return false;
  } else if constexpr (!has_output_rule<Op>) {
    static_assert(detail::always_false<Op>, "ctgraph: the op of this node has no output rule. An op needs 'static constexpr ctg::output_result output(std::span<const ctg::tensor_desc>)'. Add it to the op type.");
    return false;
  } else {
    return true;
  }
}

}  // namespace ctg
