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
#include <utility>
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
// Shards > 1: one rank's share of a tensor-parallel plan (llama_tp, below main's helpers).
template <std::size_t I, std::int64_t Shards = 1>
using k_cache = state<indexed<"k_cache.", I>, bf16, shape<context, kv_heads / Shards * head_dim>>;
template <std::size_t I, std::int64_t Shards = 1>
using v_cache = state<indexed<"v_cache.", I>, bf16, shape<context, kv_heads / Shards * head_dim>>;

//! Layer I on x [T, hidden], T tokens at pos .. pos + T - 1: h = x + o_proj(attention); out = h +
//! down_proj(silu(gate_proj(n)) * up_proj(n)), n = post_attention_layernorm(h). Each residual add is
//! its projection's (the matmul adds it); silu and the product are one fused kernel. `attention`
//! and `mlp_half` stop before the projections back to hidden; with Shards > 1 they hold one
//! rank's heads and MLP columns.
template <class X, std::size_t I, std::int64_t Shards = 1>
struct attention {
  static constexpr std::int64_t rank_heads = heads / Shards, rank_kv_heads = kv_heads / Shards;
  struct norm : node<name<I, ".input_layernorm">, ops::rms_norm<1e-5f>, X, param<I, ".input_layernorm.weight", hidden>> {};
  struct q : node<name<I, ".q_proj">, ops::linear<true>, norm, param<I, ".self_attn.q_proj.weight", rank_heads * head_dim, hidden>> {};
  struct k : node<name<I, ".k_proj">, ops::linear<true>, norm, param<I, ".self_attn.k_proj.weight", rank_kv_heads * head_dim, hidden>> {};
  struct v : node<name<I, ".v_proj">, ops::linear<true>, norm, param<I, ".self_attn.v_proj.weight", rank_kv_heads * head_dim, hidden>> {};
  struct q_rope : node<name<I, ".q_rope">, ops::rotary<head_dim>, q, pos> {};
  struct k_rope : node<name<I, ".k_rope">, ops::rotary<head_dim>, k, pos> {};
  struct k_put : node<name<I, ".k_put">, ops::cache_write<0>, k_cache<I, Shards>, pos, k_rope> {};
  struct v_put : node<name<I, ".v_put">, ops::cache_write<0>, v_cache<I, Shards>, pos, v> {};
  struct attn : node<name<I, ".attn">, ops::cache_attention<rank_heads, rank_kv_heads>, q_rope, k_put, v_put, pos> {};
};
template <class X, std::size_t I>
struct attention_half : attention<X, I> {
  struct out : node<name<I, ".o_proj">, ops::linear<true>, typename attention<X, I>::attn, param<I, ".self_attn.o_proj.weight", hidden, hidden>, X> {};
};
template <class H, std::size_t I, std::int64_t Shards = 1>
struct mlp_half {
  struct norm : node<name<I, ".post_attention_layernorm">, ops::rms_norm<1e-5f>, H, param<I, ".post_attention_layernorm.weight", hidden>> {};
  struct gate : node<name<I, ".gate_proj">, ops::linear<true>, norm, param<I, ".mlp.gate_proj.weight", ffn / Shards, hidden>> {};
  struct up : node<name<I, ".up_proj">, ops::linear<true>, norm, param<I, ".mlp.up_proj.weight", ffn / Shards, hidden>> {};
  struct act : node<name<I, ".act">, ops::silu, gate> {};
  struct gated : node<name<I, ".gated">, ops::mul, act, up> {};
};
template <class X, std::size_t I>
struct layer : node<name<I, ".down_proj">, ops::linear<true>, typename mlp_half<typename attention_half<X, I>::out, I>::gated,
                    param<I, ".mlp.down_proj.weight", hidden, ffn>, typename attention_half<X, I>::out> {};

template <class X>
struct final_norm : node<"norm", ops::rms_norm<1e-5f>, repeat<layers, layer, X>, final_weight> {};

