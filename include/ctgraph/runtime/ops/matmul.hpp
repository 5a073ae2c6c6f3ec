#pragma once
//! The matmul op's runtime, through cuBLASLt: C[M,N] = A[M,K] x B[K,N], all row-major, one dtype
//! (f32, f16 or bf16), accumulated in f32; batched (A [Bt,M,K], B [Bt,K,N], C [Bt,M,N]) as one
//! strided-batch call (plain f32 for f32, never TF32, so results are exact
//! to f32 rounding). `prepare_matmul` checks the shapes and chooses descriptors and algorithm once
//! per node, at instantiation; `launch_matmul` then enqueues one cuBLASLt kernel and allocates
//! no device memory, so it can be captured into a CUDA graph. For skinny products (M <= 64 rows,
//! bf16 or f16) `prepare_matmul` also times ctgraph's own kernels (runtime/ops/skinny_matmul.cuh,
//! and for M <= 8 with W [N,K] runtime/ops/gemv.cuh) against the cuBLASLt call and keeps one where
//! it is clearly faster (`matmul_state::kernel`).
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <ctgraph/graph/memory_class.hpp>
#include <ctgraph/graph/ops/matmul.hpp>
#include <ctgraph/graph/ops/silu.hpp>
#include <ctgraph/runtime/capture.hpp>
#include <ctgraph/runtime/dtype.hpp>
#include <ctgraph/runtime/error.hpp>
#include <ctgraph/runtime/handles.hpp>
#include <ctgraph/runtime/launch_context.hpp>
#include <ctgraph/runtime/memory.hpp>
#include <ctgraph/runtime/ops/elementwise.cuh>
#include <ctgraph/runtime/ops/gemv.cuh>
#include <ctgraph/runtime/ops/norm.cuh>
#include <ctgraph/runtime/ops/pack_rows.cuh>
#include <ctgraph/runtime/ops/skinny_matmul.cuh>

namespace ctg {

//! The kernel that runs a matmul node: cuBLASLt's choice, ctgraph's skinny kernel
//! (runtime/ops/skinny_matmul.cuh: M <= 64 rows, bf16 or f16, K and N multiples of 8) or its gemv
//! (runtime/ops/gemv.cuh: M <= 8 rows, bf16 or f16, W [N,K], K a multiple of 8).
enum class matmul_kernel : std::uint8_t { cublaslt, skinny, gemv };

constexpr std::string_view name_of(matmul_kernel k) {
  return k == matmul_kernel::skinny ? "skinny" : k == matmul_kernel::gemv ? "gemv" : "cublaslt";
}

//! What `prepare_matmul` chose for one node.
struct matmul_state {
  std::int64_t m = 0, n = 0, k = 0, batch = 1;
  //! Bytes from one matrix of a batch to the next (cuBLASLt's A, B and D; 0 without a batch):
  //! every matrix but the first is only as aligned as its pointer and these allow.
  std::uint64_t stride_a = 0, stride_b = 0, stride_d = 0;
  lt_matmul_desc op;
  lt_layout b_layout, a_layout, c_layout;  // cuBLASLt's A, B and C/D (see prepare_matmul)
  cublasLtMatmulAlgo_t algo{};
  std::size_t workspace_bytes = 0;
  //! Which of cuBLASLt's heuristic candidates runs (0: its first choice) and the times measured
  //! at instantiation (`algo_us[i]` for candidate i; 0 where not timed).
  int algo_rank = 0;
  int algo_candidates = 0;
  float algo_us[8]{};
  std::uint32_t align_a = 0, align_b = 0, align_c = 0, align_d = 0;  // what the algorithm may assume
  const void* bias = nullptr;  // the epilogue's bias, fixed in `op`
  ops::epilogue act = ops::epilogue::none;  // the activation (the skinny kernel's epilogue)
  int residual = -1;           // the input added to the product (cuBLASLt's C, beta = 1), or -1
  //! Where C's rows are not 16-byte aligned (an odd vocabulary: GPT-2's 50,257), cuBLASLt's fast
  //! kernels do not apply. The product then goes to `aligned_c`, rows `pitch` elements apart, and
  //! `pack_rows` packs it into C.
  std::int64_t pitch = 0;
  lt_layout d_layout;  // D: C's layout, or aligned_c's
  allocation aligned_c;
  //! Where cuBLASLt writes the product (D): the output, or the aligned buffer.
  void* product(void* output) const { return pitch ? aligned_c.get() : output; }
  //! With a transposed W (a tied LM head), an output width that is not a whole number of 16-byte
  //! packs stays slow with an aligned pitch too (GPT-2's lm_head on an H200: 462 us with the
  //! aligned pitch and a 2-d copy, 65 us for a width of 50,264): the last `tail` (< 8) rows of W
  //! then go through a second, tiny call.
  std::int64_t tail = 0;
  lt_matmul_desc tail_op;
  lt_layout tail_b_layout, tail_d_layout;
  cublasLtMatmulAlgo_t tail_algo{};
  std::size_t tail_workspace_bytes = 0;

