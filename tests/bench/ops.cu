// Single-op benchmark (GPU): each transformer op ctgraph has, alone in a graph, on GPT-2-prefill
// shapes (bf16; 512 tokens, hidden 768, 12 heads, vocabulary 50,257); tests/bench/torch_ops.py
// times the PyTorch op on the same shapes. GPU µs per run (a captured graph of one node), timed by
// harness.hpp. Prints JSON; `--summary FILE` merges "op.<name>.ctgraph.<metric>"; exits 77
// without a GPU. The skinny matmul row (decode-sized, issue 13) times ctgraph's skinny kernel
// ("op.skinny_matmul.ctgraph") and cuBLASLt ("op.skinny_matmul.cublaslt"), each forced. The
// skinny chain row times a captured chain of 8 such matmuls (the whole chain, µs per replay), each
// by the skinny kernel, launched as a programmatic dependent of the one before
// ("op.skinny_chain8.pdl") and not ("op.skinny_chain8.no_pdl", CTGRAPH_PDL=0), and with PDL and a
// ring of 6 stages (~104 KB: two blocks fit on one SM; "op.skinny_chain8.pdl_ring6"). The gemv rows
// (batch-1 decode, W [N,K] as nn.Linear stores it) time ctgraph's gemv ("ctgraph_gemv"), cuBLASLt
// and the skinny kernel, each forced, per matmul of a captured chain of 8 with weights of their
// own (more than the H200's 50 MB of L2, so that W comes from HBM as in a model):
// "op.gemv" alternates [1,2048]x[5632,2048]^T and [1,5632]x[2048,5632]^T (23 MB each, Llama's
// MLP), "op.gemv_2048" is [1,2048]x[2048,2048]^T (8.4 MB each).
#include <ctgraph/runtime.hpp>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>

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

// Decode-sized matmuls: bf16 16x4096x4096, a chain of four with weights of their own (128 MB, more
// than the H200's L2, so that every weight comes from HBM as in a model); timed per matmul.
constexpr std::int64_t decode_rows = 16, width = 4096, chain = 4;
using xd = input<"xd", bf16, shape<decode_rows, width>>;
template <int I>
using wd = parameter<indexed<"wd", I>, bf16, shape<width, width>>;
struct d0 : node<"d0", ops::matmul, xd, wd<0>> {};
struct d1 : node<"d1", ops::matmul, d0, wd<1>> {};
struct d2 : node<"d2", ops::matmul, d1, wd<2>> {};
struct d3 : node<"d3", ops::matmul, d2, wd<3>> {};
// The chain of 8 (256 MB of weights).
constexpr std::int64_t long_chain = 8;
struct d4 : node<"d4", ops::matmul, d3, wd<4>> {};
struct d5 : node<"d5", ops::matmul, d4, wd<5>> {};
struct d6 : node<"d6", ops::matmul, d5, wd<6>> {};
struct d7 : node<"d7", ops::matmul, d6, wd<7>> {};

// The gemv chains: x [1,2048] through 8 linear<true> nodes.
constexpr std::int64_t gemv_k = 2048, gemv_ffn = 5632;
using xg = input<"xg", bf16, shape<1, gemv_k>>;
template <int I>  // [5632,2048] for even I, [2048,5632] for odd
using wg = parameter<indexed<"wg", I>, bf16, std::conditional_t<I % 2 == 0, shape<gemv_ffn, gemv_k>, shape<gemv_k, gemv_ffn>>>;
template <int I>
using ws = parameter<indexed<"ws", I>, bf16, shape<gemv_k, gemv_k>>;
template <int I>  // g<I> = g<I-1> x wg<I>^T
struct g : node<indexed<"g", I>, ops::linear<true>, g<I - 1>, wg<I>> {};
template <>
struct g<0> : node<"g0", ops::linear<true>, xg, wg<0>> {};
template <int I>
struct sq : node<indexed<"s", I>, ops::linear<true>, sq<I - 1>, ws<I>> {};
template <>
struct sq<0> : node<"s0", ops::linear<true>, xg, ws<0>> {};

entries summary;