//! The two plans of a model whose layers and final norm are `Body<embedded tokens>`.
template <template <class> class Body>
struct decoder {
  //! The prefill plan: the prompt into the history and the caches, logits of its last token, the
  //! first new token written after it; the position moves past the prompt.
  struct prefill {
    using prompt_ids = input<"prompt", i32, shape<prompt>>;
    struct history : node<"tokens.prompt", ops::cache_write<0>, tokens, pos, prompt_ids> {};
    struct embed : node<"embed", ops::embedding, prompt_ids, embed_tokens> {};
    struct last : node<"last", ops::slice<0, prompt - 1, prompt>, Body<embed>> {};
    struct logits : node<"logits", ops::linear<true>, last, lm_head> {};
    struct choice : node<"choice", ops::argmax, logits> {};
    struct put : node<"tokens.next", ops::cache_write<0, prompt>, history, pos, choice> {};
    struct next : node<"advance", ops::advance<prompt>, pos, put> {};
    using model = graph<logits, next>;
  };
  //! The decode plan: one token, read from the history at the position; the next one written after it.
  struct decode {
    struct token : node<"token", ops::cache_read<0, 1>, tokens, pos> {};
    struct embed : node<"embed", ops::embedding, token, embed_tokens> {};
    struct logits : node<"logits", ops::linear<true>, Body<embed>, lm_head> {};
    struct choice : node<"choice", ops::argmax, logits> {};
    struct put : node<"tokens.next", ops::cache_write<0, 1>, tokens, pos, choice> {};
    struct next : node<"advance", ops::advance<1>, pos, put> {};
    using model = graph<logits, next>;
  };
};
using prefill = decoder<final_norm>::prefill;
using decode = decoder<final_norm>::decode;

constexpr auto prefill_plan = make_plan<prefill::model>();
constexpr auto decode_plan = make_plan<decode::model>();
static_assert(prefill_plan.partition_count() == 1 && decode_plan.partition_count() == 1);  // one CUDA graph each
static_assert(!check_plan(prefill_plan) && !check_plan(decode_plan));
static_assert(decode_plan.state_count() == 2 * layers + 2 && prefill_plan.state_count() == decode_plan.state_count());
static_assert(decode_plan.output_of<decode::logits>() == tensor_desc{dtype_id::bf16, 2, {1, vocab}});
// In the decode step each RMS norm runs in the prologues of the projections that read it (q, k,
// v; gate, up; the head) and silu(gate) * up in the down projection's, with no kernel of their
// own; in both plans attention rotates its queries as it loads them and the key cache write its
// keys as it stores them (q_rope and k_rope have no kernel). In the prefill (32 rows, more than
// the gemv takes) silu(gate) * up is one kernel in every layer.
static_assert(decode_plan.fused_group_count() == 0 && decode_plan.prologue_count() == 6 * int(layers) + 1);
static_assert(prefill_plan.fused_group_count() == int(layers));
static_assert(prefill_plan.prologue_count() == 2 * int(layers));  // 32 rows: more than the gemv takes
static_assert(decode_plan.arena_bytes(memory_class::device) == decode_plan.lower_bound(memory_class::device));
// In the decode step q, k and v (one normalised row) are one gemv launch, gate and up another
// (sibling products): each layer's k, v and up run in their lead's launch. Not in the prefill.
static_assert(decode_plan.sibling_count() == 3 * int(layers) && prefill_plan.sibling_count() == 0);
// In the decode step each layer's attention writes the new token's key (rotated) and value into
// the caches itself: k_put and v_put launch nothing. Not in the prefill (32 new tokens each).
static_assert(decode_plan.written_in_attention_count() == 2 * int(layers) && prefill_plan.written_in_attention_count() == 0);
// So a decode step is one chain of launches: a sibling runs on its lead's branch, and nothing is
// left to run beside another (every kernel a programmatic dependent of the one before).
static_assert(decode_plan.branch_count() == 1 && prefill_plan.branch_count() == 4);
// All told, a decode step launches 5 kernels a layer (q/k/v, attention with its cache writes,
// o_proj, gate/up, down) and 6 around them (the token's read, the embedding, the head, argmax,
// the token's write into the history and the position's advance): 116 (decode_timeline counts
// the same from CUPTI's records of the replayed step; 160 with the cache writes as launches).
static_assert(decode_plan.launch_count() == 5 * int(layers) + 6);
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

