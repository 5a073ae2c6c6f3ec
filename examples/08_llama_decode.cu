// 08_llama_decode: a Llama-style decoder in the TinyLlama-1.1B shape (22 layers, hidden 2048, 32
// heads sharing 4 K/V heads, SiLU-gated MLP 5632, RMSNorm, rotary embedding, vocabulary 32,000),
// batch 1, bf16, as two plans of one model: a prefill plan (a 32-token prompt) and a decode plan
// (one token), bound to the same weights and the same state: the K/V caches, the position and the
// token history. Each plan is one CUDA graph. A decode step reads its token from the history at
// the position, runs the 22 layers (its keys and values written into the caches at the position,
// attention over the cache up to it), picks the next token with argmax on the device, writes it
// one further on and advances the position: step after step replays the same graph, with no trip
// to the host. It prints both plans; with a GPU and the files tests/bench/llama_reference.py
// writes (a Hugging Face model from a seeded random init), it loads the weights by their Hugging
// Face names, checks teacher-forced logits for 32 steps and the greedy tokens against Hugging
// Face's, times greedy decoding of 128 tokens (tok/s, per-token latency percentiles) and shows
// that a step past the cache is refused before anything is launched.
//   08_llama_decode [--require-gpu] [--dir DIR (default llama_out)] [--json FILE]
#include <ctgraph/runtime.hpp>
#include <ctgraph/runtime/weights.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "example_util.hpp"

