// 07_gpt2: GPT-2 small (12 layers, hidden 768, 12 heads, vocabulary 50,257, tied embedding),
// batch 1, 512 tokens, bf16, written as types with `repeat`. It prints the plan: one CUDA graph,
// arena at its lower bound. With a GPU and the files tests/bench/gpt2_reference.py writes (a
// Hugging Face model from a seeded random init), it loads the weights by their Hugging Face names,
// runs the plan, compares the logits with Hugging Face's, times the prefill, and shows that a token
// id outside the vocabulary is reported, not read. The same model written op by op, as a PyTorch
// user writes it (each linear a matmul, its bias add, its gelu or residual add), is planned too: the
// fuse pass folds those back into one cuBLASLt call each, to the same kernels as the model written
// with ops::linear, and the example times it fused and with plan_options{.fuse = false}.
//   07_gpt2 [--require-gpu] [--dir DIR (default gpt2_out)] [--json FILE]
#include <ctgraph/runtime.hpp>
#include <ctgraph/runtime/weights.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "example_util.hpp"

namespace gpt2 {
using namespace ctg;
constexpr std::int64_t tokens = 512, hidden = 768, heads = 12, ffn = 4 * hidden, vocab = 50257, positions = 1024;
constexpr std::size_t layers = 12;

// Parameters under their Hugging Face names (transformer.h.<I>.attn.c_attn.weight, ...). Conv1D
// weights are stored [in, out]: y = x W + b, ops::linear without a transposed weight.
template <std::size_t I, fixed_string Suffix, std::int64_t... Dims>
using param = parameter<indexed<"transformer.h.", I, Suffix>, bf16, shape<Dims...>>;
template <std::size_t I, fixed_string Suffix>
inline constexpr auto name = indexed<"h.", I, Suffix>;

using input_ids = input<"input_ids", i32, shape<tokens>>;
using position_ids = input<"position_ids", i32, shape<tokens>>;
using wte = parameter<"transformer.wte.weight", bf16, shape<vocab, hidden>>;
using wpe = parameter<"transformer.wpe.weight", bf16, shape<positions, hidden>>;
struct embeddings : node<"embeddings", ops::add, node<"wte", ops::embedding, input_ids, wte>,
                         node<"wpe", ops::embedding, position_ids, wpe>> {};

//! Block I: h = x + c_proj(attention(c_attn(ln_1(x)))); out = h + mlp.c_proj(gelu(mlp.c_fc(ln_2(h)))).
//! Each residual add is the matmul's (x W + b + r in one cuBLASLt call).
template <class X, std::size_t I>
struct attention_half {
  struct ln_1 : node<name<I, ".ln_1">, ops::layer_norm<1e-5f>, X, param<I, ".ln_1.weight", hidden>, param<I, ".ln_1.bias", hidden>> {};
  struct c_attn : node<name<I, ".attn.c_attn">, ops::linear<>, ln_1, param<I, ".attn.c_attn.weight", hidden, 3 * hidden>,
                       param<I, ".attn.c_attn.bias", 3 * hidden>> {};
  struct attn : node<name<I, ".attn">, ops::attention<heads>, c_attn> {};  // causal, q k v packed
  // x + c_proj(attn): the residual added in the matmul (cuBLASLt's C), no separate add kernel
  struct out : node<name<I, ".attn.c_proj">, ops::linear<>, attn, param<I, ".attn.c_proj.weight", hidden, hidden>,
                    param<I, ".attn.c_proj.bias", hidden>, X> {};
};
template <class H, std::size_t I>
struct mlp_half {
  struct ln_2 : node<name<I, ".ln_2">, ops::layer_norm<1e-5f>, H, param<I, ".ln_2.weight", hidden>, param<I, ".ln_2.bias", hidden>> {};
  struct c_fc : node<name<I, ".mlp.c_fc">, ops::linear<false, ops::epilogue::gelu>, ln_2, param<I, ".mlp.c_fc.weight", hidden, ffn>,
                     param<I, ".mlp.c_fc.bias", ffn>> {};  // gelu_new (tanh) in cuBLASLt's epilogue
};
template <class X, std::size_t I>
struct block : node<name<I, ".mlp.c_proj">, ops::linear<>, typename mlp_half<typename attention_half<X, I>::out, I>::c_fc,
                    param<I, ".mlp.c_proj.weight", ffn, hidden>, param<I, ".mlp.c_proj.bias", hidden>,
                    typename attention_half<X, I>::out> {};  // h + mlp.c_proj(...)

struct ln_f : node<"ln_f", ops::layer_norm<1e-5f>, repeat<layers, block, embeddings>,
                   parameter<"transformer.ln_f.weight", bf16, shape<hidden>>, parameter<"transformer.ln_f.bias", bf16, shape<hidden>>> {};
struct logits : node<"logits", ops::linear</*transpose_w=*/true>, ln_f, wte> {};  // the tied head: x wte^T

using model = graph<logits>;
constexpr auto plan = make_plan<model>();

static_assert(plan.partition_count() == 1);  // one CUDA graph for the whole forward
static_assert(plan.arena_bytes(memory_class::device) == plan.lower_bound(memory_class::device));
static_assert(plan.output_of<logits>() == tensor_desc{dtype_id::bf16, 2, {tokens, vocab}});

//! The same blocks op by op: y = x W, then + b, then gelu or + the residual (same parameters).
namespace by_ops {
template <class X, std::size_t I>
struct attention_half {
  struct ln_1 : node<name<I, ".ln_1">, ops::layer_norm<1e-5f>, X, param<I, ".ln_1.weight", hidden>, param<I, ".ln_1.bias", hidden>> {};
  struct qkv : node<name<I, ".attn.c_attn.xw">, ops::matmul, ln_1, param<I, ".attn.c_attn.weight", hidden, 3 * hidden>> {};
  struct c_attn : node<name<I, ".attn.c_attn">, ops::add, qkv, param<I, ".attn.c_attn.bias", 3 * hidden>> {};
  struct attn : node<name<I, ".attn">, ops::attention<heads>, c_attn> {};
  struct proj : node<name<I, ".attn.c_proj.xw">, ops::matmul, attn, param<I, ".attn.c_proj.weight", hidden, hidden>> {};
  struct c_proj : node<name<I, ".attn.c_proj">, ops::add, proj, param<I, ".attn.c_proj.bias", hidden>> {};
  struct out : node<name<I, ".attn.residual">, ops::add, X, c_proj> {};
};
template <class H, std::size_t I>
struct mlp_half {
  struct ln_2 : node<name<I, ".ln_2">, ops::layer_norm<1e-5f>, H, param<I, ".ln_2.weight", hidden>, param<I, ".ln_2.bias", hidden>> {};
  struct fc : node<name<I, ".mlp.c_fc.xw">, ops::matmul, ln_2, param<I, ".mlp.c_fc.weight", hidden, ffn>> {};
  struct c_fc : node<name<I, ".mlp.c_fc">, ops::add, fc, param<I, ".mlp.c_fc.bias", ffn>> {};
  struct act : node<name<I, ".mlp.act">, ops::gelu, c_fc> {};
  struct proj : node<name<I, ".mlp.c_proj.xw">, ops::matmul, act, param<I, ".mlp.c_proj.weight", ffn, hidden>> {};
  struct c_proj : node<name<I, ".mlp.c_proj">, ops::add, proj, param<I, ".mlp.c_proj.bias", hidden>> {};
};
template <class X, std::size_t I>
struct block : node<name<I, ".mlp.residual">, ops::add, typename attention_half<X, I>::out,
                    typename mlp_half<typename attention_half<X, I>::out, I>::c_proj> {};
struct ln_f : node<"ln_f", ops::layer_norm<1e-5f>, repeat<layers, block, embeddings>,
                   parameter<"transformer.ln_f.weight", bf16, shape<hidden>>, parameter<"transformer.ln_f.bias", bf16, shape<hidden>>> {};
struct logits : node<"logits", ops::linear</*transpose_w=*/true>, ln_f, wte> {};
using model = graph<logits>;
}  // namespace by_ops
constexpr auto fused = make_plan<by_ops::model>();
constexpr auto unfused = make_plan<by_ops::model, plan_options{.fuse = false}>();
//! Kernels a replay launches: one per node, less those computed inside another's (views launch none).
template <std::size_t N>
constexpr int launches(const ctg::plan<N>& p) {
  int views = 0;
  for (int s = 0; s < p.step_count(); ++s) views += p.graph.owner[p.node_at(s)] != p.node_at(s);
  return p.step_count() - p.fused_node_count() - views;
}
// Four epilogues per block (c_attn + bias; c_proj + bias + residual; c_fc + bias + gelu;
// mlp.c_proj + bias + residual): the kernels of the model written with ops::linear.
static_assert(fused.fused_group_count() == 4 * int(layers) && launches(fused) == launches(plan));
static_assert(launches(unfused) == launches(plan) + 7 * int(layers));
static_assert(fused.arena_bytes(memory_class::device) == fused.lower_bound(memory_class::device));
}  // namespace gpt2