  //! The kernel that runs the node. `prepare_matmul` times cuBLASLt and those of ctgraph's kernels
  //! that can run it (where the environment variable CTGRAPH_MATMUL_KERNEL is unset or `auto`), in
  //! the order cuBLASLt, skinny, gemv, and keeps a later one only where it beats the one kept so
  //! far by 5 % (`detail::clearly_faster`); CTGRAPH_MATMUL_KERNEL=skinny, =gemv or =cublaslt forces
  //! one (skinny or gemv where it can run, else cuBLASLt).
  matmul_kernel kernel = matmul_kernel::cublaslt;
  //! GPU microseconds per launch that `prepare_matmul` measured (10 launches after 3 warm-ups, on
  //! the node's own pointers, the better of two rounds); 0 where it did not time them.
  float skinny_us = 0, cublaslt_us = 0, gemv_us = 0;
  //! The time measured for `kernel`: for cuBLASLt, against ctgraph's kernels, else (where only its
  //! candidates were timed) its candidate's; 0 where not timed.
  float chosen_us() const {
    return kernel == matmul_kernel::skinny ? skinny_us : kernel == matmul_kernel::gemv ? gemv_us : cublaslt_us > 0 ? cublaslt_us : algo_us[algo_rank];
  }
  //! Why `kernel` was chosen, in words: "timed", "forced by CTGRAPH_MATMUL_KERNEL" (or "by the
  //! caller"), or why ctgraph's kernels cannot run the node.
  const char* reason = "empty product";
  //! The skinny kernel's grid and split-K.
  skinny_matmul_config skinny;
  //! The gemv's grid and split of K.
  gemv_config gemv;
  //! Whether the skinny kernel (or the gemv) runs as a programmatic dependent of the kernel before it (PDL, see
  //! runtime/ops/skinny_matmul.cuh) where that is known to be safe: in a capture where the node
  //! follows exactly one kernel (`capture_follows_one_kernel`), and when `prepare_matmul` times
  //! it (back to back, as in a chain of matmuls); never in other eager launches, where the kernel
  //! before is unknown. It streams W before its wait only where `launch_context::input_fixed[1]`.
  //! CTGRAPH_PDL=0 turns it off (unset or 1: on), read by `prepare_matmul`.
  bool programmatic = true;
  //! A prologue (`ops::matmul_options::prologue_eps`): A's rows are RMS-normalised with this
  //! epsilon and the weight at input 1 of the launch. The gemv does it as it loads A; where
  //! another kernel runs the product, the normalisation runs first, into `normed`.
  float prologue_eps = 0.f;
  //! A gated prologue (`ops::matmul_options::prologue_gated`): A is silu(input 0) * input 1 of the
  //! launch, computed by the gemv as it loads A, or first, into `normed`.
  bool prologue_gated = false;
  allocation normed;
  //! Sibling products this launch computes too (`launch_context::siblings`, passes/fuse.hpp): in
  //! the gemv, whose rows of W go on into theirs (`sibling_count` of them), or where the gemv
  //! cannot run them, each prepared as a product of its own (`sibling_states`), launched beside
  //! this one.
  int sibling_count = 0;
  std::vector<matmul_state> sibling_states;
  //! Where the siblings run as products of their own: each on a stream of its own, forked from
  //! the launch's stream before this product and joined back after, so that they run at once as
  //! separate products would (in a capture: parallel branches of the graph). `sibling_events[0]`
  //! is the fork, `sibling_events[1 + j]` sibling j's join.
  std::vector<owned_stream> sibling_streams;
  std::vector<owned_event> sibling_events;
};

namespace detail {
//! The largest power of two (at most 256) that divides the address (and the batch stride in bytes,
//! where given). cuBLASLt's heuristic assumes 256-byte aligned buffers unless told otherwise, and
//! may pick a kernel that needs it.
inline std::uint32_t pointer_alignment(const void* p, std::uint64_t stride_bytes = 0) {
  const auto a = reinterpret_cast<std::uintptr_t>(p) | stride_bytes;
  std::uint32_t align = 256;
  while (align > 1 && a % align != 0) align /= 2;
  return align;
}

template <class Handle>
void set_preference(const lt_preference& pref, cublasLtMatmulPreferenceAttributes_t attribute, Handle value,
                    std::string_view name) {
  CTG_CHECK(name, cublasLtMatmulPreferenceSetAttribute(pref.get(), attribute, &value, sizeof(value)));
}
}  // namespace detail

template <class = void>  // compiled only where a graph multiplies (it may launch pack_rows)
void launch_matmul(const launch_context& c, const matmul_state& s);

namespace detail {
//! CTGRAPH_MATMUL_KERNEL: unset or "auto" (time those that can run), "skinny", "gemv" or "cublaslt"
//! (force one).
inline const char* requested_matmul_kernel(std::string_view node) {
  const char* v = std::getenv("CTGRAPH_MATMUL_KERNEL");
  const std::string_view r = v ? v : "auto";
  if (r != "auto" && r != "skinny" && r != "gemv" && r != "cublaslt")
    throw runtime_error(node, "prepare_matmul", "CTGRAPH_MATMUL_KERNEL must be auto, skinny, gemv or cublaslt; got '" + std::string(r) + "'");
  return v ? v : "auto";
}

//! CTGRAPH_GEMV_SPLIT: unset or "auto" (configure_gemv's rule), or "1", "2", "4" or "8" warps of a
//! block splitting K for the same rows of W in every gemv (a tuning knob; other sums, other bits).
inline int requested_gemv_split(std::string_view node) {
  const char* v = std::getenv("CTGRAPH_GEMV_SPLIT");
  const std::string_view r = v ? v : "auto";
  if (r != "auto" && r != "1" && r != "2" && r != "4" && r != "8")
    throw runtime_error(node, "prepare_matmul", "CTGRAPH_GEMV_SPLIT must be auto, 1, 2, 4 or 8; got '" + std::string(r) + "'");
  return r == "auto" ? 0 : r[0] - '0';
}

//! ctgraph's own kernel (skinny or gemv, `s.kernel`) for node `c` as `s` prepared it (the pointers
//! checked); `programmatic` as `launch_skinny_matmul` says.
template <class = void>
void launch_own_kernel(const launch_context& c, const matmul_state& s, bool programmatic, const void* prologue = nullptr) {
  skinny_matmul_args args;
  if (s.prologue_gated) args.gated = prologue;
  else args.norm_weight = prologue, args.norm_eps = s.prologue_eps;
  args.a = c.inputs[0], args.w = c.inputs[1], args.bias = s.bias, args.out = c.output;
  args.residual = s.residual >= 0 ? c.inputs[s.residual] : nullptr;
  args.m = int(s.m), args.n = int(s.n), args.k = int(s.k), args.act = s.act;
  args.w_fixed = c.input_fixed[1];
  for (int j = 0; j < s.sibling_count; ++j) {  // the gemv's rows go on into its siblings'
    const sibling_launch& x = c.siblings[j];
    args.siblings[j] = {x.w, x.output, int(x.node->out.dims[1])};
    args.w_fixed = args.w_fixed && x.w_fixed;
  }
  args.sibling_count = s.sibling_count;
  if (s.kernel == matmul_kernel::gemv) CTG_CHECK(c.node->name, launch_gemv(args, s.gemv, c.stream, programmatic));
  else CTG_CHECK(c.node->name, launch_skinny_matmul(args, s.skinny, c.stream, programmatic));
}

//! Whether a kernel's time beats the time of the one kept so far clearly: by at least 5 %. A
//! choice within timing noise would flip from one instantiation to the next, and the kernels sum
//! in different orders (other bits); cuBLASLt's heuristic choice is the same every time.
constexpr bool clearly_faster(float us, float kept_us) { return us < 0.95f * kept_us; }

//! Times cuBLASLt's heuristic candidates for the node's (main) call on `c.stream` and keeps the
//! first unless another is faster by 5 % (a choice within noise would change from one
//! instantiation to the next, and with it the bits). Not while the stream captures, not where the
//! output is also an input, and not with CTGRAPH_MATMUL_TUNE=off; a candidate that fails to run
//! is passed over.
template <class = void>
void tune_matmul_algo(const launch_context& c, matmul_state& s, const cublasLtMatmulHeuristicResult_t* candidates) {
  if (s.algo_candidates < 2 || s.k == 0 || s.m == 0 || s.n == 0) return;
  if (const char* v = std::getenv("CTGRAPH_MATMUL_TUNE"); v && std::string_view(v) == "off") return;
  cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
  CTG_CHECK(c.node->name, cudaStreamIsCapturing(c.stream, &capturing));
  if (capturing != cudaStreamCaptureStatusNone) return;
  for (int i = 0; i < c.input_count; ++i)
    if (c.inputs[i] == c.output) return;
  const void* residual = s.residual >= 0 ? c.inputs[s.residual] : nullptr;
  void* d = s.product(c.output);
  const float alpha = 1.f, beta = residual ? 1.f : 0.f;
  cudaEvent_t raw_start = nullptr, raw_stop = nullptr;
  CTG_CHECK(c.node->name, cudaEventCreate(&raw_start));
  const owned_event start(raw_start);
  CTG_CHECK(c.node->name, cudaEventCreate(&raw_stop));
  const owned_event stop(raw_stop);
  const auto run = [&](int i) {
    return cublasLtMatmul(c.cublas_lt, s.op.get(), &alpha, c.inputs[1], s.b_layout.get(), c.inputs[0], s.a_layout.get(), &beta,
                          residual ? residual : d, s.c_layout.get(), d, s.d_layout.get(), &candidates[i].algo, c.workspace,
                          candidates[i].workspaceSize, c.stream) == CUBLAS_STATUS_SUCCESS;
  };
  int best = 0;
  for (int i = 0; i < s.algo_candidates && i < int(std::size(s.algo_us)); ++i) {
    bool ok = true;
    for (int w = 0; w < 3 && ok; ++w) ok = run(i);
    constexpr int launches = 10;
    CTG_CHECK(c.node->name, cudaEventRecord(start.get(), c.stream));
    for (int l = 0; l < launches && ok; ++l) ok = run(i);
    CTG_CHECK(c.node->name, cudaEventRecord(stop.get(), c.stream));
    CTG_CHECK(c.node->name, cudaEventSynchronize(stop.get()));
    if (!ok) {
      (void)cudaGetLastError();
      continue;
    }
    float ms = 0;
    CTG_CHECK(c.node->name, cudaEventElapsedTime(&ms, start.get(), stop.get()));
    s.algo_us[i] = ms * 1000.f / launches;
    if (i > 0 && (s.algo_us[best] == 0 || s.algo_us[i] < 0.95f * s.algo_us[best])) best = i;
  }
  s.algo_rank = best;
  s.algo = candidates[best].algo;
  s.workspace_bytes = candidates[best].workspaceSize;
}

//! Chooses among the prepared cuBLASLt call and ctgraph's kernels (see matmul_state::kernel):
//! configures those that can run the node, then times them on `c.stream`.
template <class = void>
void choose_matmul_kernel(const launch_context& c, ops::matmul_options o, std::optional<matmul_kernel> kernel, matmul_state& s) {
  const std::string_view name = c.node->name, requested = kernel ? name_of(*kernel) : requested_matmul_kernel(name);
  const char* forced = kernel ? "forced by the caller" : "forced by CTGRAPH_MATMUL_KERNEL";
  s.kernel = matmul_kernel::cublaslt;
  if (requested == "cublaslt") {
    s.reason = forced;
    return;
  }
  const void* residual = s.residual >= 0 ? c.inputs[s.residual] : nullptr;
  const dtype_id dtype = c.output_desc().dtype;
  const std::initializer_list<const void*> pointers = {c.inputs[0], c.inputs[1], s.bias, residual, c.output};
  const char* skinny_why = s.batch != 1 ? "batched" : requested == "gemv" ? "not asked for" : skinny_matmul_declines(dtype, s.m, s.n, s.k, o.transpose_w, pointers);
  const char* gemv_why = s.batch != 1 ? "batched" : requested == "skinny" ? "not asked for" : gemv_declines(dtype, s.m, s.n, s.k, o.transpose_w, pointers);
  if (skinny_why && gemv_why) {
    s.reason = requested == "gemv" ? gemv_why : skinny_why;
    return;
  }
  s.act = o.act;
  cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
  CTG_CHECK(name, cudaStreamIsCapturing(c.stream, &capturing));
  if (capturing != cudaStreamCaptureStatusNone) {  // nothing may run now: no counters, no timing
    s.reason = "prepared while the stream was capturing";
    return;
  }
  if (!skinny_why) CTG_CHECK(name, configure_skinny_matmul(s.skinny, dtype, s.m, s.n, s.k, o.transpose_w));
  if (!gemv_why) CTG_CHECK(name, configure_gemv(s.gemv, dtype, s.m, s.n, s.k, gemv_prologue::none, requested_gemv_split(name)));
  if (requested != "auto") {  // skinny or gemv, and it can run the node
    s.kernel = skinny_why ? matmul_kernel::gemv : matmul_kernel::skinny;
    s.reason = forced;
    return;
  }
  bool aliased = false;  // then repeated launches would not compute the same thing
  for (int i = 0; i < c.input_count; ++i) aliased = aliased || c.inputs[i] == c.output;
  if (aliased) {
    s.reason = "not timed: the output is an input's buffer";
    return;
  }
  // ctgraph's kernels back to back with PDL where they will run with PDL: a chain of them, each
  // streaming its W while the one before finishes (what writes C waits; the times are all this
  // keeps of W read early). Not on the legacy default stream, which synchronises with others.
  const bool programmatic = s.programmatic && c.stream != nullptr && c.stream != cudaStreamLegacy && c.stream != cudaStreamPerThread;
  const auto launch = [&] {
    if (s.kernel == matmul_kernel::cublaslt) launch_matmul(c, s);
    else launch_own_kernel(c, s, programmatic);
  };
  const auto time_us = [&](matmul_kernel k) {
    s.kernel = k;
    for (int i = 0; i < 3; ++i) launch();
    cudaEvent_t raw_start = nullptr, raw_stop = nullptr;
    CTG_CHECK(name, cudaEventCreate(&raw_start));
    const owned_event start(raw_start);
    CTG_CHECK(name, cudaEventCreate(&raw_stop));
    const owned_event stop(raw_stop);
    constexpr int launches = 10;
    CTG_CHECK(name, cudaEventRecord(start.get(), c.stream));
    for (int i = 0; i < launches; ++i) launch();
    CTG_CHECK(name, cudaEventRecord(stop.get(), c.stream));
    CTG_CHECK(name, cudaEventSynchronize(stop.get()));
    float ms = 0;
    CTG_CHECK(name, cudaEventElapsedTime(&ms, start.get(), stop.get()));
    return ms * 1000.f / launches;
  };
  // Two rounds, each kernel's best: the first kernel of the first round may meet a GPU still at
  // idle clocks (cuBLASLt was once timed at 17 us there and 11 us a moment later, and lost).
  for (int round = 0; round < 2; ++round) {
    const auto best = [&](float& kept, matmul_kernel k) {
      const float us = time_us(k);
      kept = round == 0 ? us : std::min(kept, us);
    };
    best(s.cublaslt_us, matmul_kernel::cublaslt);
    if (!skinny_why) best(s.skinny_us, matmul_kernel::skinny);
    if (!gemv_why) best(s.gemv_us, matmul_kernel::gemv);
  }
  s.kernel = matmul_kernel::cublaslt;  // each later one must beat the one kept by 5 %
  float kept_us = s.cublaslt_us;
  const auto consider = [&](matmul_kernel k, const char* why, float us) {
    if (!why && clearly_faster(us, kept_us)) s.kernel = k, kept_us = us;
  };
  consider(matmul_kernel::skinny, skinny_why, s.skinny_us);
  consider(matmul_kernel::gemv, gemv_why, s.gemv_us);
  s.reason = "timed";
}

template <class = void>
matmul_state prepare_with_prologue(const launch_context& c, ops::matmul_options o, std::optional<matmul_kernel> kernel);
template <class = void>
matmul_state prepare_siblings(const launch_context& c, ops::matmul_options o, std::optional<matmul_kernel> kernel);

//! Why the gemv cannot compute c's sibling products with it (each W [n,K] and output [M,n] of c's
//! A's rows, dtype and K, n a multiple of 4, 16-byte aligned, no bias, residual or activation), or
//! null when it can; `n` gets all their rows of W, c's own included.
inline const char* siblings_decline(const launch_context& c, ops::matmul_options o, std::int64_t& n) {
  const tensor_desc &a = c.input_desc[0], &out = c.output_desc();
  n = out.rank == 2 ? out.dims[1] : 0;
  if (c.input_count != 2 || o.act != ops::epilogue::none || !o.transpose_w) return "a bias, residual, activation or W [K,N]";
  for (int j = 0; j < c.sibling_count; ++j) {
    const sibling_launch& x = c.siblings[j];
    const tensor_desc &w = x.w_desc, &y = x.node->out;
    if (y.rank != 2 || w.rank != 2 || y.dtype != out.dtype || w.dtype != out.dtype || y.dims[0] != a.dims[0] || w.dims[1] != a.dims[1] ||
        w.dims[0] != y.dims[1] || y.dims[1] % 4 != 0 || out.dims[1] % 4 != 0)
      return "a sibling's shape or dtype";
    if (reinterpret_cast<std::uintptr_t>(x.w) % 16 != 0 || reinterpret_cast<std::uintptr_t>(x.output) % 16 != 0) return "a sibling's pointer not 16-byte aligned";
    n += y.dims[1];
  }
  return nullptr;
}
}  // namespace detail

//! Checks the node's shapes and dtypes and chooses its cuBLASLt descriptors and algorithm for the
//! pointers it has now: inputs[0] = A [M,K], inputs[1] = B [K,N] (or [N,K] with
//! `o.transpose_w`), then a bias [N] and a residual [M,N] where given, output = C [M,N] (or, batched,
//! A [Bt,M,K], B [Bt,K,N] or [Bt,N,K], C [Bt,M,N], nothing else); the bias
//! and `o.act` in the epilogue, the residual as cuBLASLt's C (beta = 1); at most
//! `c.workspace_bytes` of workspace. Where C's rows are not 16-byte aligned (and M > 1) it also
//! allocates the aligned product's buffer, once. Throws ctg::runtime_error for shapes or
//! dtypes that do not fit, when cuBLASLt has no algorithm, and when a cuBLASLt call fails; it
//! leaks nothing. Then, for skinny products, chooses the kernel (matmul_state::kernel): `kernel`
//! where given (the skinny one or the gemv only where it can run), else as CTGRAPH_MATMUL_KERNEL
//! says, else by timing those that can run it on `c.stream`, which writes the node's output and
//! must not happen during capture.
template <class = void>  // compiled only where a graph multiplies (it may time the skinny kernel)
matmul_state prepare_matmul(const launch_context& c, ops::matmul_options o = {}, std::optional<matmul_kernel> kernel = std::nullopt) {
  const std::string_view name = c.node->name;
  constexpr const char* call = "prepare_matmul";
  if (o.prologue_eps > 0.f || o.prologue_gated) return detail::prepare_with_prologue(c, o, kernel);
  if (c.sibling_count > 0) return detail::prepare_siblings(c, o, kernel);
  const tensor_desc &a = c.input_desc[0], &b = c.input_desc[1], &out = c.output_desc();
  const bool batched = a.rank == 3 && b.rank == 3 && out.rank == 3;
  if (!batched && (a.rank != 2 || b.rank != 2 || out.rank != 2))
    throw runtime_error(name, call, "A, B and C must be 2-d (or 3-d, batched); got ranks " + std::to_string(a.rank) + ", " +
                                        std::to_string(b.rank) + " and " + std::to_string(out.rank));
  matmul_state s;
  s.programmatic = runtime_ops::detail::requested_pdl(name);
  const int r = a.rank - 2;  // the first matrix dimension
  s.batch = batched ? a.dims[0] : 1;
  if (batched && (b.dims[0] != s.batch || out.dims[0] != s.batch || c.input_count != 2 || s.batch > 0x7fffffff))
    throw runtime_error(name, call, "a batched matmul takes A [Bt,M,K], B [Bt,K,N] and C [Bt,M,N] of one batch (at most 2^31-1), and no bias or residual; got batches " +
                                        std::to_string(a.dims[0]) + ", " + std::to_string(b.dims[0]) + " and " + std::to_string(out.dims[0]));
  s.m = a.dims[r], s.k = a.dims[r + 1], s.n = o.transpose_w ? b.dims[r] : b.dims[r + 1];
  const bool has_bias = c.input_count > 2 && c.input_desc[2].rank == 1;
  if (c.input_count > 2 + int(has_bias)) s.residual = 2 + int(has_bias);
  if ((o.transpose_w ? b.dims[r + 1] : b.dims[r]) != s.k || out.dims[r] != s.m || out.dims[r + 1] != s.n ||
      (has_bias && c.input_desc[2].dims[0] != s.n) || c.input_count > 3 + int(has_bias) ||
      (s.residual >= 0 && !c.input_desc[s.residual].same_shape(out)))
    throw runtime_error(name, call, "shapes do not fit C[M,N] = A[M,K] x B[K,N]: A is " + std::to_string(a.dims[r]) + "x" +
                                        std::to_string(a.dims[r + 1]) + ", B " + std::to_string(b.dims[r]) + "x" +
                                        std::to_string(b.dims[r + 1]) + ", C " + std::to_string(out.dims[r]) + "x" +
                                        std::to_string(out.dims[r + 1]));
  if (s.residual >= 0 && o.act != ops::epilogue::none)
    throw runtime_error(name, call, "a residual with an activation: cuBLASLt would apply the activation to the sum");
  bool same_dtype = true;
  for (int i = 0; i < c.input_count; ++i) same_dtype = same_dtype && c.input_desc[i].dtype == out.dtype;
  if (!same_dtype || !is_floating(out.dtype))
    throw runtime_error(name, call, "A, B, bias, residual and C must share one dtype of f32, f16 or bf16; got " +
                                        std::string(name_of(a.dtype)) + ", " + std::string(name_of(b.dtype)) +
                                        " and " + std::string(name_of(out.dtype)));
  if (s.k == 0 && s.m > 0 && s.n > 0 && (has_bias || o.act != ops::epilogue::none))
    throw runtime_error(name, call, "K = 0 with a bias or an activation: cuBLASLt takes no empty sum, and C = 0 would be wrong");
  if (s.batch == 0 || s.m == 0 || s.n == 0 || s.k == 0) return s;  // nothing to multiply; k = 0 is C = 0
  if (o.prologue_eps > 0.f || o.prologue_gated) throw runtime_error(name, call, "a prologue's product is prepared through prepare_matmul's prologue path");
  if (c.cublas_lt == nullptr) throw runtime_error(name, call, "the launch context has no cuBLASLt handle");
  const cudaDataType_t type = cuda_type_of(out.dtype);

  // Row-major C = A x B is column-major C^T = B^T x A^T, with the same buffers: B^T is N x K
  // (ld N), A^T is K x M (ld K), C^T is N x M (ld N). So cuBLASLt gets (B, A), m = N, n = M.
  // A transposed B ([N,K] row-major) is K x N column-major (ld K), which cuBLASLt transposes.
  // The bias [N] is per row of C^T: the epilogue's bias vector.
  constexpr cublasLtEpilogue_t epilogues[3][2] = {{CUBLASLT_EPILOGUE_DEFAULT, CUBLASLT_EPILOGUE_BIAS},
                                                  {CUBLASLT_EPILOGUE_RELU, CUBLASLT_EPILOGUE_RELU_BIAS},
                                                  {CUBLASLT_EPILOGUE_GELU, CUBLASLT_EPILOGUE_GELU_BIAS}};
  const cublasLtEpilogue_t epilogue = epilogues[int(o.act)][has_bias ? 1 : 0];
  if (has_bias && c.inputs[2] == nullptr) throw runtime_error(name, call, "the bias has no device pointer");
  const auto make_op = [&](const void* bias) {  // bias: its first element for this call
    cublasLtMatmulDesc_t raw = nullptr;
    CTG_CHECK(name, cublasLtMatmulDescCreate(&raw, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    lt_matmul_desc op(raw);
    if (o.transpose_w) {
      const cublasOperation_t t = CUBLAS_OP_T;
      CTG_CHECK(name, cublasLtMatmulDescSetAttribute(op.get(), CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof(t)));
    }
    CTG_CHECK(name, cublasLtMatmulDescSetAttribute(op.get(), CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)));
    if (bias) CTG_CHECK(name, cublasLtMatmulDescSetAttribute(op.get(), CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
    return op;
  };
  if (has_bias) s.bias = c.inputs[2];
  s.op = make_op(s.bias);
  const auto layout = [&](std::int64_t rows, std::int64_t cols, std::int64_t ld) {
    cublasLtMatrixLayout_t l = nullptr;
    CTG_CHECK(name, cublasLtMatrixLayoutCreate(&l, type, std::uint64_t(rows), std::uint64_t(cols), ld));
    return lt_layout(l);
  };
  s.b_layout = o.transpose_w ? layout(s.k, s.n, s.k) : layout(s.n, s.k, s.n);
  s.a_layout = layout(s.k, s.m, s.k);
  const std::int64_t per_vector = 16 / std::int64_t(size_of(out.dtype)), rows = s.batch * s.m;
  if (rows > 1 && std::size_t(rows) <= pack_rows_max_rows && s.n % per_vector != 0) {
    s.pitch = (s.n + per_vector - 1) / per_vector * per_vector;
    s.aligned_c = allocation(allocation_kind::device, std::size_t(rows * s.pitch) * size_of(out.dtype), name);
  }
  if (s.pitch && o.transpose_w && !batched && s.residual < 0) {
    s.tail = s.n % per_vector;
    s.b_layout = layout(s.k, s.n - s.tail, s.k);
  }
  const std::int64_t main_n = s.n - s.tail;
  s.d_layout = layout(main_n, s.m, s.pitch ? s.pitch : s.n);
  // C is the residual (packed, like the output) or, with beta = 0, D itself: cuBLASLt wants D's
  // layout for a C that is D.
  s.c_layout = layout(main_n, s.m, s.residual >= 0 || !s.pitch ? s.n : s.pitch);
  void* d = s.product(c.output);
  if (batched) {  // one strided-batch call: each layout's matrices lie `stride` elements apart
    const auto batch = [&](const lt_layout& l, std::int64_t stride) {
      const std::int32_t count = std::int32_t(s.batch);
      CTG_CHECK(name, cublasLtMatrixLayoutSetAttribute(l.get(), CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
      CTG_CHECK(name, cublasLtMatrixLayoutSetAttribute(l.get(), CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)));
      return std::uint64_t(stride) * size_of(out.dtype);
    };
    s.stride_a = batch(s.b_layout, s.k * s.n);
    s.stride_b = batch(s.a_layout, s.m * s.k);
    const std::int64_t ld = s.pitch ? s.pitch : s.n;
    s.c_layout = layout(s.n, s.m, ld);  // C is D (no residual, beta = 0): the same layout
    batch(s.c_layout, s.m * ld);
    s.stride_d = batch(s.d_layout, s.m * ld);
  }

  cublasLtMatmulPreference_t raw_pref = nullptr;
  CTG_CHECK(name, cublasLtMatmulPreferenceCreate(&raw_pref));
  const lt_preference pref(raw_pref);
  const std::uint64_t workspace_bytes = c.workspace != nullptr ? c.workspace_bytes : 0;
  detail::set_preference(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, workspace_bytes, name);
  // cuBLASLt's "A" is our B and its "B" is our A.
  s.align_a = detail::pointer_alignment(c.inputs[1], s.stride_a);
  s.align_b = detail::pointer_alignment(c.inputs[0], s.stride_b);
  s.align_c = s.residual >= 0 ? detail::pointer_alignment(c.inputs[s.residual]) : detail::pointer_alignment(d, s.stride_d);
  s.align_d = detail::pointer_alignment(d, s.stride_d);
  detail::set_preference(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, s.align_a, name);
  detail::set_preference(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, s.align_b, name);
  detail::set_preference(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, s.align_c, name);
  detail::set_preference(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, s.align_d, name);

  constexpr int candidates = 8;
  cublasLtMatmulHeuristicResult_t heuristics[candidates]{};
  const auto choose = [&](const lt_matmul_desc& op, const lt_layout& b_layout, const lt_layout& c_layout, const lt_layout& d_layout,
                          std::int64_t n, int want = 1) {
    cublasLtMatmulHeuristicResult_t* heuristic = heuristics;
    int found = 0;
    const cublasStatus_t searched = cublasLtMatmulAlgoGetHeuristic(c.cublas_lt, op.get(), b_layout.get(), s.a_layout.get(), c_layout.get(),
                                                                   d_layout.get(), pref.get(), want, heuristic, &found);
    if (searched != CUBLAS_STATUS_NOT_SUPPORTED)  // "not supported" is how it says that none fits
      detail::check(searched, name, "cublasLtMatmulAlgoGetHeuristic");  // what CTG_CHECK does, naming the call
    if (searched == CUBLAS_STATUS_NOT_SUPPORTED || found == 0)
      throw runtime_error(name, call, "cuBLASLt has no algorithm for " + std::string(name_of(out.dtype)) + " " + std::to_string(s.m) +
                                          "x" + std::to_string(s.k) + " x " + std::to_string(s.k) + "x" + std::to_string(n) + " with " +
                                          std::to_string(workspace_bytes) + " bytes of workspace");
    return found;
  };
  s.algo_candidates = choose(s.op, s.b_layout, s.c_layout, s.d_layout, main_n, candidates);
  s.algo = heuristics[0].algo;
  s.workspace_bytes = heuristics[0].workspaceSize;
  detail::tune_matmul_algo(c, s, heuristics);
  if (s.tail) {  // rows [main_n, n) of W, into columns [main_n, n) of the aligned product (16-byte aligned)
    const std::size_t e = size_of(out.dtype);
    s.tail_op = make_op(s.bias ? static_cast<const std::byte*>(s.bias) + std::size_t(main_n) * e : nullptr);
    s.tail_b_layout = layout(s.k, s.tail, s.k);
    s.tail_d_layout = layout(s.tail, s.m, s.pitch);
    choose(s.tail_op, s.tail_b_layout, s.tail_d_layout, s.tail_d_layout, s.tail);
    s.tail_algo = heuristics[0].algo;
    s.tail_workspace_bytes = heuristics[0].workspaceSize;
  }
  detail::choose_matmul_kernel(c, o, kernel, s);
  return s;
}

//! A product with a prologue (inputs: A, the normalisation's weight [K], W, bias, residual): the
//! gemv, which normalises A's rows as it loads them, wherever it can run the product (and no
//! other kernel is asked for); else the product prepared as usual on a buffer of its own that the
//! normalisation writes first. The product is timed on A as it is (its cost does not depend on A).
template <class>
matmul_state detail::prepare_with_prologue(const launch_context& c, ops::matmul_options o, std::optional<matmul_kernel> kernel) {
  const std::string_view name = c.node->name;
  const tensor_desc& a = c.input_desc[0];
  if (o.prologue_gated ? c.input_count < 3 || a.rank != 2 || !(c.input_desc[1] == a)
                       : c.input_count < 3 || a.rank != 2 || c.input_desc[1].rank != 1 || c.input_desc[1].dims[0] != a.dims[1])
    throw runtime_error(name, "prepare_matmul", o.prologue_gated ? "a gated prologue takes x and y [M,K], then the product's W"
                                                                 : "a prologue takes A [M,K], the normalisation's weight [K], then the product's W");
  launch_context p = without_input(c, 1);  // the product's own inputs
  ops::matmul_options own = o;
  own.prologue_eps = 0.f, own.prologue_gated = false;
  const std::string_view requested = kernel ? name_of(*kernel) : requested_matmul_kernel(name);
  const tensor_desc& w = p.input_desc[1];
  const std::int64_t n = o.transpose_w ? w.dims[0] : w.dims[1];
  std::int64_t rows = n;  // of W, the siblings' too
  const char* why = requested != "auto" && requested != "gemv"
                        ? "another kernel asked for"
                        : gemv_declines(a.dtype, a.dims[0], n, a.dims[1], o.transpose_w, {c.inputs[0], c.inputs[1], c.inputs[2], c.output});
  if (!why && p.sibling_count > 0) why = siblings_decline(p, o, rows);
  matmul_state s;
  if (why) {
    allocation normed(allocation_kind::device, a.bytes(), name);
    p.inputs[0] = normed.get();
    p.input_fixed[0] = false;
    s = prepare_matmul(p, own, kernel);
    s.normed = std::move(normed);
  } else {
    s = prepare_matmul(p, own, kernel);
    CTG_CHECK(name, configure_gemv(s.gemv, a.dtype, s.m, rows, s.k, o.prologue_gated ? gemv_prologue::gated : gemv_prologue::norm,
                                  requested_gemv_split(name)));
    s.kernel = matmul_kernel::gemv;
    s.sibling_count = p.sibling_count, s.sibling_states.clear();  // all in this gemv
    s.act = o.act;
    s.reason = o.prologue_gated ? "the prologue: the gemv computes silu(x) * y as it loads A" : "the prologue: the gemv normalises A's rows as it loads them";
  }
  s.prologue_eps = o.prologue_eps;
  s.prologue_gated = o.prologue_gated;
  return s;
}

//! A sibling lead's product (`launch_context::siblings`): its siblings' rows of W in its gemv where
//! it can run them all (the gemv forced, no timing: one launch instead of several is the point),
//! else each sibling prepared as a product of its own, without workspace (it runs beside the lead),
//! with a stream of its own.
template <class>
matmul_state detail::prepare_siblings(const launch_context& c, ops::matmul_options o, std::optional<matmul_kernel> kernel) {
  launch_context own = c;
  own.sibling_count = 0;
  const std::string_view requested = kernel ? name_of(*kernel) : requested_matmul_kernel(c.node->name);
  std::int64_t rows = 0;
  const tensor_desc& a = c.input_desc[0];
  const char* why = requested != "auto" && requested != "gemv" ? "another kernel asked for" : siblings_decline(c, o, rows);
  if (!why && a.rank == 2)
    why = gemv_declines(a.dtype, a.dims[0], rows, a.dims[1], o.transpose_w, {c.inputs[0], c.inputs[1], c.output});
  matmul_state s = prepare_matmul(own, o, why ? kernel : std::optional<matmul_kernel>(matmul_kernel::gemv));
  if (!why && s.kernel == matmul_kernel::gemv) {
    CTG_CHECK(c.node->name, configure_gemv(s.gemv, a.dtype, s.m, rows, s.k, gemv_prologue::none, requested_gemv_split(c.node->name)));
    s.sibling_count = c.sibling_count;
    s.reason = "sibling products: the gemv computes them in one launch";
    return s;
  }
  for (int j = 0; j < c.sibling_count; ++j) {
    launch_context x = sibling_context(c, j);
    x.workspace = nullptr, x.workspace_bytes = 0;  // it runs beside the lead, which uses the workspace
    s.sibling_states.push_back(prepare_matmul(x, o, kernel));
    cudaStream_t stream = nullptr;
    CTG_CHECK(c.node->name, cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    s.sibling_streams.emplace_back(stream);
  }
  for (int j = 0; j <= c.sibling_count; ++j) {
    cudaEvent_t event = nullptr;
    CTG_CHECK(c.node->name, cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
    s.sibling_events.emplace_back(event);
  }
  return s;
}

//! Runs the node's matmul on `c.stream` as `s` prepared it. Throws ctg::runtime_error when a
//! pointer is missing or less aligned than the algorithm assumes (the executor prepares again
//! when a rebound input moves), and when the cuBLASLt call fails.
namespace detail {
//! silu(x) * y in float, as ops::silu and ops::mul compute it (a gated prologue where the gemv
//! cannot run the product).
struct gated_product {
  static constexpr int arity = 2;
  CTG_HOST_DEVICE float operator()(float x, float y) const { return ops::silu{}(x) * y; }
};

//! The product of `launch_matmul`, on the product's own inputs (A, W, bias, residual); a gemv
//! with a prologue also gets the prologue's input 1 (the normalisation's weight, the gated
//! product's second factor).
template <class = void>
void launch_one(const launch_context& c, const matmul_state& s, const void* prologue) {
  const std::string_view name = c.node->name;
  constexpr const char* call = "launch_matmul";
  if (s.batch == 0 || s.m == 0 || s.n == 0) return;
  if (c.output == nullptr) throw runtime_error(name, call, "C has no device pointer");
  if (s.k == 0) {  // an empty sum: C = 0 (cuBLASLt does not take k = 0)
    CTG_CHECK(name, cudaMemsetAsync(c.output, 0, c.output_desc().bytes(), c.stream));
    return;
  }
  if (c.inputs[0] == nullptr || c.inputs[1] == nullptr) throw runtime_error(name, call, "A or B has no device pointer");
  const void* residual = s.residual >= 0 ? c.inputs[s.residual] : nullptr;
  void* d = s.product(c.output);
  if (s.residual >= 0 && residual == nullptr) throw runtime_error(name, call, "the residual has no device pointer");
  if (pointer_alignment(c.inputs[1], s.stride_a) < s.align_a || pointer_alignment(c.inputs[0], s.stride_b) < s.align_b ||
      (residual ? pointer_alignment(residual) : pointer_alignment(d, s.stride_d)) < s.align_c ||
      pointer_alignment(d, s.stride_d) < s.align_d)
    throw runtime_error(name, call, "a pointer is less aligned than when the matmul was prepared; prepare it again");
  if (c.input_count > 2 && s.bias != nullptr && c.inputs[2] != s.bias)
    throw runtime_error(name, call, "the bias moved since the matmul was prepared; prepare it again");
  if (s.kernel != matmul_kernel::cublaslt) {  // the skinny kernel and the gemv take 16-byte aligned pointers
    for (const void* p : {c.inputs[0], c.inputs[1], s.bias, residual, const_cast<const void*>(c.output)})
      if (reinterpret_cast<std::uintptr_t>(p) % 16 != 0)
        throw runtime_error(name, call, "a pointer is less aligned than when the matmul was prepared; prepare it again");
    if (s.sibling_count > c.sibling_count) throw runtime_error(name, call, "the launch has fewer sibling products than were prepared");
    for (int j = 0; j < s.sibling_count; ++j)
      if (c.siblings[j].w == nullptr || c.siblings[j].output == nullptr || reinterpret_cast<std::uintptr_t>(c.siblings[j].w) % 16 != 0 ||
          reinterpret_cast<std::uintptr_t>(c.siblings[j].output) % 16 != 0)
        throw runtime_error(c.siblings[j].node->name, call, "a sibling product's pointer is missing or less aligned than when its lead was prepared; prepare it again");
    launch_own_kernel(c, s, s.programmatic && capture_follows_one_kernel(c.stream), prologue);
    return;
  }
  const float alpha = 1.f, beta = residual ? 1.f : 0.f;  // host scalars: read when the call is made (or captured)
  CTG_CHECK(name, cublasLtMatmul(c.cublas_lt, s.op.get(), &alpha, c.inputs[1], s.b_layout.get(), c.inputs[0], s.a_layout.get(),
                                 &beta, residual ? residual : d, s.c_layout.get(), d, s.d_layout.get(), &s.algo,
                                 c.workspace, s.workspace_bytes, c.stream));
  if (s.tail) {
    const std::size_t e = ::ctg::size_of(c.output_desc().dtype), main_n = std::size_t(s.n - s.tail);
    const void* w = static_cast<const std::byte*>(c.inputs[1]) + main_n * std::size_t(s.k) * e;
    void* dt = static_cast<std::byte*>(d) + main_n * e;
    CTG_CHECK(name, cublasLtMatmul(c.cublas_lt, s.tail_op.get(), &alpha, w, s.tail_b_layout.get(), c.inputs[0], s.a_layout.get(), &beta,
                                   dt, s.tail_d_layout.get(), dt, s.tail_d_layout.get(), &s.tail_algo, c.workspace,
                                   s.tail_workspace_bytes, c.stream));
  }
  if (s.pitch) {
    const std::size_t e = ::ctg::size_of(c.output_desc().dtype);
    CTG_CHECK(name, pack_rows(d, std::size_t(s.pitch) * e, c.output, std::size_t(s.n), std::size_t(s.batch * s.m), e, c.stream));
  }
}

//! The product, and the siblings that its kernel does not compute, each as prepared on its own
//! stream, forked from c's and joined back (`matmul_state::sibling_streams`).
template <class = void>
void launch_product(const launch_context& c, const matmul_state& s, const void* prologue) {
  const std::size_t n = s.sibling_states.size();
  if (n == 0) return launch_one(c, s, prologue);
  const std::string_view name = c.node->name;
  if (s.sibling_streams.size() != n || s.sibling_events.size() != n + 1)
    throw runtime_error(name, "launch_matmul", "the siblings' streams were not prepared");
  CTG_CHECK(name, cudaEventRecord(s.sibling_events[0].get(), c.stream));
  for (std::size_t j = 0; j < n; ++j) CTG_CHECK(name, cudaStreamWaitEvent(s.sibling_streams[j].get(), s.sibling_events[0].get(), 0));
  launch_one(c, s, prologue);
  for (std::size_t j = 0; j < n; ++j) {
    launch_context x = sibling_context(c, int(j));
    x.stream = s.sibling_streams[j].get();
    launch_one(x, s.sibling_states[j], prologue);
    CTG_CHECK(name, cudaEventRecord(s.sibling_events[1 + j].get(), x.stream));
    CTG_CHECK(name, cudaStreamWaitEvent(c.stream, s.sibling_events[1 + j].get(), 0));
  }
}

}  // namespace detail

template <class>
void launch_matmul(const launch_context& c, const matmul_state& s) {
  if (s.prologue_eps <= 0.f && !s.prologue_gated) return detail::launch_product(c, s, nullptr);
  // A's rows normalised (or gated): in the gemv, or first, into `normed`.
  const std::string_view name = c.node->name;
  if (c.input_count < 3 || c.inputs[0] == nullptr || c.inputs[1] == nullptr)
    throw runtime_error(name, "launch_matmul", "the prologue's inputs have no device pointer");
  launch_context p = without_input(c, 1);  // the product's own inputs
  if (s.normed.get() == nullptr) {
    if (reinterpret_cast<std::uintptr_t>(c.inputs[1]) % 16 != 0)
      throw runtime_error(name, "launch_matmul", "the prologue's input 1 is less aligned than when the matmul was prepared; prepare it again");
    return detail::launch_product(p, s, c.inputs[1]);
  }
  launch_context n = c;
  n.input_count = 2, n.output = s.normed.get();
  if (s.prologue_gated) {
    node_desc as_gated = *c.node;  // the elementwise kernel writes its node's output: A's shape
    as_gated.out = c.input_desc[0];
    n.node = &as_gated;
    launch_elementwise(n, detail::gated_product{});
  } else {
    launch_norm(n, s.prologue_eps, false);
  }
  p.inputs[0] = s.normed.get();
  detail::launch_product(p, s, nullptr);
}

}  // namespace ctg