// ---- Tensor parallel (Megatron-style) --------------------------------------------------------
// The same model sharded over W ranks, W known at compile time: each rank holds 32/W query heads,
// 4/W K/V heads and 5632/W of the MLP; q/k/v and gate/up are column-parallel (this rank's rows of
// the Hugging Face weights), o_proj and down_proj row-parallel (its columns): their partial sums
// are written straight into symmetric memory and all-reduced, then the residual is added once.
// Embedding, norms and lm_head are replicated. One process per GPU, launched by torchrun or
// mpirun (ctg::launched_communicator); on one GPU it runs as one rank. Plans for W = 1 and 2 only,
// and only in the target 08_llama_tp (CTGRAPH_LLAMA_TP=1): with them the file takes nvcc about
// 3.6 times as long and up to 23.6 GB, more than every other build should pay.
#if CTGRAPH_NCCL && CTGRAPH_LLAMA_TP
namespace llama_tp {
using namespace ctg;
using llama::final_weight, llama::hidden, llama::layers, llama::name, llama::param, llama::prompt, llama::vocab;

template <std::int64_t W>
struct sharded {
  static_assert(llama::heads % W == 0 && llama::kv_heads % W == 0 && llama::ffn % W == 0,
                "llama_tp: the world size must divide the heads (32), the K/V heads (4) and the MLP (5632)");
  static constexpr std::int64_t ffn = llama::ffn / W;
  // This rank's heads and MLP columns (llama::attention, llama::mlp_half); the row-parallel
  // projections write their partial sums into the symmetric window the all_reduce reads, and
  // the residual is added once, after it.
  template <class X, std::size_t I>
  struct attention_half : llama::attention<X, I, W> {
    struct partial : node<name<I, ".o_proj">, ops::linear<true>, typename llama::attention<X, I, W>::attn, param<I, ".self_attn.o_proj.weight", hidden, hidden / W>> {};
    struct sum : node<name<I, ".o_proj.all_reduce">, ops::all_reduce, partial> {};
    struct out : node<name<I, ".attn_residual">, ops::add, sum, X> {};
  };
  template <class H, std::size_t I>
  struct mlp_half : llama::mlp_half<H, I, W> {
    struct partial : node<name<I, ".down_proj">, ops::linear<true>, typename llama::mlp_half<H, I, W>::gated, param<I, ".mlp.down_proj.weight", hidden, ffn>> {};
    struct sum : node<name<I, ".down_proj.all_reduce">, ops::all_reduce, partial> {};
  };
  template <class X, std::size_t I>
  struct layer : node<name<I, ".mlp_residual">, ops::add, typename mlp_half<typename attention_half<X, I>::out, I>::sum,
                      typename attention_half<X, I>::out> {};
  template <class X>
  struct final_norm : node<"norm", ops::rms_norm<1e-5f>, repeat<layers, layer, X>, final_weight> {};
  using prefill = typename llama::decoder<final_norm>::prefill;
  using decode = typename llama::decoder<final_norm>::decode;
  static constexpr auto prefill_plan = make_plan<typename prefill::model>();
  static constexpr auto decode_plan = make_plan<typename decode::model>();
  // One CUDA graph each, the all_reduces included; the plans are sound.
  static_assert(prefill_plan.partition_count() == 1 && decode_plan.partition_count() == 1);
  static_assert(!check_plan(prefill_plan) && !check_plan(decode_plan));
  // The row-parallel projections write straight into symmetric memory: no copy into the window,
  // and all 44 partial sums share one buffer of the window (its size a compile-time constant).
  using first = attention_half<typename decode::embed, 0>;
  static_assert(decode_plan.template memory_of<typename first::partial>() == memory_class::symmetric);
  static_assert(decode_plan.template memory_of<typename mlp_half<typename first::out, 0>::partial>() == memory_class::symmetric);
  static_assert(prefill_plan.copy_count() == 0 && decode_plan.copy_count() == 0);
  static_assert(decode_plan.arena_bytes(memory_class::symmetric) == hidden * 2 && prefill_plan.arena_bytes(memory_class::symmetric) == prompt * hidden * 2);
  static_assert(decode_plan.state_count() == llama::decode_plan.state_count());
  static_assert(decode_plan.arena_bytes(memory_class::device) == decode_plan.lower_bound(memory_class::device));