namespace llama {
using namespace ctg;
constexpr std::int64_t hidden = 2048, heads = 32, kv_heads = 4, head_dim = hidden / heads, ffn = 5632, vocab = 32000;
constexpr std::int64_t context = 256, prompt = 32;  // cache rows; the prefill plan's prompt
constexpr std::size_t layers = 22;

// Parameters under their Hugging Face names; nn.Linear weights are [out, in]: ops::linear<true>.
template <std::size_t I, fixed_string Suffix, std::int64_t... Dims>
using param = parameter<indexed<"model.layers.", I, Suffix>, bf16, shape<Dims...>>;
template <std::size_t I, fixed_string Suffix>
inline constexpr auto name = indexed<"layers.", I, Suffix>;
using embed_tokens = parameter<"model.embed_tokens.weight", bf16, shape<vocab, hidden>>;
using final_weight = parameter<"model.norm.weight", bf16, shape<hidden>>;
using lm_head = parameter<"lm_head.weight", bf16, shape<vocab, hidden>>;

// State both plans share: where the sequence is, its tokens (a step writes the one it picks after
// the one it read: one more row than the caches) and each layer's keys and values.
using pos = state<"pos", i32, shape<1>>;
using tokens = state<"tokens", i32, shape<context + 1>>;
template <std::size_t I>
using k_cache = state<indexed<"k_cache.", I>, bf16, shape<context, kv_heads * head_dim>>;
template <std::size_t I>
using v_cache = state<indexed<"v_cache.", I>, bf16, shape<context, kv_heads * head_dim>>;

//! Layer I on x [T, hidden], T tokens at pos .. pos + T - 1: h = x + o_proj(attention); out = h +
//! down_proj(silu(gate_proj(n)) * up_proj(n)), n = post_attention_layernorm(h). Each residual add is
//! its projection's (the matmul adds it); silu and the product are one fused kernel.
template <class X, std::size_t I>
struct attention_half {
  struct norm : node<name<I, ".input_layernorm">, ops::rms_norm<1e-5f>, X, param<I, ".input_layernorm.weight", hidden>> {};
  struct q : node<name<I, ".q_proj">, ops::linear<true>, norm, param<I, ".self_attn.q_proj.weight", heads * head_dim, hidden>> {};
  struct k : node<name<I, ".k_proj">, ops::linear<true>, norm, param<I, ".self_attn.k_proj.weight", kv_heads * head_dim, hidden>> {};
  struct v : node<name<I, ".v_proj">, ops::linear<true>, norm, param<I, ".self_attn.v_proj.weight", kv_heads * head_dim, hidden>> {};
  struct q_rope : node<name<I, ".q_rope">, ops::rotary<head_dim>, q, pos> {};
  struct k_rope : node<name<I, ".k_rope">, ops::rotary<head_dim>, k, pos> {};
  struct k_put : node<name<I, ".k_put">, ops::cache_write<0>, k_cache<I>, pos, k_rope> {};
  struct v_put : node<name<I, ".v_put">, ops::cache_write<0>, v_cache<I>, pos, v> {};
  struct attn : node<name<I, ".attn">, ops::cache_attention<heads, kv_heads>, q_rope, k_put, v_put, pos> {};
  struct out : node<name<I, ".o_proj">, ops::linear<true>, attn, param<I, ".self_attn.o_proj.weight", hidden, hidden>, X> {};
};
template <class H, std::size_t I>
struct mlp_half {
  struct norm : node<name<I, ".post_attention_layernorm">, ops::rms_norm<1e-5f>, H, param<I, ".post_attention_layernorm.weight", hidden>> {};
  struct gate : node<name<I, ".gate_proj">, ops::linear<true>, norm, param<I, ".mlp.gate_proj.weight", ffn, hidden>> {};
  struct up : node<name<I, ".up_proj">, ops::linear<true>, norm, param<I, ".mlp.up_proj.weight", ffn, hidden>> {};
  struct act : node<name<I, ".act">, ops::silu, gate> {};
  struct gated : node<name<I, ".gated">, ops::mul, act, up> {};
};
template <class X, std::size_t I>
struct layer : node<name<I, ".down_proj">, ops::linear<true>, typename mlp_half<typename attention_half<X, I>::out, I>::gated,
                    param<I, ".mlp.down_proj.weight", hidden, ffn>, typename attention_half<X, I>::out> {};

template <class X>
struct final_norm : node<"norm", ops::rms_norm<1e-5f>, repeat<layers, layer, X>, final_weight> {};

//! The prefill plan: the prompt into the history and the caches, logits of its last token, the
//! first new token written after it; the position moves past the prompt.
namespace prefill {
using prompt_ids = input<"prompt", i32, shape<prompt>>;
struct history : node<"tokens.prompt", ops::cache_write<0>, tokens, pos, prompt_ids> {};
struct embed : node<"embed", ops::embedding, prompt_ids, embed_tokens> {};
struct last : node<"last", ops::slice<0, prompt - 1, prompt>, final_norm<embed>> {};
struct logits : node<"logits", ops::linear<true>, last, lm_head> {};
struct choice : node<"choice", ops::argmax, logits> {};
struct put : node<"tokens.next", ops::cache_write<0, prompt>, history, pos, choice> {};
struct next : node<"advance", ops::advance<prompt>, pos, put> {};
using model = graph<logits, next>;
}  // namespace prefill

//! The decode plan: one token, read from the history at the position; the next one written after it.
namespace decode {
struct token : node<"token", ops::cache_read<0, 1>, tokens, pos> {};
struct embed : node<"embed", ops::embedding, token, embed_tokens> {};
struct logits : node<"logits", ops::linear<true>, final_norm<embed>, lm_head> {};
struct choice : node<"choice", ops::argmax, logits> {};
struct put : node<"tokens.next", ops::cache_write<0, 1>, tokens, pos, choice> {};
struct next : node<"advance", ops::advance<1>, pos, put> {};
using model = graph<logits, next>;
}  // namespace decode

constexpr auto prefill_plan = make_plan<prefill::model>();
constexpr auto decode_plan = make_plan<decode::model>();
static_assert(prefill_plan.partition_count() == 1 && decode_plan.partition_count() == 1);  // one CUDA graph each
static_assert(!check_plan(prefill_plan) && !check_plan(decode_plan));
static_assert(decode_plan.state_count() == 2 * layers + 2 && prefill_plan.state_count() == decode_plan.state_count());
static_assert(decode_plan.output_of<decode::logits>() == tensor_desc{dtype_id::bf16, 2, {1, vocab}});
// silu(gate) * up is one kernel in every layer; in the decode step each RMS norm runs in the
// prologues of the projections that read it (q, k, v; gate, up; the head), with no kernel of its
// own, and in both plans attention rotates its queries as it loads them (q_rope has no kernel).
static_assert(decode_plan.fused_group_count() == int(layers) && decode_plan.prologue_count() == 3 * int(layers) + 1);
static_assert(prefill_plan.prologue_count() == int(layers));  // 32 rows: more than the gemv takes
static_assert(decode_plan.arena_bytes(memory_class::device) == decode_plan.lower_bound(memory_class::device));
}  // namespace llama

namespace {

std::vector<float> logits_of(void* device) {
  std::vector<__nv_bfloat16> h(std::size_t(llama::vocab));
  cudaMemcpy(h.data(), device, h.size() * 2, cudaMemcpyDeviceToHost);
  std::vector<float> f(h.size());
  for (std::size_t i = 0; i < h.size(); ++i) f[i] = __bfloat162float(h[i]);
  return f;
}

std::int32_t read_token(void* tokens, std::int64_t at) {
  std::int32_t t = -1;
  cudaMemcpy(&t, static_cast<std::int32_t*>(tokens) + at, 4, cudaMemcpyDeviceToHost);
  return t;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, std::size_t(p * double(v.size() - 1) + 0.5))];
}

}  // namespace

