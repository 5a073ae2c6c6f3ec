// Single-op benchmark (GPU): each transformer op ctgraph has, alone in a graph, on GPT-2-prefill
// shapes (bf16; 512 tokens, hidden 768, 12 heads, vocabulary 50,257); tests/bench/torch_ops.py
// times the PyTorch op on the same shapes. GPU µs per run (a captured graph of one node), timed by
// harness.hpp. Prints JSON; `--summary FILE` merges "op.<name>.ctgraph.<metric>"; exits 77
// without a GPU.
#include <ctgraph/runtime.hpp>

#include <cstdio>
#include <string>

#include "../runtime/gpu_util.hpp"
#include "harness.hpp"

namespace ops_bench {
using namespace ctg;
using namespace bench_harness;
using test::device_buffer;

constexpr std::int64_t tokens = 512, hidden = 768, ffn = 3072, heads = 12, vocab = 50257;
using x = input<"x", bf16, shape<tokens, hidden>>;
using scores = input<"scores", bf16, shape<heads * tokens, tokens>>;
using ids = input<"ids", i32, shape<tokens>>;
using qkv = input<"qkv", bf16, shape<tokens, 3 * hidden>>;
using gamma = parameter<"gamma", bf16, shape<hidden>>;
using beta = parameter<"beta", bf16, shape<hidden>>;
using w_fc = parameter<"w_fc", bf16, shape<hidden, ffn>>;
using b_fc = parameter<"b_fc", bf16, shape<ffn>>;
using wte = parameter<"wte", bf16, shape<vocab, hidden>>;
using wte_padded = parameter<"wte_padded", bf16, shape<vocab + 7, hidden>>;  // rows of logits 16-byte aligned
struct ln : node<"ln", ops::layer_norm<1e-5f>, x, gamma, beta> {};
struct probs : node<"probs", ops::softmax, scores> {};
struct fc : node<"fc", ops::linear<false, ops::epilogue::gelu>, x, w_fc, b_fc> {};
struct logits : node<"logits", ops::linear<true>, x, wte> {};
struct emb : node<"emb", ops::embedding, ids, wte> {};
struct attn : node<"attn", ops::attention<heads>, qkv> {};  // causal, packed q k v
struct logits_padded : node<"logits_padded", ops::linear<true>, x, wte_padded> {};
// The rest of a GPT-2 block's matmuls: c_attn (768 -> 2304), mlp.c_proj with its residual in the call.
using w_attn = parameter<"w_attn", bf16, shape<hidden, 3 * hidden>>;
using b_attn = parameter<"b_attn", bf16, shape<3 * hidden>>;
using h_ffn = input<"h_ffn", bf16, shape<tokens, ffn>>;
using w_proj = parameter<"w_proj", bf16, shape<ffn, hidden>>;
using b_proj = parameter<"b_proj", bf16, shape<hidden>>;
struct c_attn : node<"c_attn", ops::linear<>, x, w_attn, b_attn> {};
struct mlp_proj : node<"mlp_proj", ops::linear<>, h_ffn, w_proj, b_proj, x> {};  // + residual x

entries summary;

template <class Executor>
std::string time_op(const char* name, Executor& ex, cudaStream_t st, int k) {
  const timing t = measure(st, k, [&] { ex.run(); });
  ex.check();
  std::fprintf(stderr, "[op.%s] ctgraph %.2f us\n", name, t.gpu_us);
  summarise(summary, std::string("op.") + name, "ctgraph", t);
  return std::string("\"") + name + "\": " + to_json(t);
}

std::string run_all(cudaStream_t st) {
  device_buffer dx(std::size_t(tokens * hidden) * 2), ds(std::size_t(heads * tokens * tokens) * 2), dg(hidden * 2), db(hidden * 2),
      dw(std::size_t(hidden * ffn) * 2), dbf(ffn * 2), dwte(std::size_t((vocab + 7) * hidden) * 2),
      dqkv(std::size_t(tokens * 3 * hidden) * 2);
  upload_random_bf16(dx.p, std::size_t(tokens * hidden), 1, 1.f);
  upload_random_bf16(ds.p, std::size_t(heads * tokens * tokens), 2, 4.f);
  upload_random_bf16(dg.p, hidden, 3, 1.f);
  upload_random_bf16(db.p, hidden, 4, 1.f);
  upload_random_bf16(dw.p, std::size_t(hidden * ffn), 5, 0.05f);
  upload_random_bf16(dbf.p, ffn, 6, 0.1f);
  upload_random_bf16(dwte.p, std::size_t((vocab + 7) * hidden), 7, 0.05f);
  upload_random_bf16(dqkv.p, std::size_t(tokens * 3 * hidden), 8, 1.f);
  std::vector<std::int32_t> hid(tokens);
  for (std::int64_t t = 0; t < tokens; ++t) hid[std::size_t(t)] = std::int32_t((t * 7919) % vocab);
  device_buffer did(hid);
  const auto bf = [](const device_buffer& b) { return b.at<__nv_bfloat16>(0); };
  std::string o;
  {
    auto ex = instantiate<graph<ln>>(st, bindings(bind<x>(bf(dx)), bind<gamma>(bf(dg)), bind<beta>(bf(db))));
    o += time_op("layer_norm", ex, st, 200);
  }
  {
    auto ex = instantiate<graph<probs>>(st, bindings(bind<scores>(bf(ds))));
    o += ",\n  " + time_op("softmax", ex, st, 200);
  }
  {
    auto ex = instantiate<graph<fc>>(st, bindings(bind<x>(bf(dx)), bind<w_fc>(bf(dw)), bind<b_fc>(bf(dbf))));
    o += ",\n  " + time_op("linear_gelu", ex, st, 200);
  }
  {
    auto ex = instantiate<graph<logits>>(st, bindings(bind<x>(bf(dx)), bind<wte>(bf(dwte))));
    o += ",\n  " + time_op("lm_head", ex, st, 50);
  }
  {
    auto ex = instantiate<graph<emb>>(st, bindings(bind<ids>(did.at<std::int32_t>(0)), bind<wte>(bf(dwte))));
    o += ",\n  " + time_op("embedding", ex, st, 200);
  }
  {
    auto ex = instantiate<graph<attn>>(st, bindings(bind<qkv>(bf(dqkv))));
    o += ",\n  " + time_op("attention", ex, st, 200);
  }
  {
    auto ex = instantiate<graph<logits_padded>>(st, bindings(bind<x>(bf(dx)), bind<wte_padded>(bf(dwte))));
    o += ",\n  " + time_op("lm_head_padded", ex, st, 50);
  }
  {
    auto ex = instantiate<graph<c_attn>>(st, bindings(bind<x>(bf(dx)), bind<w_attn>(bf(dw)), bind<b_attn>(bf(dbf))));
    o += ",\n  " + time_op("c_attn", ex, st, 200);
  }
  {
    auto ex = instantiate<graph<mlp_proj>>(st, bindings(bind<h_ffn>(bf(ds)), bind<w_proj>(bf(dw)), bind<b_proj>(bf(dbf)), bind<x>(bf(dx))));
    o += ",\n  " + time_op("mlp_proj_residual", ex, st, 200);
  }
  return o;
}
}  // namespace ops_bench

int main(int argc, char** argv) {
  using namespace ops_bench;
  return gpu_main("ops_bench", [&](const cudaDeviceProp& prop, cudaStream_t st) {
    const std::string ops = run_all(st);
    finish("ops_bench", prop, " \"shapes\": \"GPT-2 prefill: 512 tokens, hidden 768, ffn 3072, 12 heads, vocab 50257, bf16\",\n \"ops\": {\n  " + ops + "}",
           summary, summary_path(argc, argv));
  });
}
