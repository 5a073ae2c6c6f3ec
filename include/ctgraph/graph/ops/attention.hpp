#pragma once
//! ops::attention<Heads, KVHeads, Causal>: scaled dot-product attention over a sequence,
//! softmax(q k^T / sqrt(D)) v per head, with grouped K/V heads (query head h reads K/V head
//! h / (Heads / KVHeads)); computed in float, output in the inputs' dtype (f16 or bf16).
//! Inputs, each [T, ...] or [B, T, ...] with heads side by side in the last dimension:
//!  - one packed tensor [.., T, (Heads + 2 KVHeads) D]: q, then k, then v (GPT-2's c_attn output);
//!  - or q [.., T, Heads D], k and v [.., T, KVHeads D].
//! Output [.., T, Heads D], heads side by side (the layout the output projection reads). The head
//! dimension D is 64 or 128. The runtime runs it with `launch_attention`
//! (runtime/ops/attention.cuh): one kernel, no T x T scores in memory.
#include <cstddef>
#include <type_traits>

#include <ctgraph/graph/op.hpp>

namespace ctg::ops {

namespace detail {
//! The head dimension of an attention node's inputs, or 0 where they do not fit.
constexpr std::int64_t attention_head_dim(std::span<const tensor_desc> in, int heads, int kv_heads) {
  const tensor_desc& q = in[0];
  const std::int64_t cols = q.dims[q.rank - 1];
  if (in.size() == 1) return cols % (heads + 2 * kv_heads) == 0 ? cols / (heads + 2 * kv_heads) : 0;
  if (cols % heads != 0) return 0;
  const std::int64_t d = cols / heads;
  for (std::size_t k = 1; k < 3; ++k) {
    if (in[k].rank != q.rank || in[k].dims[q.rank - 1] != kv_heads * d) return 0;
    for (int i = 0; i + 1 < q.rank; ++i)
      if (in[k].dims[i] != q.dims[i]) return 0;
  }
  return d;
}
}  // namespace detail

template <int Heads, int KVHeads = Heads, bool Causal = true>
struct attention {
  static_assert(Heads > 0 && KVHeads > 0 && Heads % KVHeads == 0,
                "ctgraph: ops::attention needs Heads to be a positive multiple of KVHeads. Write e.g. ops::attention<32, 4> (32 query heads sharing 4 K/V heads).");
  static constexpr std::string_view name = "attention";
  static constexpr op_traits traits{};
  static constexpr int heads = Heads, kv_heads = KVHeads;
  static constexpr bool causal = Causal;
  static constexpr output_result output(std::span<const tensor_desc> in) {
    if (in.size() != 1 && in.size() != 3) return output_result::fail(errc::wrong_arity);
    for (const tensor_desc& t : in)
      if (t.dtype != in[0].dtype || (t.dtype != dtype_id::bf16 && t.dtype != dtype_id::f16)) return output_result::fail(errc::dtype_mismatch);
    if (in[0].rank != 2 && in[0].rank != 3) return output_result::fail(errc::shape_mismatch);
    if constexpr (Heads > 0 && KVHeads > 0 && Heads % KVHeads == 0) {  // asserted above
      const std::int64_t d = detail::attention_head_dim(in, Heads, KVHeads);
      if (d != 64 && d != 128) return output_result::fail(errc::shape_mismatch);
      tensor_desc out = in[0];
      out.dims[out.rank - 1] = Heads * d;
      return {out};
    } else {
      return {in[0]};
    }
  }
  template <class Launch>
  static void launch(const Launch& l) { launch_attention(l, Heads, KVHeads, Causal); }
};

}  // namespace ctg::ops