int main(int argc, char** argv) {
  using namespace llama;
  std::cout << "== prefill plan\n" << prefill_plan << "== decode plan\n" << decode_plan;
  std::printf("Llama (TinyLlama-1.1B shape): prefill %d steps, decode %d steps, %d fused groups per step; state %d tensors; "
              "device arena %zu (prefill) and %zu (decode) bytes, each at its lower bound\n",
              prefill_plan.step_count(), decode_plan.step_count(), decode_plan.fused_group_count(), decode_plan.state_count(),
              prefill_plan.arena_bytes(ctg::memory_class::device), decode_plan.arena_bytes(ctg::memory_class::device));
  if (!example::gpu_present(argc, argv)) return 0;
  const std::string dir = example::arg(argc, argv, "--dir", "llama_out"), json = example::arg(argc, argv, "--json", "");
  if (!std::filesystem::exists(dir + "/llama_weights.safetensors")) {
    std::printf("no reference files in %s: write them with tests/bench/llama_reference.py --out %s; skipped\n", dir.c_str(), dir.c_str());
    return 77;
  }
  try {
    const auto t0 = std::chrono::steady_clock::now();
    const ctg::device_weights weights(prefill_plan, dir + "/llama_weights.safetensors");
    const auto t1 = std::chrono::steady_clock::now();
    const ctg::safetensors_file token_file(dir + "/llama_tokens.safetensors"), logit_file(dir + "/llama_logits.safetensors");
    const std::vector<std::int32_t> prompt_ids = example::read_tensor<std::int32_t>(token_file, "prompt"), teacher = example::read_tensor<std::int32_t>(token_file, "teacher");
    const std::vector<float> hf = example::read_tensor<float>(logit_file, "logits"), hf32 = example::read_tensor<float>(logit_file, "logits_f32");
    const std::size_t steps = teacher.size();
    if (prompt_ids.size() != std::size_t(prompt) || hf.size() != (steps + 1) * std::size_t(vocab))
      throw ctg::load_error(token_file.path(), "prompt", "does not match the plans (32 prompt tokens, logits [steps + 1, 32000])");
    ctg::allocation device_prompt(ctg::allocation_kind::device, prompt * sizeof(std::int32_t), "08_llama_decode");
    cudaMemcpy(device_prompt.get(), prompt_ids.data(), prompt * 4, cudaMemcpyHostToDevice);

    cudaStream_t st = nullptr;
    cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking);
    auto pre = ctg::instantiate<prefill::model>(st, weights.bindings({ctg::bind("prompt", static_cast<std::int32_t*>(device_prompt.get()), prompt)}));
    auto dec = ctg::instantiate<decode::model>(st, weights.bindings(pre.state_bindings()));  // the same caches, position, history
    const auto t2 = std::chrono::steady_clock::now();

    // Teacher-forced parity: the prefill's logits, then each decode step fed Hugging Face's token.
    double max_abs = 0, max_rel = 0, f32_abs = 0, hf_f32_abs = 0, margin_floor = 0;
    std::vector<float> margin(steps + 1);
    for (std::size_t r = 0; r <= steps; ++r) {
      const float* row = hf.data() + r * std::size_t(vocab);
      float a = -INFINITY, b = -INFINITY;
      for (std::int64_t i = 0; i < vocab; ++i) {
        if (row[i] > a) b = a, a = row[i];
        else if (row[i] > b) b = row[i];
        hf_f32_abs = std::max(hf_f32_abs, double(std::fabs(row[i] - hf32[r * std::size_t(vocab) + std::size_t(i)])));
      }
      margin[r] = a - b;
    }
    margin_floor = 2 * hf_f32_abs;  // a margin above Hugging Face's own bf16 error, twice: clear
    int clear = 0, agree = 0;
    auto compare_row = [&](std::size_t r, const std::vector<float>& got, std::int32_t chosen) {
      const float* row = hf.data() + r * std::size_t(vocab);
      const float* row32 = hf32.data() + r * std::size_t(vocab);
      std::int32_t best = 0;
      for (std::int64_t i = 0; i < vocab; ++i) {
        const double d = std::fabs(double(got[std::size_t(i)]) - row[i]);
        max_abs = std::max(max_abs, d);
        max_rel = std::max(max_rel, d / std::max(1.0, std::fabs(double(row[i]))));
        f32_abs = std::max(f32_abs, std::fabs(double(got[std::size_t(i)]) - row32[i]));
        if (row[i] > row[best]) best = std::int32_t(i);
      }
      if (margin[r] > margin_floor) ++clear, agree += chosen == best;
    };
    pre.run();
    cudaStreamSynchronize(st);
    compare_row(0, logits_of(pre.data("logits")), read_token(pre.data("tokens"), prompt));
    dec.sync_position();  // the prefill moved the shared position
    for (std::size_t s = 0; s < steps; ++s) {
      const std::int64_t at = prompt + std::int64_t(s);
      cudaMemcpyAsync(static_cast<std::int32_t*>(dec.data("tokens")) + at, &teacher[s], 4, cudaMemcpyHostToDevice, st);
      dec.run();
      cudaStreamSynchronize(st);
      compare_row(s + 1, logits_of(dec.data("logits")), read_token(dec.data("tokens"), at + 1));
    }
    pre.check();
    dec.check();
    const bool parity = f32_abs <= 2 * hf_f32_abs && agree == clear;
    std::printf("teacher-forced logits, %zu steps + the prefill's: vs Hugging Face bf16 max abs %.4g, max rel %.4g; vs the f32 forward "
                "%.4g (Hugging Face bf16: %.4g)\ngreedy tokens: %d of %d clear rows agree (top-2 margin > %.3g); parity: %s\n",
                steps, max_abs, max_rel, f32_abs, hf_f32_abs, agree, clear, margin_floor, parity ? "ok" : "FAILED");

    // Greedy decoding from the prompt, free-running: 1 prefill + 127 decode steps = 128 new tokens.
    constexpr int new_tokens = 128;
    auto generate_with = [&](auto& decoder) {
      pre.set_position(0);  // the prompt overwrites the history and the caches from row 0
      pre.run();
      decoder.set_position(prompt);  // what the prefill advanced it to (the host's copy, no read-back)
      for (int i = 1; i < new_tokens; ++i) decoder.run();
    };
    auto tok_s_with = [&](auto& decoder) {  // the median of 5 timed generations
      std::vector<double> seconds;
      for (int trial = 0; trial < 5; ++trial) {
        const auto a = std::chrono::steady_clock::now();
        generate_with(decoder);
        cudaStreamSynchronize(st);
        seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
      }
      return new_tokens / percentile(seconds, 0.5);
    };
    generate_with(dec);  // warm-up
    cudaStreamSynchronize(st);
    std::vector<std::int32_t> produced(std::size_t(prompt + new_tokens));
    cudaMemcpy(produced.data(), pre.data("tokens"), produced.size() * 4, cudaMemcpyDeviceToHost);
    std::size_t same = 0;
    while (same < steps && produced[std::size_t(prompt) + same] == teacher[same]) ++same;
    const double tok_s = tok_s_with(dec);
    // The same decode plan without parallel branches: every kernel one after another, each a
    // programmatic dependent of the one before (no joins); the same tokens.
    auto serial = ctg::instantiate<decode::model, ctg::plan_options{.branches = 1}>(st, weights.bindings(pre.state_bindings()));
    generate_with(serial);
    cudaStreamSynchronize(st);
    std::vector<std::int32_t> serial_tokens(produced.size());
    cudaMemcpy(serial_tokens.data(), pre.data("tokens"), serial_tokens.size() * 4, cudaMemcpyDeviceToHost);
    const double serial_tok_s = tok_s_with(serial);
    std::printf("without parallel branches: %.1f tok/s, the same %zu tokens: %s\n", serial_tok_s, produced.size(),
                serial_tokens == produced ? "yes" : "NO");
    // Per-token latency: GPU time of each decode step, events between the replays.
    std::vector<cudaEvent_t> ev(new_tokens);
    for (auto& e : ev) cudaEventCreate(&e);
    pre.set_position(0);
    pre.run();
    dec.set_position(prompt);
    cudaEventRecord(ev[0], st);
    for (int i = 1; i < new_tokens; ++i) {
      dec.run();
      cudaEventRecord(ev[std::size_t(i)], st);
    }
    cudaStreamSynchronize(st);
    std::vector<double> step_us;
    for (int i = 1; i < new_tokens; ++i) {
      float ms = 0;
      cudaEventElapsedTime(&ms, ev[std::size_t(i - 1)], ev[std::size_t(i)]);
      step_us.push_back(1000.0 * ms);
    }
    for (auto& e : ev) cudaEventDestroy(e);
    const double p50 = percentile(step_us, 0.5), p99 = percentile(step_us, 0.99);
    // The matmuls' share of a step: their times as measured at instantiation, over the step's;
    // layer 0's and the head's, each with the kernel that runs it.
    double matmul_us = 0;
    for (int s = 0; s < decode_plan.step_count(); ++s) {
      const auto& n = decode_plan.node(decode_plan.node_at(s));
      if (n.op_name != "linear") continue;
      const auto& m = dec.prepared_state<ctg::matmul_state>(n.name);
      const double us = m.chosen_us();
      matmul_us += us;
      if (n.name.starts_with("layers.0.") || n.name == "logits")
        std::printf("  %-20.*s [1,%lld]x[%lld,%lld]^T: %s %.1f us (gemv %.1f, skinny %.1f, cuBLASLt %.1f)\n", int(n.name.size()),
                    n.name.data(), (long long)m.k, (long long)m.n, (long long)m.k, std::string(ctg::name_of(m.kernel)).c_str(), us,
                    m.gemv_us, m.skinny_us, m.cublaslt_us);
    }
    // Where a step's time goes, node by node (events between the nodes: no overlap, so the sum
    // is above the step's time): by op, and layer 0's nodes.
    pre.set_position(0);
    pre.run();
    dec.set_position(prompt);
    const auto times = dec.profile(20);
    std::vector<std::pair<std::string, double>> by_op;
    double profiled = 0;
    for (const auto& t : times) {
      profiled += t.us;
      auto it = std::find_if(by_op.begin(), by_op.end(), [&](const auto& o) { return o.first == t.op_name; });
      if (it == by_op.end()) by_op.emplace_back(std::string(t.op_name), t.us);
      else it->second += t.us;
      if (t.name.starts_with("layers.0.")) std::printf("  profile %-28.*s %6.1f us\n", int(t.name.size()), t.name.data(), t.us);
    }
    std::sort(by_op.begin(), by_op.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    std::printf("profile: %zu launches, %.1f us in all, one after another;", times.size(), profiled);
    for (const auto& [op, us] : by_op) std::printf(" %s %.1f", op.c_str(), us);
    std::printf("\n");
    const double instantiate_ms = std::chrono::duration<double, std::milli>(t2 - t1).count();
    std::printf("greedy decoding: %.1f tok/s (128 new tokens from a 32-token prompt, %zu of the first %zu as Hugging Face's); "
                "decode step p50 %.1f us, p99 %.1f us; matmuls %.0f%% of a step (%.1f us as timed at instantiation); "
                "weights %.2f GB loaded in %.0f ms; both plans instantiated in %.0f ms\n",
                tok_s, same, steps, p50, p99, 100.0 * matmul_us / p50, matmul_us, weights.bytes() / 1e9,
                std::chrono::duration<double, std::milli>(t1 - t0).count(), instantiate_ms);

    // A step past the cache is refused on the host, before anything is launched; the state stays.
    dec.set_position(context);  // the cache holds rows 0 .. context - 1
    bool refused = false;
    try {
      dec.run();
    } catch (const ctg::runtime_error& e) {
      refused = true;
      std::printf("a step past the cache refused: %s\n", e.what());
    }
    if (!refused) std::printf("a step past the cache NOT refused: FAILED\n");
    dec.set_position(prompt);
    dec.run();
    dec.check();

    if (!json.empty()) {
      if (std::FILE* f = std::fopen(json.c_str(), "w")) {
        std::fprintf(f,
                     "{\"llama_decode.ctgraph.tok_s\": %.2f, \"llama_decode.ctgraph.p50_token_us\": %.2f, \"llama_decode.ctgraph.p99_token_us\": %.2f,\n"
                     " \"llama_decode.ctgraph.instantiate_ms\": %.1f, \"llama_decode.ctgraph.matmul_share\": %.4f,\n"
                     " \"llama_decode.ctgraph_serial.tok_s\": %.2f,\n"
                     " \"llama_decode.logits_max_abs_err\": %.5g, \"llama_decode.logits_max_rel_err\": %.5g,\n"
                     " \"llama_decode.ctgraph.logits_f32_max_abs_err\": %.5g, \"llama_decode.hf_bf16.logits_f32_max_abs_err\": %.5g,\n"
                     " \"llama_decode.greedy_clear_rows\": %d, \"llama_decode.greedy_clear_agree\": %d, \"llama_decode.greedy_same_prefix\": %zu}\n",
                     tok_s, p50, p99, instantiate_ms, matmul_us / p50, serial_tok_s, max_abs, max_rel, f32_abs, hf_f32_abs, clear, agree, same);
        std::fclose(f);
      }
    }
    cudaStreamDestroy(st);
    return parity && refused && serial_tokens == produced ? 0 : 1;
  } catch (const std::exception& e) {
    std::printf("error: %s\n", e.what());
    return 1;
  }
}
