#pragma once
//! The op concept: what a type must provide to be applied in a node.
//!
//! An op is a type with
//!   static constexpr std::string_view name;                       // for plans and errors
//!   static constexpr ctg::op_traits traits;                       // how the planner treats it
//!   static constexpr ctg::output_result output(std::span<const ctg::tensor_desc> in);  // output rule
//! or, for an op with several outputs (layer norm's statistics, split), their number and a rule
//! for each:
//!   static constexpr int outputs = 3;
//!   static constexpr ctg::output_result output(std::span<const ctg::tensor_desc> in, int k);
//! Such a node's own tensor is output 0; output k > 0 is a tensor of its own, named by a
//! `ctg::output<"name", Node, k>` node. The node's buffer holds all its outputs, one after the
//! other (`output_offset`), so the op writes each through its output pointer.
//! and, for the runtime, a launch hook: `static void launch(const ctg::launch_context&)`, or typed,
//! `template <class Launch> static void launch(const Launch&)` where `Launch::node_type` is the
//! node's type (its inputs and static extents: `ctg::static_desc<T>`). An op may also have
//! `prepare(const Launch&)`, run once per node at instantiation (and again when a rebound input
//! moves); what it returns is kept and passed to `launch(l, state)`. The core never calls these:
//! built-in ops are ordinary ops, and their hooks name runtime functions that the runtime's
//! headers define. Attributes (a factor, a rank count) are the op type's template arguments.
#include <concepts>
#include <cstdint>
#include <initializer_list>
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
//! An activation a matrix product's epilogue can apply (cuBLASLt's RELU and GELU, tanh form).
enum class activation : std::uint8_t { none, relu, gelu };
//! How a copy op moves bytes: a DMA memcpy (a memcpy node when captured) or a kernel.
enum class copy_kind : std::uint8_t { none, dma, kernel };
//! Work a reader can do on an input as it loads it (its prologue), so that the plan may fold the
//! node that does it into each of its readers: an RMS norm of a few rows into a product (the
//! gemv), a rotary embedding into attention over a cache or into a cache write, a gated product
//! silu(x) * y into a product. `gate` marks the activation a gated prologue applies (silu): it is
//! folded with the product that reads it, never alone.
enum class prologue : std::uint8_t { none, rms_norm, rotary, gated, gate };
//! The prologues a reader takes (op_desc::takes_prologue, Op::takes_prologue).
struct prologue_set {
  std::uint8_t bits = 0;
  constexpr prologue_set() = default;
  constexpr prologue_set(std::initializer_list<prologue> kinds) {
    for (prologue p : kinds) bits = std::uint8_t(bits | (1u << unsigned(p)));
  }
  constexpr bool has(prologue p) const { return p != prologue::none && ((bits >> unsigned(p)) & 1u) != 0; }
  constexpr bool empty() const { return bits == 0; }
};

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
  //! A view that is output k > 0 of its input 0's node (ops::extra_output): its output rule reads
  //! that node's inputs, not its own.
  bool extra_output = false;
  copy_kind copy = copy_kind::none;  // a copy op, and how it copies
  //! Output element i is a function of element i of each input (i % its size for a broadcast
  //! input 1), given by the op's functor: `static constexpr int arity` and a default-constructible
  //! `CTG_HOST_DEVICE float operator()(float...) const`. The plan may then fuse the op with its
  //! elementwise neighbours into one kernel (ops::elementwise sets it).
  bool elementwise = false;
  //! An elementwise op that a matrix product's epilogue computes: the plan folds it into the
  //! product that is its input (a product op with `with_epilogue<A>`, the product's only reader).
  activation as_epilogue = activation::none;
  //! Adds input 1 to input 0 (ops::add): a matrix product's epilogue can do it where one input is
  //! the product and the other a bias [N] (input 1, added to its rows) or a residual of its shape
  //! (either input, cuBLASLt's C).
  bool as_bias = false;
  //! What this op is as a prologue (ops::rms_norm, ops::rotary, ops::mul as a gated product, ops::silu as its gate): where every reader takes it
  //! (op_desc::takes_prologue), the plan folds it into each reader, and it gets no buffer and
  //! no launch (passes/fuse.hpp).
  prologue as_prologue = prologue::none;
  //! Writes into input 0's storage, which must be a state tensor (ctg::state, or a write into
  //! one): its output is that state, written (so `view` too), and every other reader of the state
  //! it replaces must run before it (passes/state.hpp). ops::cache_write and ops::advance.
  bool writes_state = false;
};

//! What a node does with a position held in state, for the host's guard: the input slot that
//! holds the position; what one run of the node adds to it; and for a write at the position,
//! how many indices it covers (`extent`) and where the state ends (`limit`): the write needs
//! 0 <= position and position + extent <= limit. An op tells it with
//! `static constexpr position_use position(std::span<const tensor_desc> in)` (ops::cache_write,
//! ops::advance, ops::cache_attention); a read at a position (a cache read) says it as a write does.
struct position_use {
  int input = -1;
  std::int64_t advance = 0;
  std::int64_t extent = 0;
  std::int64_t limit = 0;
};