namespace ctg::ops {

//! ops::cache_attention<Heads, KVHeads>: attention of T new tokens over a K/V cache, for decoding
//! and prefill into a cache. Query token t sits at position pos + t and attends to cache rows
//! 0 .. pos + t (causal), the rows this step's cache_write filled included. Inputs: q [T, Heads D],
//! the K and V caches [S, KVHeads D] (states, or the outputs of the writes to them), and the
//! position: one i32 or i64 element on the device, read when the node runs, so one captured graph
//! serves every step. With a batch: q [B, T, ...] and caches [B, S, ...], one position for all.
//! Output [T, Heads D] ([B, T, Heads D]) in q's dtype (f16 or bf16); D is 64 or 128. The host
//! guard (executor) refuses a run whose tokens would pass the cache's end. The runtime runs it
//! with `launch_cache_attention` (runtime/ops/cache_attention.cuh).
//! Rotary (set only by the plan): an ops::rotary folded into its prologue, which rotates each
//! query head as it is loaded (the rotary's positions are input 1, the op's own inputs follow).
//! Writes (set only by the plan, `cache_writes<KeyRotary>`): the cache writes that fill inputs 1
//! and 2 (ops::cache_write at the position) run in this launch (passes/fuse.hpp): it reads the new
//! tokens' keys and values from the writes' rows (the keys rotated by KeyRotary as the write's
//! prologue would, void: none), writes them into the caches, and the cache rows before them from
//! the caches; the writes' rows come in `launch_context::cache_writes`.
struct no_cache_writes {};
//! The most new tokens (per sequence) an attention writes into its caches itself.
inline constexpr std::int64_t max_written_tokens = 8;
template <class KeyRotary>
struct cache_writes {
  using key_rotary = KeyRotary;
};
template <int Heads, int KVHeads = Heads, class Rotary = void, class Writes = no_cache_writes>
struct cache_attention {
  static_assert(Heads > 0 && KVHeads > 0 && Heads % KVHeads == 0,
                "ctgraph: ops::cache_attention needs Heads to be a positive multiple of KVHeads. Write e.g. ops::cache_attention<32, 4> (32 query heads sharing 4 K/V heads).");
  static constexpr std::string_view name = "cache_attention";
  static constexpr op_traits traits{};
  static constexpr int heads = Heads, kv_heads = KVHeads;
  static constexpr prologue_set takes_prologue = std::is_void_v<Rotary> ? prologue_set{prologue::rotary} : prologue_set{};
  template <class R>
  using with_prologue = cache_attention<Heads, KVHeads, R, Writes>;
  static constexpr bool takes_cache_writes = std::is_same_v<Writes, no_cache_writes>;
  template <class W>
  using with_cache_writes = cache_attention<Heads, KVHeads, Rotary, W>;
  static constexpr output_result output(std::span<const tensor_desc> in) {
    if (in.size() != 4) return output_result::fail(errc::wrong_arity);
    const tensor_desc &q = in[0], &k = in[1], &v = in[2], &pos = in[3];
    if ((q.dtype != dtype_id::bf16 && q.dtype != dtype_id::f16) || k.dtype != q.dtype || v.dtype != q.dtype ||
        (pos.dtype != dtype_id::i32 && pos.dtype != dtype_id::i64))
      return output_result::fail(errc::dtype_mismatch);
    if ((q.rank != 2 && q.rank != 3) || k.rank != q.rank || !k.same_shape(v) || pos.elements() != 1)
      return output_result::fail(errc::shape_mismatch);
    const int r = q.rank;
    if (r == 3 && k.dims[0] != q.dims[0]) return output_result::fail(errc::shape_mismatch);
    if constexpr (Heads > 0 && KVHeads > 0 && Heads % KVHeads == 0) {  // asserted above
      const std::int64_t d = q.dims[r - 1] % Heads == 0 ? q.dims[r - 1] / Heads : 0;
      if ((d != 64 && d != 128) || k.dims[r - 1] != KVHeads * d || q.dims[r - 2] > k.dims[r - 2])
        return output_result::fail(errc::shape_mismatch);
    }
    return {q};
  }
  //! The keys of tokens pos .. pos + T - 1 must be in the cache.
  static constexpr position_use position(std::span<const tensor_desc> in) {
    return {.input = 3, .extent = in[0].dims[in[0].rank - 2], .limit = in[1].dims[in[1].rank - 2]};
  }
  template <class Launch>
  static void launch(const Launch& l) {
    if constexpr (std::is_void_v<Rotary>) launch_cache_attention(l, Heads, KVHeads);
    else launch_cache_attention(l, Heads, KVHeads, Rotary::head_dim, Rotary::theta);
  }
  //! With the cache writes: their out-of-range record (as a cache write keeps it), checked by
  //! executor::check().
  template <class Launch>
    requires(!takes_cache_writes)
  static auto prepare(const Launch& l) {
    return prepare_cache_write(l);
  }
  template <class Launch, class State>
  static void launch(const Launch& l, const State& s) {
    using K = typename Writes::key_rotary;
    int rotary_dim = 0, key_rotary_dim = 0;
    float theta = 0.f, key_theta = 0.f;
    if constexpr (!std::is_void_v<Rotary>) rotary_dim = Rotary::head_dim, theta = Rotary::theta;
    if constexpr (!std::is_void_v<K>) key_rotary_dim = K::head_dim, key_theta = K::theta;
    launch_cache_attention(l, Heads, KVHeads, rotary_dim, theta, &s, key_rotary_dim, key_theta);
  }
  template <class Launch, class State>
  static void check(const Launch& l, const State& s) { check_cache_write(l, s); }
};

}  // namespace ctg::ops