  //! This rank's slice of each Hugging Face tensor: rows of the column-parallel weights, columns
  //! of the row-parallel ones, the rest whole.
  static slice_rule slices(int rank) {
    // Arrays, not braced lists: nvcc 13 rejects `for (x : {a, b})` inside a template.
    static constexpr std::string_view column[] = {".q_proj.weight", ".k_proj.weight", ".v_proj.weight", ".gate_proj.weight", ".up_proj.weight"};
    static constexpr std::string_view row[] = {".o_proj.weight", ".down_proj.weight"};
    return [rank](std::string_view n) {
      for (std::string_view c : column)
        if (n.ends_with(c)) return tensor_slice{0, rank, int(W)};
      for (std::string_view r : row)
        if (n.ends_with(r)) return tensor_slice{1, rank, int(W)};
      return tensor_slice{};
    };
  }
};

//! Hugging Face's reference (tests/bench/llama_reference.py): the prompt, the teacher tokens, its
//! bf16 logits and its f32 forward's, and each row's top-2 margin.
struct reference {
  std::vector<std::int32_t> prompt_ids, teacher;
  std::vector<float> bf16, f32, margin;
  double bf16_error = 0;  // Hugging Face's bf16 logits against its f32 forward: the tolerance's unit
  explicit reference(const std::string& dir) {
    const safetensors_file token_file(dir + "/llama_tokens.safetensors"), logit_file(dir + "/llama_logits.safetensors");
    prompt_ids = example::read_tensor<std::int32_t>(token_file, "prompt");
    teacher = example::read_tensor<std::int32_t>(token_file, "teacher");
    bf16 = example::read_tensor<float>(logit_file, "logits");
    f32 = example::read_tensor<float>(logit_file, "logits_f32");
    if (prompt_ids.size() != std::size_t(prompt) || bf16.size() != rows() * std::size_t(vocab) || f32.size() != bf16.size())
      throw load_error(token_file.path(), "prompt", "does not match the plans (32 prompt tokens, logits [steps + 1, 32000])");
    for (std::size_t r = 0; r < rows(); ++r) {
      const float* row = &bf16[r * std::size_t(vocab)];
      const auto top = std::max_element(row, row + vocab);
      float second = -INFINITY;
      for (const float* x = row; x != row + vocab; ++x)
        if (x != top) second = std::max(second, *x);
      margin.push_back(*top - second);
      for (std::size_t i = r * std::size_t(vocab); i < (r + 1) * std::size_t(vocab); ++i) bf16_error = std::max(bf16_error, double(std::fabs(bf16[i] - f32[i])));
    }
  }
  std::size_t rows() const { return teacher.size() + 1; }  // the prefill's row, then one per step
};

//! A run's logits against the reference, measured as the unsharded check measures them: within
//! twice Hugging Face's own bf16 error of the f32 forward, and the greedy token wherever the
//! top-2 margin is clear (above twice that error).
struct parity {
  double max_abs = 0, max_rel = 0, f32_abs = 0;
  int clear = 0, agree = 0;
  void add(const reference& ref, std::size_t r, const std::vector<float>& got, std::int32_t chosen) {
    const float* want = &ref.bf16[r * std::size_t(vocab)];
    const float* want32 = &ref.f32[r * std::size_t(vocab)];
    for (std::size_t i = 0; i < got.size(); ++i) {
      const double d = std::fabs(double(got[i]) - want[i]);
      max_abs = std::max(max_abs, d);
      max_rel = std::max(max_rel, d / std::max(1.0, std::fabs(double(want[i]))));
      f32_abs = std::max(f32_abs, std::fabs(double(got[i]) - want32[i]));
    }
    if (ref.margin[r] > 2 * ref.bf16_error) ++clear, agree += chosen == std::max_element(want, want + vocab) - want;
  }
  bool ok(const reference& ref) const { return f32_abs <= 2 * ref.bf16_error && agree == clear; }
};

//! Whether `n` i32 at `device` are the same on every rank: their max and min over the ranks
//! (ncclAllReduce) equal this rank's own.
inline bool same_on_every_rank(const launched_communicator& comm, const std::int32_t* device, std::size_t n, cudaStream_t st) {
  if (comm.world_size() == 1) return true;
  const allocation extremes(allocation_kind::device, 2 * n * sizeof(std::int32_t), "same_on_every_rank");
  auto* hi = static_cast<std::int32_t*>(extremes.get());
  CTG_CHECK("same_on_every_rank", ncclAllReduce(device, hi, n, ncclInt32, ncclMax, comm.get(), st));
  CTG_CHECK("same_on_every_rank", ncclAllReduce(device, hi + n, n, ncclInt32, ncclMin, comm.get(), st));
  std::vector<std::int32_t> own(n), both(2 * n);
  CTG_CHECK("same_on_every_rank", cudaMemcpyAsync(own.data(), device, n * 4, cudaMemcpyDeviceToHost, st));
  CTG_CHECK("same_on_every_rank", cudaMemcpyAsync(both.data(), hi, 2 * n * 4, cudaMemcpyDeviceToHost, st));
  CTG_CHECK("same_on_every_rank", cudaStreamSynchronize(st));
  return std::equal(own.begin(), own.end(), both.begin()) && std::equal(own.begin(), own.end(), both.begin() + std::ptrdiff_t(n));
}

constexpr int new_tokens = 128;  // greedy decoding: 1 prefill + 127 decode steps

//! This rank's run of the sharded plans: teacher-forced parity against Hugging Face, then greedy
//! decoding timed (tok/s); with several ranks, the tokens checked identical on every rank.
template <std::int64_t W>
int run(const launched_communicator& comm, const std::string& dir, const std::string& json) {
  using m = sharded<W>;
  const bool lead = comm.rank() == 0;
  const auto t0 = std::chrono::steady_clock::now();
  const device_weights weights(m::prefill_plan, dir + "/llama_weights.safetensors", m::slices(comm.rank()));
  const auto t1 = std::chrono::steady_clock::now();
  const reference ref(dir);
  const allocation device_prompt(allocation_kind::device, prompt * sizeof(std::int32_t), "08_llama_decode tp");
  auto* prompt_ptr = static_cast<std::int32_t*>(device_prompt.get());
  CTG_CHECK("08_llama_decode tp", cudaMemcpy(prompt_ptr, ref.prompt_ids.data(), prompt * 4, cudaMemcpyHostToDevice));
  cudaStream_t st = nullptr;
  CTG_CHECK("08_llama_decode tp", cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
  bool ok = false;
  {
    auto pre = instantiate<typename m::prefill::model>(st, weights.bindings({bind("prompt", prompt_ptr, prompt)}), comm.ref());
    auto dec = instantiate<typename m::decode::model>(st, weights.bindings(pre.state_bindings()), comm.ref());  // shared state
    const auto t2 = std::chrono::steady_clock::now();

    parity par;
    pre.run();
    CTG_CHECK("08_llama_decode tp", cudaStreamSynchronize(st));
    par.add(ref, 0, logits_of(pre.data("logits")), read_token(pre.data("tokens"), prompt));
    dec.sync_position();
    for (std::size_t s = 0; s + 1 < ref.rows(); ++s) {
      const std::int64_t at = prompt + std::int64_t(s);
      CTG_CHECK("08_llama_decode tp", cudaMemcpyAsync(static_cast<std::int32_t*>(dec.data("tokens")) + at, &ref.teacher[s], 4, cudaMemcpyHostToDevice, st));
      dec.run();
      CTG_CHECK("08_llama_decode tp", cudaStreamSynchronize(st));
      par.add(ref, s + 1, logits_of(dec.data("logits")), read_token(dec.data("tokens"), at + 1));
    }
    pre.check();
    dec.check();

    auto generate = [&] {
      pre.set_position(0);
      pre.run();
      dec.set_position(prompt);
      for (int i = 1; i < new_tokens; ++i) dec.run();
    };
    generate();  // warm-up
    CTG_CHECK("08_llama_decode tp", cudaStreamSynchronize(st));
    std::vector<std::int32_t> produced(std::size_t(prompt + new_tokens));
    CTG_CHECK("08_llama_decode tp", cudaMemcpy(produced.data(), pre.data("tokens"), produced.size() * 4, cudaMemcpyDeviceToHost));
    std::size_t same = 0;
    while (same < ref.teacher.size() && produced[std::size_t(prompt) + same] == ref.teacher[same]) ++same;
    const bool agreed = same_on_every_rank(comm, static_cast<const std::int32_t*>(pre.data("tokens")), produced.size(), st);
    std::vector<double> seconds;
    for (int trial = 0; trial < 5; ++trial) {
      const auto a = std::chrono::steady_clock::now();
      generate();
      CTG_CHECK("08_llama_decode tp", cudaStreamSynchronize(st));
      seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
    }
    const double tok_s = new_tokens / percentile(seconds, 0.5);
    ok = par.ok(ref) && agreed;
    if (lead)
      std::printf("tensor parallel, %d rank(s) (%.*s): teacher-forced logits vs Hugging Face bf16 max abs %.4g, max rel %.4g; vs the f32 forward %.4g "
                  "(Hugging Face bf16: %.4g)\ngreedy tokens: %d of %d clear rows agree; %zu of the first %zu as Hugging Face's; identical on every rank: %s; parity: %s\n"
                  "greedy decoding: %.1f tok/s (128 new tokens); weights %.2f GB per rank loaded in %.0f ms; both plans instantiated in %.0f ms\n",
                  comm.world_size(), int(comm.environment().launcher.size()), comm.environment().launcher.data(), par.max_abs, par.max_rel, par.f32_abs,
                  ref.bf16_error, par.agree, par.clear, same, ref.teacher.size(), agreed ? "yes" : "NO", ok ? "ok" : "FAILED", tok_s,
                  double(weights.bytes()) / 1e9, std::chrono::duration<double, std::milli>(t1 - t0).count(),
                  std::chrono::duration<double, std::milli>(t2 - t1).count());
    if (!lead && !ok) std::printf("rank %d: parity FAILED\n", comm.rank());
    if (lead && !json.empty())
      if (std::FILE* f = std::fopen(json.c_str(), "w")) {
        std::fprintf(f, "{\"llama_decode.tp%d.tok_s\": %.2f, \"llama_decode.tp%d.logits_max_abs_err\": %.5g, \"llama_decode.tp%d.logits_f32_max_abs_err\": %.5g,\n"
                        " \"llama_decode.tp%d.greedy_clear_rows\": %d, \"llama_decode.tp%d.greedy_clear_agree\": %d, \"llama_decode.tp%d.greedy_same_prefix\": %zu}\n",
                     int(W), tok_s, int(W), par.max_abs, int(W), par.f32_abs, int(W), par.clear, int(W), par.agree, int(W), same);
        std::fclose(f);
      }
  }
  cudaStreamDestroy(st);
  return ok ? 0 : 1;
}

//! --tp, or a launcher's environment (torchrun's WORLD_SIZE, Open MPI's OMPI_COMM_WORLD_SIZE).
inline bool requested(int argc, char** argv) {
  return std::getenv("WORLD_SIZE") || std::getenv("OMPI_COMM_WORLD_SIZE") || std::find(argv + 1, argv + argc, std::string_view("--tp")) != argv + argc;
}

int run_example(int argc, char** argv) {
  std::printf("tensor-parallel plans (Megatron-style, all_reduce inputs in symmetric memory): 1 rank: prefill %d steps, decode %d steps; "
              "2 ranks: prefill %d steps, decode %d steps; each one CUDA graph\n",
              sharded<1>::prefill_plan.step_count(), sharded<1>::decode_plan.step_count(), sharded<2>::prefill_plan.step_count(),
              sharded<2>::decode_plan.step_count());
  if (!example::gpu_present(argc, argv)) return 0;
  const std::string dir = example::arg(argc, argv, "--dir", "llama_out"), json = example::arg(argc, argv, "--json", "");
  if (!std::filesystem::exists(dir + "/llama_weights.safetensors")) {
    std::printf("no reference files in %s: write them with tests/bench/llama_reference.py --out %s; skipped\n", dir.c_str(), dir.c_str());
    return 77;
  }
  setenv("NCCL_NVLS_ENABLE", "0", 1);  // no NVLink multicast
  int rank = 0;
  try {
    const launch_environment env = read_launch_environment();
    rank = env.rank;
    if (env.world_size != 1 && env.world_size != 2) {
      std::printf("rank %d: error: world size %d (%.*s): this example compiles the tensor-parallel plans for 1 and 2 ranks only (each plan costs "
                  "seconds of compile time). Launch 1 or 2 processes, or add sharded<%d> to llama_tp::run_example (the world size must divide 4, "
                  "the K/V heads)\n",
                  rank, env.world_size, int(env.launcher.size()), env.launcher.data(), env.world_size);
      return 1;
    }
    const launched_communicator comm(env);
    return env.world_size == 2 ? run<2>(comm, dir, json) : run<1>(comm, dir, json);
  } catch (const std::exception& e) {
    std::printf("rank %d: error: %s\n", rank, e.what());
    return 1;
  }
}
}  // namespace llama_tp
#else
namespace llama_tp {
inline bool requested(int argc, char** argv) {
  return std::getenv("WORLD_SIZE") || std::getenv("OMPI_COMM_WORLD_SIZE") || std::find(argv + 1, argv + argc, std::string_view("--tp")) != argv + argc;
}
inline int run_example(int, char**) {
  if (!CTGRAPH_NCCL)
    std::printf("error: --tp needs NCCL >= 2.28.9, and this build has none (CTGRAPH_NCCL is 0): configure with NCCL_ROOT naming it\n");
  else
    std::printf("error: this build of the example has no tensor-parallel plans: build the target 08_llama_tp (the same file with CTGRAPH_LLAMA_TP=1)\n");
  return 1;
}
}  // namespace llama_tp
#endif
// ---- end of tensor parallel ------------------------------------------------------------------

int main(int argc, char** argv) {
  using namespace llama;
  std::cout << "== prefill plan\n" << prefill_plan << "== decode plan\n" << decode_plan;
  std::printf("Llama (TinyLlama-1.1B shape): prefill %d steps, decode %d steps (%d launches), %d fused groups per step; state %d tensors; "
              "device arena %zu (prefill) and %zu (decode) bytes, each at its lower bound\n",
              prefill_plan.step_count(), decode_plan.step_count(), decode_plan.launch_count(), decode_plan.fused_group_count(), decode_plan.state_count(),
              prefill_plan.arena_bytes(ctg::memory_class::device), decode_plan.arena_bytes(ctg::memory_class::device));
  if (llama_tp::requested(argc, argv)) return llama_tp::run_example(argc, argv);  // tensor parallel: llama_tp, above main
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
    // Another executor of the decode plan: the tokens it generates, then its tokens/s.
    const auto variant = [&](auto& ex) {
      generate_with(ex);
      cudaStreamSynchronize(st);
      std::vector<std::int32_t> tokens(produced.size());
      cudaMemcpy(tokens.data(), pre.data("tokens"), tokens.size() * 4, cudaMemcpyDeviceToHost);
      return std::pair{tokens, tok_s_with(ex)};
    };
    auto serial = ctg::instantiate<decode::model, ctg::plan_options{.branches = 1}>(st, weights.bindings(pre.state_bindings()));
    const auto [serial_tokens, serial_tok_s] = variant(serial);
    std::printf("without parallel branches: %.1f tok/s, the same %zu tokens: %s\n", serial_tok_s, produced.size(),
                serial_tokens == produced ? "yes" : "NO");
    // And with each product its own launch (no sibling products): q, k, v and gate, up as
    // separate gemvs on parallel branches, as before they were grouped. Their K-splits may differ
    // from the grouped launch's, so the sums (and tokens) may differ in the last bits.
    auto apart = ctg::instantiate<decode::model, ctg::plan_options{.siblings = false}>(st, weights.bindings(pre.state_bindings()));
    const auto [apart_tokens, apart_tok_s] = variant(apart);
    std::printf("without sibling products: %.1f tok/s, the same %zu tokens: %s\n", apart_tok_s, produced.size(),
                apart_tokens == produced ? "yes" : "no");
    // And with the cache writes as launches of their own: the same arithmetic, so the same tokens.
    auto writes = ctg::instantiate<decode::model, ctg::plan_options{.cache_writes = false}>(st, weights.bindings(pre.state_bindings()));
    const auto [writes_tokens, writes_tok_s] = variant(writes);
    std::printf("with the cache writes as launches of their own: %.1f tok/s, the same %zu tokens: %s\n", writes_tok_s, produced.size(),
                writes_tokens == produced ? "yes" : "NO");
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
    // Layer 0's products and the head's, each with the kernel that runs it and the times measured
    // at instantiation (a lead of sibling products runs the gemv untimed; its siblings, no launch).
    for (int s = 0; s < decode_plan.step_count(); ++s) {
      const int v = decode_plan.node_at(s);
      const auto& n = decode_plan.node(v);
      if (n.op->name != "linear" || !(n.name.starts_with("layers.0.") || n.name == "logits")) continue;
      if (const int lead = decode_plan.graph.sibling_lead[v]; lead >= 0) {
        std::printf("  %-20.*s in the launch of '%.*s'\n", int(n.name.size()), n.name.data(), int(decode_plan.node(lead).name.size()),
                    decode_plan.node(lead).name.data());
        continue;
      }
      const auto& m = dec.prepared_state<ctg::matmul_state>(n.name);
      std::printf("  %-20.*s [1,%lld]x[%lld,%lld]^T: %s (%d blocks of %d warps, K split %d), %d sibling(s), %.1f us (gemv %.1f, skinny %.1f, cuBLASLt %.1f)\n",
                  int(n.name.size()), n.name.data(), (long long)m.k, (long long)m.n, (long long)m.k, std::string(ctg::name_of(m.kernel)).c_str(),
                  m.gemv.blocks, m.gemv.warps, m.gemv.warps_k, m.sibling_count, m.chosen_us(), m.gemv_us, m.skinny_us, m.cublaslt_us);
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
    // The matmuls' share of a step: their launches' part of the profile (one after another).
    double matmul_us = 0;
    for (const auto& [op, us] : by_op) matmul_us += op == "linear" ? us : 0.0;
    const double matmul_share = profiled > 0 ? matmul_us / profiled : 0.0;
    std::printf("profile: %zu launches, %.1f us in all, one after another;", times.size(), profiled);
    for (const auto& [op, us] : by_op) std::printf(" %s %.1f", op.c_str(), us);
    std::printf("\n");
    const double instantiate_ms = std::chrono::duration<double, std::milli>(t2 - t1).count();
    std::printf("greedy decoding: %.1f tok/s (128 new tokens from a 32-token prompt, %zu of the first %zu as Hugging Face's); "
                "decode step p50 %.1f us, p99 %.1f us; matmuls %.0f%% of a step (%.1f us of the profile's launches, one after another); "
                "weights %.2f GB loaded in %.0f ms; both plans instantiated in %.0f ms\n",
                tok_s, same, steps, p50, p99, 100.0 * matmul_share, matmul_us, weights.bytes() / 1e9,
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
                     " \"llama_decode.ctgraph_serial.tok_s\": %.2f, \"llama_decode.ctgraph_no_siblings.tok_s\": %.2f,\n"
                     " \"llama_decode.ctgraph_separate_cache_writes.tok_s\": %.2f,\n"
                     " \"llama_decode.logits_max_abs_err\": %.5g, \"llama_decode.logits_max_rel_err\": %.5g,\n"
                     " \"llama_decode.ctgraph.logits_f32_max_abs_err\": %.5g, \"llama_decode.hf_bf16.logits_f32_max_abs_err\": %.5g,\n"
                     " \"llama_decode.greedy_clear_rows\": %d, \"llama_decode.greedy_clear_agree\": %d, \"llama_decode.greedy_same_prefix\": %zu}\n",
                     tok_s, p50, p99, instantiate_ms, matmul_share, serial_tok_s, apart_tok_s, writes_tok_s, max_abs, max_rel, f32_abs, hf_f32_abs, clear, agree, same);
        std::fclose(f);
      }
    }
    cudaStreamDestroy(st);
    return parity && refused && serial_tokens == produced && writes_tokens == produced ? 0 : 1;
  } catch (const std::exception& e) {
    std::printf("error: %s\n", e.what());
    return 1;
  }
}