//! Times `ex.run()`; `per` node of a chain of that many; `variant` names what ran it.
template <class Executor>
std::string time_op(const char* name, Executor& ex, cudaStream_t st, int k, const char* variant = "ctgraph", int per = 1) {
  timing t = measure(st, k, [&] { ex.run(); });
  ex.check();
  t.gpu_us /= per, t.host_us /= per, t.wall_us /= per, t.host_overhead_us /= per;
  std::fprintf(stderr, "[op.%s] %s %.2f us\n", name, variant, t.gpu_us);
  summarise(summary, std::string("op.") + name, variant, t);
  return std::string("\"") + name + (std::string_view(variant) != "ctgraph" ? std::string(".") + variant : "") + "\": " + to_json(t);
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
  {
    device_buffer dxd(std::size_t(decode_rows * width) * 2), dwd(std::size_t(chain * width * width) * 2);
    upload_random_bf16(dxd.p, std::size_t(decode_rows * width), 9, 1.f);
    upload_random_bf16(dwd.p, std::size_t(chain * width * width), 10, 0.02f);
    const auto w = [&](int i) { return dwd.at<__nv_bfloat16>(i * width * width); };
    for (const char* kernel : {"skinny", "cublaslt"}) {  // read when the executor prepares its matmuls
      setenv("CTGRAPH_MATMUL_KERNEL", kernel, 1);
      auto ex = instantiate<graph<d3>>(st, bindings(bind<xd>(dxd.at<__nv_bfloat16>(0)), bind<wd<0>>(w(0)), bind<wd<1>>(w(1)),
                                                    bind<wd<2>>(w(2)), bind<wd<3>>(w(3))));
      const matmul_state& s = ex.prepared_state<matmul_state>("d0");
      std::fprintf(stderr, "[op.skinny_matmul] %s forced: %s runs (%s)\n", kernel, std::string(name_of(s.kernel)).c_str(), s.reason);
      o += ",\n  " + time_op("skinny_matmul", ex, st, 200, std::string_view(kernel) == "skinny" ? "ctgraph" : "cublaslt", chain);
    }
    unsetenv("CTGRAPH_MATMUL_KERNEL");
  }
  {
    device_buffer dxd(std::size_t(decode_rows * width) * 2), dwd(std::size_t(long_chain * width * width) * 2);
    upload_random_bf16(dxd.p, std::size_t(decode_rows * width), 9, 1.f);
    upload_random_bf16(dwd.p, std::size_t(long_chain * width * width), 11, 0.02f);
    const auto w = [&](int i) { return dwd.at<__nv_bfloat16>(i * width * width); };
    setenv("CTGRAPH_MATMUL_KERNEL", "skinny", 1);
    struct variant {
      const char* name;
      const char* pdl;
      const char* stages;  // CTGRAPH_SKINNY_STAGES: "" for the plan's ring
    };
    std::map<int, std::string> first_hash;  // per split of K
    for (const variant v : {variant{"pdl", "1", ""}, variant{"no_pdl", "0", ""}, variant{"pdl_ring6", "1", "6"}}) {
      setenv("CTGRAPH_PDL", v.pdl, 1);  // both read when the executor prepares its matmuls
      if (*v.stages) setenv("CTGRAPH_SKINNY_STAGES", v.stages, 1);
      else unsetenv("CTGRAPH_SKINNY_STAGES");
      auto ex = instantiate<graph<d7>>(st, bindings(bind<xd>(dxd.at<__nv_bfloat16>(0)), bind<wd<0>>(w(0)), bind<wd<1>>(w(1)),
                                                    bind<wd<2>>(w(2)), bind<wd<3>>(w(3)), bind<wd<4>>(w(4)), bind<wd<5>>(w(5)),
                                                    bind<wd<6>>(w(6)), bind<wd<7>>(w(7))));
      const matmul_state& s = ex.prepared_state<matmul_state>("d7");
      std::fprintf(stderr, "[op.skinny_chain8] %s: %s runs (%s), PDL %d, %d stages (%zu bytes), %d tiles x %d slices\n", v.name,
                   std::string(name_of(s.kernel)).c_str(), s.reason, int(s.programmatic), s.skinny.stages, s.skinny.shared_bytes,
                   s.skinny.tiles, s.skinny.slices);
      o += ",\n  " + time_op("skinny_chain8", ex, st, 200, v.name);
      // The same bits as the first variant that splits K as often (another split sums in another order).
      const std::string hash = describe_output(ex.data("d7"), std::size_t(decode_rows * width) * 2, true);
      std::string& same_split = first_hash[s.skinny.slices];
      if (same_split.empty()) {
        same_split = hash;
        std::fprintf(stderr, "[op.skinny_chain8] %s: the first variant of %d slices\n", v.name, s.skinny.slices);
        continue;
      }
      std::fprintf(stderr, "[op.skinny_chain8] %s: output %s the first variant's of %d slices\n", v.name,
                   hash == same_split ? "identical to" : "DIFFERS from", s.skinny.slices);
      if (hash != same_split) throw runtime_error("skinny_chain8", "ops_bench", std::string("the chain's output differs in variant ") + v.name);
    }
    unsetenv("CTGRAPH_SKINNY_STAGES");
    unsetenv("CTGRAPH_PDL");
    unsetenv("CTGRAPH_MATMUL_KERNEL");
  }
  {
    constexpr std::int64_t ffn_bytes = gemv_ffn * gemv_k * 2, square_bytes = gemv_k * gemv_k * 2;
    device_buffer dxg(std::size_t(gemv_k) * 2), dwg(std::size_t(8 * ffn_bytes));
    upload_random_bf16(dxg.p, std::size_t(gemv_k), 12, 1.f);
    upload_random_bf16(dwg.p, std::size_t(8 * ffn_bytes / 2), 13, 0.02f);
    const auto w = [&](int i, std::int64_t bytes) { return dwg.at<__nv_bfloat16>(i * bytes / 2); };
    const auto xg_ptr = dxg.at<__nv_bfloat16>(0);
    for (const char* kernel : {"gemv", "cublaslt", "skinny"}) {  // read when the executor prepares its matmuls
      setenv("CTGRAPH_MATMUL_KERNEL", kernel, 1);
      const char* variant = std::string_view(kernel) == "gemv" ? "ctgraph_gemv" : kernel;
      {
        auto ex = instantiate<graph<g<7>>>(
            st, bindings(bind<xg>(xg_ptr), bind<wg<0>>(w(0, ffn_bytes)), bind<wg<1>>(w(1, ffn_bytes)), bind<wg<2>>(w(2, ffn_bytes)),
                         bind<wg<3>>(w(3, ffn_bytes)), bind<wg<4>>(w(4, ffn_bytes)), bind<wg<5>>(w(5, ffn_bytes)),
                         bind<wg<6>>(w(6, ffn_bytes)), bind<wg<7>>(w(7, ffn_bytes))));
        const matmul_state& s = ex.prepared_state<matmul_state>("g0");
        std::fprintf(stderr, "[op.gemv] %s forced: %s runs (%s), PDL %d\n", kernel, std::string(name_of(s.kernel)).c_str(), s.reason,
                     int(s.programmatic));
        o += ",\n  " + time_op("gemv", ex, st, 200, variant, 8);
      }
      {
        auto ex = instantiate<graph<sq<7>>>(
            st, bindings(bind<xg>(xg_ptr), bind<ws<0>>(w(0, square_bytes)), bind<ws<1>>(w(1, square_bytes)),
                         bind<ws<2>>(w(2, square_bytes)), bind<ws<3>>(w(3, square_bytes)), bind<ws<4>>(w(4, square_bytes)),
                         bind<ws<5>>(w(5, square_bytes)), bind<ws<6>>(w(6, square_bytes)), bind<ws<7>>(w(7, square_bytes))));
        const matmul_state& s = ex.prepared_state<matmul_state>("s0");
        std::fprintf(stderr, "[op.gemv_2048] %s forced: %s runs (%s)\n", kernel, std::string(name_of(s.kernel)).c_str(), s.reason);
        o += ",\n  " + time_op("gemv_2048", ex, st, 200, variant, 8);
      }
    }
    unsetenv("CTGRAPH_MATMUL_KERNEL");
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