namespace {

//! Median GPU microseconds per run: 20 warm-up runs, then 5 trials of `k` runs between events.
template <class Executor>
double time_runs(Executor& ex, cudaStream_t st, int k) {
  for (int i = 0; i < 20; ++i) ex.run();
  cudaEvent_t a, b;
  cudaEventCreate(&a), cudaEventCreate(&b);
  std::vector<double> us;
  for (int trial = 0; trial < 5; ++trial) {
    cudaEventRecord(a, st);
    for (int i = 0; i < k; ++i) ex.run();
    cudaEventRecord(b, st);
    cudaEventSynchronize(b);
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    us.push_back(1000.0 * ms / k);
  }
  cudaEventDestroy(a), cudaEventDestroy(b);
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}

//! Where a prefill's time goes: executor::profile (nodes one after another with events between,
//! so the sum is above a replay's time), summed over the layers for each kind of node.
template <class Executor>
std::vector<std::pair<std::string, double>> time_by_kind(Executor& ex) {
  std::vector<std::pair<std::string, double>> kinds;
  for (const auto& t : ex.profile(20)) {
    std::string_view kind = t.name;
    if (kind.starts_with("h.")) kind.remove_prefix(kind.find('.', 2) + 1);  // "h.7.attn" -> "attn"
    auto at = std::find_if(kinds.begin(), kinds.end(), [&](const auto& k) { return k.first == kind; });
    if (at == kinds.end()) kinds.emplace_back(std::string(kind), t.us);
    else at->second += t.us;
  }
  return kinds;
}

struct errors {
  double max_abs = 0, max_rel = 0;  // rel: |a - b| / max(|b|, 1)
};
errors compare(const std::vector<float>& a, const std::vector<float>& b) {
  errors e;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs(double(a[i]) - b[i]);
    e.max_abs = std::max(e.max_abs, d);
    e.max_rel = std::max(e.max_rel, d / std::max(1.0, std::fabs(double(b[i]))));
  }
  return e;
}

}  // namespace

