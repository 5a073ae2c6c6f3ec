#pragma once
//! ops::rotary<HeadDim, Theta>: rotary position embedding (RoPE) in Llama's rotate-half form, as
//! Hugging Face's LlamaRotaryEmbedding and apply_rotary_pos_emb compute it. Inputs: x [..., T, H*D]
//! (heads side by side, D = HeadDim; f32, f16 or bf16) and positions [T], or one position p, the
//! first token's, the others p + 1, p + 2, ... (a position held in state); i32 or i64, on the
//! device, so one captured graph serves every decode step. Per head, element i < D/2 and its
//! partner i + D/2 turn by the angle pos * Theta^(-2i/D):
//!   y[i] = x[i] cos - x[i + D/2] sin,   y[i + D/2] = x[i + D/2] cos + x[i] sin.
//! Computed in float (the angle as Hugging Face computes it, in float), output in x's dtype and
//! shape; may run in place. The runtime runs it with `launch_rotary` (runtime/ops/rotary.cuh).
#include <ctgraph/graph/op.hpp>

namespace ctg::ops {

template <int HeadDim, float Theta = 10000.f>
struct rotary {
  static_assert(HeadDim > 0 && HeadDim % 2 == 0,
                "ctgraph: ops::rotary needs a positive, even head dimension (elements pair up across its halves). Write e.g. ops::rotary<128>.");
  static_assert(Theta > 0.f, "ctgraph: ops::rotary needs a positive theta (the base of its frequencies). Write e.g. ops::rotary<128, 500000.f>.");
  static constexpr std::string_view name = "rotary";
  // Each pair is read before it is written; attention over a cache can rotate its queries itself.
  static constexpr op_traits traits{.in_place = true, .as_prologue = prologue::rotary};
  static constexpr int head_dim = HeadDim;
  static constexpr float theta = Theta;
  static constexpr output_result output(std::span<const tensor_desc> in) {
    if (in.size() != 2) return output_result::fail(errc::wrong_arity);
    const tensor_desc &x = in[0], &pos = in[1];
    if (!is_floating(x.dtype) || (pos.dtype != dtype_id::i32 && pos.dtype != dtype_id::i64))
      return output_result::fail(errc::dtype_mismatch);
    if constexpr (HeadDim > 0 && HeadDim % 2 == 0) {  // else asserted above
      if (x.rank < 2 || x.dims[x.rank - 1] % HeadDim != 0 || ((pos.rank != 1 || pos.dims[0] != x.dims[x.rank - 2]) && pos.elements() != 1))
        return output_result::fail(errc::shape_mismatch);
    }
    return {x};
  }
  template <class Launch>
  static void launch(const Launch& l) { launch_rotary(l, HeadDim, Theta); }
};

}  // namespace ctg::ops
