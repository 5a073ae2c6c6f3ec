#pragma once
// GPT-2 small at T tokens (batch 1, bf16): 12 layers, hidden 768, 12 heads, vocabulary 50,257, tied
// embedding; the model of examples/07_gpt2.cu (its ops::linear form, parameters under their
// Hugging Face names) with the sequence length a template parameter, so that a plan family serves
// it over prompt lengths. One definition for the family's GPU check and its benchmark
// (buckets_gpt2.cu). Host-only.
#include <cstddef>
#include <cstdint>

#include <ctgraph/ctgraph.hpp>

namespace gpt2_model {
using namespace ctg;
constexpr std::int64_t hidden = 768, heads = 12, ffn = 4 * hidden, vocab = 50257, positions = 1024;
constexpr std::size_t layers = 12;

template <std::size_t I, fixed_string Suffix, std::int64_t... Dims>
using param = parameter<indexed<"transformer.h.", I, Suffix>, bf16, shape<Dims...>>;
template <std::size_t I, fixed_string Suffix>
inline constexpr auto name = indexed<"h.", I, Suffix>;
using wte = parameter<"transformer.wte.weight", bf16, shape<vocab, hidden>>;
using wpe = parameter<"transformer.wpe.weight", bf16, shape<positions, hidden>>;

//! Block I: h = x + c_proj(attention(c_attn(ln_1(x)))); out = h + mlp.c_proj(gelu(mlp.c_fc(ln_2(h)))),
//! each residual add in its matmul. The shapes follow X, so the blocks do not name T.
template <class X, std::size_t I>
struct attention_half {
  struct ln_1 : node<name<I, ".ln_1">, ops::layer_norm<1e-5f>, X, param<I, ".ln_1.weight", hidden>, param<I, ".ln_1.bias", hidden>> {};
  struct c_attn : node<name<I, ".attn.c_attn">, ops::linear<>, ln_1, param<I, ".attn.c_attn.weight", hidden, 3 * hidden>,
                       param<I, ".attn.c_attn.bias", 3 * hidden>> {};
  struct attn : node<name<I, ".attn">, ops::attention<heads>, c_attn> {};  // causal: row t reads rows 0..t
  struct out : node<name<I, ".attn.c_proj">, ops::linear<>, attn, param<I, ".attn.c_proj.weight", hidden, hidden>,
                    param<I, ".attn.c_proj.bias", hidden>, X> {};
};
template <class H, std::size_t I>
struct mlp_half {
  struct ln_2 : node<name<I, ".ln_2">, ops::layer_norm<1e-5f>, H, param<I, ".ln_2.weight", hidden>, param<I, ".ln_2.bias", hidden>> {};
  struct c_fc : node<name<I, ".mlp.c_fc">, ops::linear<false, ops::epilogue::gelu>, ln_2, param<I, ".mlp.c_fc.weight", hidden, ffn>,
                     param<I, ".mlp.c_fc.bias", ffn>> {};
};
template <class X, std::size_t I>
struct block : node<name<I, ".mlp.c_proj">, ops::linear<>, typename mlp_half<typename attention_half<X, I>::out, I>::c_fc,
                    param<I, ".mlp.c_proj.weight", ffn, hidden>, param<I, ".mlp.c_proj.bias", hidden>, typename attention_half<X, I>::out> {};

//! The forward at T tokens: logits [T, vocab]. Every op is row by row but the causal attention,
//! so the first n rows of the logits do not depend on the tokens after them (a member's padding).
template <std::int64_t T>
struct forward {
  using input_ids = input<"input_ids", i32, shape<T>>;
  using position_ids = input<"position_ids", i32, shape<T>>;
  struct embeddings : node<"embeddings", ops::add, node<"wte", ops::embedding, input_ids, wte>, node<"wpe", ops::embedding, position_ids, wpe>> {};
  struct ln_f : node<"ln_f", ops::layer_norm<1e-5f>, repeat<layers, block, embeddings>, parameter<"transformer.ln_f.weight", bf16, shape<hidden>>,
                     parameter<"transformer.ln_f.bias", bf16, shape<hidden>>> {};
  struct logits : node<"logits", ops::linear</*transpose_w=*/true>, ln_f, wte> {};  // the tied head
  using type = graph<logits>;
};
template <std::int64_t T>
using gpt2_at = typename forward<T>::type;

//! The family over prompt lengths: 64 to 512 tokens, powers of two.
using family = plan_family<gpt2_at, 64, 128, 256, 512>;
}  // namespace gpt2_model