int main(int argc, char** argv) {
  using gpt2::plan, gpt2::tokens, gpt2::vocab;
  std::cout << plan;
  std::printf("GPT-2 small prefill: %zu tensors, %d steps, %d partition(s), device arena %zu bytes (lower bound %zu)\n",
              std::size_t(plan.tensor_count()), plan.step_count(), plan.partition_count(), plan.arena_bytes(ctg::memory_class::device),
              plan.lower_bound(ctg::memory_class::device));
  if (auto v = ctg::check_plan(plan)) {
    std::printf("unsound plan: %.*s\n", int(v.what().size()), v.what().data());
    return 1;
  }
  if (!example::gpu_present(argc, argv)) return 0;
  const std::string dir = example::arg(argc, argv, "--dir", "gpt2_out"), json = example::arg(argc, argv, "--json", "");
  if (!std::filesystem::exists(dir + "/gpt2_weights.safetensors")) {
    std::printf("no reference files in %s: write them with tests/bench/gpt2_reference.py --out %s; skipped\n", dir.c_str(), dir.c_str());
    return 77;
  }
  try {
    const auto t0 = std::chrono::steady_clock::now();
    // The tied lm_head.weight is not in the file (it is transformer.wte.weight).
    const ctg::device_weights weights(plan, dir + "/gpt2_weights.safetensors");
    const auto t1 = std::chrono::steady_clock::now();
    const ctg::safetensors_file token_file(dir + "/gpt2_tokens.safetensors"), logit_file(dir + "/gpt2_logits.safetensors");
    std::vector<std::int32_t> ids = example::read_tensor<std::int32_t>(token_file, "input_ids"), pos(tokens);
    if (ids.size() != std::size_t(tokens)) throw ctg::load_error(token_file.path(), "input_ids", "is not [1, 512]");
    for (std::int64_t t = 0; t < tokens; ++t) pos[std::size_t(t)] = std::int32_t(t);
    ctg::allocation device_ids(ctg::allocation_kind::device, 2 * tokens * sizeof(std::int32_t), "07_gpt2");
    auto* d_ids = static_cast<std::int32_t*>(device_ids.get());
    cudaMemcpy(d_ids, ids.data(), tokens * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(d_ids + tokens, pos.data(), tokens * 4, cudaMemcpyHostToDevice);

    cudaStream_t st = nullptr;
    cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking);
    auto ex = ctg::instantiate<gpt2::model>(st, weights.bindings({ctg::bind("input_ids", d_ids, tokens), ctg::bind("position_ids", d_ids + tokens, tokens)}));
    const auto t2 = std::chrono::steady_clock::now();
    ex.run();
    ex.check();  // synchronises; throws on a bad token id
    std::vector<__nv_bfloat16> out(std::size_t(tokens * vocab));
    cudaMemcpy(out.data(), ex.data("logits"), out.size() * 2, cudaMemcpyDeviceToHost);
    std::vector<float> got(out.size());
    for (std::size_t i = 0; i < out.size(); ++i) got[i] = __bfloat162float(out[i]);
    const std::vector<float> hf = example::read_tensor<float>(logit_file, "logits"), hf32 = example::read_tensor<float>(logit_file, "logits_f32");
    const errors vs_hf = compare(got, hf), vs_f32 = compare(got, hf32), hf_vs_f32 = compare(hf, hf32);
    std::printf("logits vs Hugging Face bf16: max abs %.4g, max rel %.4g\n", vs_hf.max_abs, vs_hf.max_rel);
    std::printf("logits vs the f32 forward:   max abs %.4g (Hugging Face bf16: %.4g)\n", vs_f32.max_abs, hf_vs_f32.max_abs);
    // bf16 tolerance: no further from the f32 forward than twice Hugging Face's own bf16 error.
    const bool ok = vs_f32.max_abs <= 2 * hf_vs_f32.max_abs;
    std::printf("parity: %s\n", ok ? "ok" : "FAILED");

    const double us = time_runs(ex, st, 50);
    std::printf("prefill: %.1f us per run (GPU time, one CUDA graph); weights %.1f MB loaded in %.0f ms; instantiate %.0f ms\n", us,
                weights.bytes() / 1e6, std::chrono::duration<double, std::milli>(t1 - t0).count(),
                std::chrono::duration<double, std::milli>(t2 - t1).count());
    const auto kinds = time_by_kind(ex);
    std::string profile_json;
    std::printf("where the time goes (node by node with events between, summed over the layers):");
    for (const auto& [kind, kind_us] : kinds) {
      std::printf(" %s %.1f;", kind.c_str(), kind_us);
      char entry[128];
      std::snprintf(entry, sizeof(entry), ", \"gpt2_prefill.profile.%s_us\": %.2f", kind.c_str(), kind_us);
      profile_json += entry;
    }
    std::printf("\n");
    std::printf("kernels chosen at instantiation:");
    for (const char* name : {"h.0.attn.c_attn", "h.0.attn.c_proj", "h.0.mlp.c_fc", "h.0.mlp.c_proj", "logits"}) {
      const auto& m = ex.prepared_state<ctg::matmul_state>(name);
      std::printf(" %s %s %.1f us (cuBLASLt candidate %d of %d);", name, ctg::name_of(m.kernel).data(), m.chosen_us(), m.algo_rank,
                  m.algo_candidates);
    }
    std::printf("\n");

    // The model op by op: fused by the plan (the same kernels as above), and not.
    auto logits_of = [&](auto& e) {
      e.run();
      e.check();
      cudaMemcpy(out.data(), e.data("logits"), out.size() * 2, cudaMemcpyDeviceToHost);
      std::vector<float> v(out.size());
      for (std::size_t i = 0; i < out.size(); ++i) v[i] = __bfloat162float(out[i]);
      return v;
    };
    const auto bound = weights.bindings({ctg::bind("input_ids", d_ids, tokens), ctg::bind("position_ids", d_ids + tokens, tokens)});
    auto by_ops = ctg::instantiate<gpt2::by_ops::model>(st, bound);
    auto by_ops_unfused = ctg::instantiate<gpt2::by_ops::model, ctg::plan_options{.fuse = false}>(st, bound);
    const errors fused_f32 = compare(logits_of(by_ops), hf32), unfused_f32 = compare(logits_of(by_ops_unfused), hf32);
    const bool by_ops_ok = fused_f32.max_abs <= 2 * hf_vs_f32.max_abs;
    const double fused_us = time_runs(by_ops, st, 50), unfused_us = time_runs(by_ops_unfused, st, 50);
    std::printf("op by op: fused by the plan %.1f us (%d kernels), unfused %.1f us (%d kernels): fusion %.2fx; "
                "logits vs the f32 forward: max abs %.4g fused (parity: %s), %.4g unfused\n",
                fused_us, gpt2::launches(gpt2::fused), unfused_us, gpt2::launches(gpt2::unfused), unfused_us / fused_us,
                fused_f32.max_abs, by_ops_ok ? "ok" : "FAILED", unfused_f32.max_abs);

    // A token id outside the vocabulary: its row is not read, and check() names it.
    const std::int32_t bad = std::int32_t(vocab + 5);
    cudaMemcpy(d_ids + 7, &bad, 4, cudaMemcpyHostToDevice);
    ex.run();
    bool reported = false;
    try {
      ex.check();
    } catch (const ctg::runtime_error& e) {
      reported = true;
      std::printf("bad token id reported: %s\n", e.what());
    }
    cudaMemcpy(d_ids + 7, ids.data() + 7, 4, cudaMemcpyHostToDevice);
    if (!reported) std::printf("bad token id NOT reported: FAILED\n");

    if (!json.empty()) {
      std::FILE* f = std::fopen(json.c_str(), "w");
      if (f) {
        std::fprintf(f,
                     "{\"gpt2_prefill.ctgraph.gpu_us\": %.2f, \"gpt2_prefill.logits_max_abs_err\": %.5g, \"gpt2_prefill.logits_max_rel_err\": %.5g,\n"
                     " \"gpt2_prefill.ctgraph.logits_f32_max_abs_err\": %.5g, \"gpt2_prefill.hf_bf16.logits_f32_max_abs_err\": %.5g,\n"
                     " \"gpt2_prefill.ctgraph.arena_bytes\": %zu, \"gpt2_prefill.ctgraph.instantiate_ms\": %.1f,\n"
                     " \"gpt2_prefill.ctgraph_by_ops.gpu_us\": %.2f, \"gpt2_prefill.ctgraph_by_ops_unfused.gpu_us\": %.2f,"
                     " \"gpt2_prefill.fusion_speedup\": %.4g,\n"
                     " \"gpt2_prefill.ctgraph_by_ops.logits_f32_max_abs_err\": %.5g, \"gpt2_prefill.ctgraph_by_ops_unfused.logits_f32_max_abs_err\": %.5g%s}\n",
                     us, vs_hf.max_abs, vs_hf.max_rel, vs_f32.max_abs, hf_vs_f32.max_abs, plan.arena_bytes(ctg::memory_class::device),
                     std::chrono::duration<double, std::milli>(t2 - t1).count(), fused_us, unfused_us, unfused_us / fused_us,
                     fused_f32.max_abs, unfused_f32.max_abs, profile_json.c_str());
        std::fclose(f);
      }
    }
    cudaStreamDestroy(st);
    return ok && by_ops_ok && reported ? 0 : 1;
  } catch (const std::exception& e) {
    std::printf("error: %s\n", e.what());
    return 1;
  }
}