//! What an output rule returns: the output tensor, or why the inputs do not fit. A node with
//! several outputs needs more storage than its own tensor (`storage_bytes`, 0: the tensor's
//! bytes); a view may start past its source's first byte (`view_offset`).
struct output_result {
  tensor_desc out{};
  errc error = errc::ok;
  std::size_t storage_bytes = 0;
  std::size_t view_offset = 0;
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
concept has_output_rules = requires(std::span<const tensor_desc> in, int k) {
  { Op::outputs } -> std::convertible_to<int>;
  { Op::output(in, k) } -> std::same_as<output_result>;
};
template <class Op>
concept has_output_rule = has_output_rules<Op> || requires(std::span<const tensor_desc> in) {
  { Op::output(in) } -> std::same_as<output_result>;
};

//! An op: name, traits and output rule(s). `check_op<Op>()` says which one is missing.
template <class Op>
concept op = has_op_name<Op> && has_op_traits<Op> && has_output_rule<Op>;

//! An op with several outputs.
template <class Op>
concept multi_output_op = op<Op> && has_output_rules<Op>;

//! Where output k of a multi-output op starts in its node's buffer: after outputs 0 .. k-1, each
//! aligned as an arena aligns a buffer, so every output is as aligned as a buffer of its own.
template <multi_output_op Op>
constexpr std::size_t output_offset(std::span<const tensor_desc> in, int k) {
  std::size_t at = 0;
  for (int j = 0; j < k; ++j) at += align_up(Op::output(in, j).out.bytes());
  return at;
}

namespace detail {
//! The rule the planner calls for a node: the op's, or for a multi-output op its output 0 with
//! the storage of all its outputs.
//! A product op that can take an activation in its epilogue: `Op::template with_epilogue<A>` is
//! the op with it (ops::matmul, ops::linear without one).
template <class Op>
concept takes_activation = requires { typename Op::template with_epilogue<activation::relu>; } && Op::takes_epilogue;

template <class Op>
constexpr output_result node_output(std::span<const tensor_desc> in) {
  if constexpr (has_output_rules<Op>) {
    output_result r = Op::output(in, 0);
    for (int k = 1; r.error == errc::ok && k < Op::outputs; ++k)
      if (const output_result o = Op::output(in, k); o.error != errc::ok) r.error = o.error;
    r.storage_bytes = output_offset<Op>(in, Op::outputs);
    return r;
  } else {
    return Op::output(in);
  }
}
}  // namespace detail

//! What the planner knows of an op, made once per op type (`op_desc_of<Op>`): each node's record
//! points to its op's, so that a graph of thousands of nodes holds these facts once per op type
//! and not once per node (a constant's every value costs the compilers' constant evaluators
//! memory: tests/compile_time/RESULTS.md).
struct op_desc {
  std::string_view name;               // empty for graph inputs, parameters and state
  op_traits traits{};
  output_rule output = nullptr;        // null: the node's `out` is given (leaves, run-time builders)
  bool multi_output = false;           // several outputs: the rule gives the node's buffer bytes
  //! A product op that takes an epilogue: the rule of the op that runs it (with_epilogue<none>:
  //! operands, bias, residual), so the plan can ask whether a node's inputs allow it.
  output_rule epilogue_output = nullptr;
  //! The prologues the op can run on its input `prologue_input` as it loads it
  //! (Op::takes_prologue; Op::prologue_input, 0 unless the op says).
  prologue_set takes_prologue{};
  std::int8_t prologue_input = 0;
  //! An attention over a K/V cache (inputs 1 and 2) that can write the caches' new rows itself
  //! (Op::with_cache_writes), in place of the cache writes that fill them (passes/fuse.hpp).
  bool takes_cache_writes = false;
  //! A cache write (Op::rows_dim, Op::rows_offset): the dimension it writes rows along (as
  //! declared, negative from the end) and whether it writes them at the position itself (offset 0).
  bool writes_rows = false, rows_at_position = false;
  std::int8_t rows_dim = 0;
};

namespace detail {
template <class Op>
constexpr op_desc make_op_desc() {
  op_desc o{Op::name, Op::traits};
  if constexpr (has_output_rules<Op>) o.output = &node_output<Op>, o.multi_output = true;
  else o.output = &Op::output;
  if constexpr (takes_activation<Op>) o.epilogue_output = &Op::template with_epilogue<activation::none>::output;
  if constexpr (requires { Op::takes_prologue; }) o.takes_prologue = Op::takes_prologue;
  if constexpr (requires { Op::prologue_input; }) o.prologue_input = Op::prologue_input;
  if constexpr (requires { Op::takes_cache_writes; }) o.takes_cache_writes = Op::takes_cache_writes;
  if constexpr (requires { Op::rows_dim; }) o.writes_rows = true, o.rows_dim = std::int8_t(Op::rows_dim), o.rows_at_position = Op::rows_offset == 0;
  return o;
}
}  // namespace detail

template <op Op>
inline constexpr op_desc op_desc_of = detail::make_op_desc<Op>();

//! The op of a node whose type named none that is an op (ill-formed), or of a record made by
//! hand: every fact at its default.
inline constexpr op_desc no_op{};
//! The op of graph inputs, parameters and state: the user's storage.
inline constexpr op_desc leaf_op{{}, [] {
  op_traits t{};
  t.output_memory = memory_class::external;
  return t;
}()};

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
    static_assert(detail::always_false<Op>, "ctgraph: the op of this node has no output rule. An op needs 'static constexpr ctg::output_result output(std::span<const ctg::tensor_desc>)' (or, with several outputs, 'static constexpr int outputs' and 'output(std::span<const ctg::tensor_desc>, int k)'). Add it to the op type.");
    return false;
  } else {
    return true;
  }
}

}  // namespace ctg
