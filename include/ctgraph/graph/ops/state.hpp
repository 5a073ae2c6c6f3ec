#pragma once
//! Ops that write state (op_traits::writes_state). Each one's output is the state it wrote — a
//! view of the state's storage, which the planner never places — so the nodes after the write
//! read it through the graph's edges, and every other reader of the state it replaces must run
//! before it (passes/state.hpp checks both).
//!  - ops::cache_write<Dim, Offset = 0>: inputs the state (a ctg::state, or the output of an
//!    earlier write to one), a position (one i32 or i64 element, on the device) and rows; writes
//!    the rows into the state at p .. p + n - 1 of dimension Dim (negative counts from the end),
//!    p = position + Offset, n the rows' extent there (Offset: a decode step writes the token it
//!    chose after the one it read). The rows have the state's dtype and its extents but along Dim, where
//!    theirs fits in the state's. The position is read on the device when the node runs, so one
//!    captured graph writes where the position says on every replay (a KV cache update).
//!    Rotary (set only by the plan): an ops::rotary folded into its prologue, which rotates the
//!    rows (keys) as they are written, along the token dimension Dim = rank - 2 (the rotary's
//!    input and positions are inputs 2 and 3, in place of the rows). An attention over the cache
//!    may run the write in its own launch (ops::cache_attention, passes/fuse.hpp).
//!  - ops::cache_read<Dim, Extent, Offset = 0>: inputs a tensor (state) and a position; copies
//!    its Extent indices p .. p + Extent - 1 of dimension Dim, p = position + Offset, into an
//!    output of its shape with Extent there (the token a decode step embeds). Not a view: where
//!    it reads moves on the device. Out of range it writes zeros, and check() reports it.
//!  - ops::advance<Step>: adds Step to a position (input 0: a state of one i32 or i64 element) on
//!    the device. Inputs after the first are only waited for: the nodes that must read the
//!    position before it moves (the step's last output is enough when every reader leads to it).
//! The executor follows each position that is a state on the host (`position_use`): run() refuses
//! a write past the state's end before it launches anything. A write whose position the host
//! cannot follow (a graph input) is checked on the device instead: it writes nothing and
//! executor::check() reports it. The runtime runs them with `launch_cache_write` and
//! `launch_advance` (runtime/ops/state.cuh).
#include <cstdint>
#include <type_traits>

#include <ctgraph/graph/op.hpp>

namespace ctg {

namespace detail {
constexpr bool is_position_dtype(dtype_id t) { return t == dtype_id::i32 || t == dtype_id::i64; }
}  // namespace detail

namespace ops {

template <int Dim, std::int64_t Offset = 0, class Rotary = void>
struct cache_write {
  static_assert(Offset >= 0, "ctgraph: ops::cache_write needs an Offset >= 0 (it writes at the position plus Offset). Write the position you mean: ops::cache_write<0, 1> writes after the position.");
  static constexpr std::string_view name = "cache_write";
  static constexpr op_traits traits{.view = true, .writes_state = true};
  static constexpr prologue_set takes_prologue = std::is_void_v<Rotary> ? prologue_set{prologue::rotary} : prologue_set{};
  static constexpr int prologue_input = 2;  // the rows
  static constexpr int rows_dim = Dim;
  static constexpr std::int64_t rows_offset = Offset;
  template <class R>
  using with_prologue = cache_write<Dim, Offset, R>;
  static constexpr output_result output(std::span<const tensor_desc> in) {
    if (in.size() != 3) return output_result::fail(errc::wrong_arity);
    const tensor_desc &state = in[0], &pos = in[1], &rows = in[2];
    if (rows.dtype != state.dtype || !ctg::detail::is_position_dtype(pos.dtype)) return output_result::fail(errc::dtype_mismatch);
    const int d = ctg::detail::normalize_dim(Dim, state.rank);
    if (d < 0 || rows.rank != state.rank || pos.elements() != 1) return output_result::fail(errc::shape_mismatch);
    for (int i = 0; i < state.rank; ++i)
      if (i == d ? rows.dims[i] > state.dims[i] : rows.dims[i] != state.dims[i]) return output_result::fail(errc::shape_mismatch);
    return {state};
  }
  static constexpr position_use position(std::span<const tensor_desc> in) {
    const int d = ctg::detail::normalize_dim(Dim, in[0].rank);
    return {.input = 1, .extent = Offset + in[2].dims[d], .limit = in[0].dims[d]};
  }
  template <class Launch>
  static auto prepare(const Launch& l) { return prepare_cache_write(l); }
  template <class Launch, class State>
  static void launch(const Launch& l, const State& s) {
    const int d = ctg::detail::normalize_dim(Dim, l.input_desc[0].rank);
    if constexpr (std::is_void_v<Rotary>) launch_cache_write(l, s, d, Offset);
    else launch_cache_write(l, s, d, Offset, Rotary::head_dim, Rotary::theta);
  }
  template <class Launch, class State>
  static void check(const Launch& l, const State& s) { check_cache_write(l, s); }
};

template <int Dim, std::int64_t Extent, std::int64_t Offset = 0>
struct cache_read {
  static_assert(Extent > 0 && Offset >= 0, "ctgraph: ops::cache_read needs Extent > 0 and Offset >= 0 (it reads Extent indices from the position plus Offset). Write e.g. ops::cache_read<0, 1>.");
  static constexpr std::string_view name = "cache_read";
  static constexpr op_traits traits{};
  static constexpr output_result output(std::span<const tensor_desc> in) {
    if (in.size() != 2) return output_result::fail(errc::wrong_arity);
    if (!ctg::detail::is_position_dtype(in[1].dtype)) return output_result::fail(errc::dtype_mismatch);
    const int d = ctg::detail::normalize_dim(Dim, in[0].rank);
    if (d < 0 || in[1].elements() != 1 || Extent > in[0].dims[d]) return output_result::fail(errc::shape_mismatch);
    tensor_desc out = in[0];
    out.dims[d] = Extent;
    return {out};
  }
  static constexpr position_use position(std::span<const tensor_desc> in) {
    return {.input = 1, .extent = Offset + Extent, .limit = in[0].dims[ctg::detail::normalize_dim(Dim, in[0].rank)]};
  }
  template <class Launch>
  static auto prepare(const Launch& l) { return prepare_cache_write(l); }
  template <class Launch, class State>
  static void launch(const Launch& l, const State& s) { launch_cache_read(l, s, ctg::detail::normalize_dim(Dim, l.input_desc[0].rank), Offset); }
  template <class Launch, class State>
  static void check(const Launch& l, const State& s) { check_cache_write(l, s); }
};

template <std::int64_t Step>
struct advance {
  static constexpr std::string_view name = "advance";
  static constexpr op_traits traits{.view = true, .writes_state = true};
  static constexpr std::int64_t step = Step;
  static constexpr output_result output(std::span<const tensor_desc> in) {
    if (in.empty()) return output_result::fail(errc::wrong_arity);
    if (!ctg::detail::is_position_dtype(in[0].dtype)) return output_result::fail(errc::dtype_mismatch);
    if (in[0].elements() != 1) return output_result::fail(errc::shape_mismatch);
    return {in[0]};
  }
  static constexpr position_use position(std::span<const tensor_desc>) { return {.input = 0, .advance = Step}; }
  template <class Launch>
  static void launch(const Launch& l) { launch_advance(l, Step); }
};

}  // namespace ops
}  // namespace ctg
