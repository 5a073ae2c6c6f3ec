#pragma once
// A Llama-style decode step in the TinyLlama-1.1B shape (22 layers, hidden 2048, 32 heads sharing 4
// K/V heads, SiLU-gated MLP 5632, RMSNorm, rotary embedding, vocabulary 32,000; bf16) at batch B,
// the decode plan of examples/08_llama_decode.cu with a batch: each sequence reads its token from
// its row of the history at the shared position, the 22 layers write its keys and values into its
// row of the caches, argmax picks its next token. The state is [B, ...] with the batch outermost
// (caches [B, context, kv_heads * head_dim], history [B, context + 1]), so a plan family over B
// allocates it once for the largest batch and a smaller member uses its leading rows. One
// definition for the family's benchmark (buckets_decode.cu). Host-only.
#include <cstddef>
#include <cstdint>

#include <ctgraph/ctgraph.hpp>

namespace llama_decode_model {
using namespace ctg;
constexpr std::int64_t hidden = 2048, heads = 32, kv_heads = 4, head_dim = hidden / heads, ffn = 5632, vocab = 32000;
constexpr std::int64_t context = 512;  // cache rows
constexpr std::size_t layers = 22;

// Parameters under their Hugging Face names; nn.Linear weights are [out, in]: ops::linear<true>.
template <std::size_t I, fixed_string Suffix, std::int64_t... Dims>
using param = parameter<indexed<"model.layers.", I, Suffix>, bf16, shape<Dims...>>;
template <std::size_t I, fixed_string Suffix>
inline constexpr auto name = indexed<"layers.", I, Suffix>;
using embed_tokens = parameter<"model.embed_tokens.weight", bf16, shape<vocab, hidden>>;
using final_weight = parameter<"model.norm.weight", bf16, shape<hidden>>;
using lm_head = parameter<"lm_head.weight", bf16, shape<vocab, hidden>>;
using pos = state<"pos", i32, shape<1>>;  // one position for the batch

template <std::int64_t B>
struct decode {
  using tokens = state<"tokens", i32, shape<B, context + 1>>;
  template <std::size_t I>
  using k_cache = state<indexed<"k_cache.", I>, bf16, shape<B, context, kv_heads * head_dim>>;
  template <std::size_t I>
  using v_cache = state<indexed<"v_cache.", I>, bf16, shape<B, context, kv_heads * head_dim>>;

  //! Layer I on x [B, hidden]: the projections on [B, hidden]; rotary, the cache writes and the
  //! attention on [B, 1, ...] (one token per sequence, at the position).
  template <class X, std::size_t I>
  struct attention_half {
    struct norm : node<name<I, ".input_layernorm">, ops::rms_norm<1e-5f>, X, param<I, ".input_layernorm.weight", hidden>> {};
    struct q : node<name<I, ".q_proj">, ops::linear<true>, norm, param<I, ".self_attn.q_proj.weight", heads * head_dim, hidden>> {};
    struct k : node<name<I, ".k_proj">, ops::linear<true>, norm, param<I, ".self_attn.k_proj.weight", kv_heads * head_dim, hidden>> {};
    struct v : node<name<I, ".v_proj">, ops::linear<true>, norm, param<I, ".self_attn.v_proj.weight", kv_heads * head_dim, hidden>> {};
    struct q_rope : node<name<I, ".q_rope">, ops::rotary<head_dim>, node<name<I, ".q_tokens">, ops::reshape<shape<B, 1, heads * head_dim>>, q>, pos> {};
    struct k_rope : node<name<I, ".k_rope">, ops::rotary<head_dim>, node<name<I, ".k_tokens">, ops::reshape<shape<B, 1, kv_heads * head_dim>>, k>, pos> {};
    struct k_put : node<name<I, ".k_put">, ops::cache_write<1>, k_cache<I>, pos, k_rope> {};
    struct v_put : node<name<I, ".v_put">, ops::cache_write<1>, v_cache<I>, pos, node<name<I, ".v_tokens">, ops::reshape<shape<B, 1, kv_heads * head_dim>>, v>> {};
    struct attn : node<name<I, ".attn">, ops::cache_attention<heads, kv_heads>, q_rope, k_put, v_put, pos> {};
    struct out : node<name<I, ".o_proj">, ops::linear<true>, node<name<I, ".attn_rows">, ops::reshape<shape<B, heads * head_dim>>, attn>,
                      param<I, ".self_attn.o_proj.weight", hidden, hidden>, X> {};
  };
  template <class H, std::size_t I>
  struct mlp_half {
    struct norm : node<name<I, ".post_attention_layernorm">, ops::rms_norm<1e-5f>, H, param<I, ".post_attention_layernorm.weight", hidden>> {};
    struct gate : node<name<I, ".gate_proj">, ops::linear<true>, norm, param<I, ".mlp.gate_proj.weight", ffn, hidden>> {};
    struct up : node<name<I, ".up_proj">, ops::linear<true>, norm, param<I, ".mlp.up_proj.weight", ffn, hidden>> {};
    struct gated : node<name<I, ".gated">, ops::mul, node<name<I, ".act">, ops::silu, gate>, up> {};
  };
  template <class X, std::size_t I>
  struct layer : node<name<I, ".down_proj">, ops::linear<true>, typename mlp_half<typename attention_half<X, I>::out, I>::gated,
                      param<I, ".mlp.down_proj.weight", hidden, ffn>, typename attention_half<X, I>::out> {};

  struct token : node<"token", ops::reshape<shape<B>>, node<"token.read", ops::cache_read<1, 1>, tokens, pos>> {};
  struct embed : node<"embed", ops::embedding, token, embed_tokens> {};
  struct logits : node<"logits", ops::linear<true>, node<"norm", ops::rms_norm<1e-5f>, repeat<layers, layer, embed>, final_weight>, lm_head> {};
  struct choice : node<"choice", ops::reshape<shape<B, 1>>, node<"argmax", ops::argmax, logits>> {};
  struct put : node<"tokens.next", ops::cache_write<1, 1>, tokens, pos, choice> {};
  struct next : node<"advance", ops::advance<1>, pos, put> {};
  using type = graph<logits, next>;
};
template <std::int64_t B>
using decode_at = typename decode<B>::type;

//! The family over batch: 1, 4 and 16 sequences (each member is a 22-layer plan: its compile
//! time and memory grow with the count).
using family = plan_family<decode_at, 1, 4, 16>;
}  // namespace llama_decode_model
