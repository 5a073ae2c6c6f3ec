// gemv_bench: the gemv (runtime/ops/gemv.cuh) on the products of a Llama-style decode step
// (TinyLlama-1.1B shape, bf16, batch 1): q/k/v (one launch with its siblings, RMS norm folded),
// o_proj (+ residual), gate/up (siblings, norm folded), down_proj (silu(gate) * up folded,
// + residual) and the logits (norm folded). Each product is timed as the step runs it: a captured
// graph of one launch per layer (22; 4 for the logits), each with its own W (together far more
// than L2 holds), chained by PDL. For each shape: the configuration configure_gemv chooses, and a
// sweep over rows per warp, loads in flight, pipelining, warps per block and K-split, each checked
// against the chosen one. Prints one JSON object; `--summary PATH` merges "gemv.<product>.tb_s"
// (the chosen configuration's W bytes per second) and "gemv.<product>.best_tb_s" into PATH.
// Exits 77 where no GPU is present.
#include <ctgraph/runtime/ops/gemv.cuh>

#include <cstdio>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"

namespace bench {
using namespace bench_harness;
using T = __nv_bfloat16;
namespace rd = ctg::runtime_ops::detail;

entries summary;

struct product {
  const char* name;
  int n;                  // rows of W of the launch, siblings included
  std::vector<int> parts;  // each product's N (the first the node's, then its siblings')
  int k;
  ctg::gemv_prologue prologue;
  bool residual;
  int layers;
};

//! A kernel instance of the sweep and its name.
struct variant {
  const void* kernel;
  int rows_per_warp;
  std::string name;
};

//! One instance of the kernel: Rows rows of W per warp, Loads loads per lane in flight, pipelined.
template <ctg::gemv_prologue P, int Rows, int Loads, bool Pipelined>
variant make_variant() {
  return {reinterpret_cast<const void*>(&ctg::runtime_ops::detail::gemv_kernel<T, 1, P, Rows, Loads, Pipelined>), Rows,
          "rows" + std::to_string(Rows) + "_loads" + std::to_string(Loads) + (Pipelined ? "_pipelined" : "")};
}

template <ctg::gemv_prologue P>
std::vector<variant> variants() {
  return {make_variant<P, 2, 8, false>(),  make_variant<P, 4, 8, false>(), make_variant<P, 2, 16, false>(),
          make_variant<P, 4, 16, false>(), make_variant<P, 2, 8, true>(),  make_variant<P, 4, 8, true>(),
          make_variant<P, 8, 8, true>(),   make_variant<P, 4, 4, true>()};
}

std::vector<variant> variants_for(ctg::gemv_prologue p) {
  return p == ctg::gemv_prologue::norm    ? variants<ctg::gemv_prologue::norm>()
         : p == ctg::gemv_prologue::gated ? variants<ctg::gemv_prologue::gated>()
                                          : variants<ctg::gemv_prologue::none>();
}

struct buffers {
  std::vector<void*> w, out;  // per layer and product
  void *a = nullptr, *u = nullptr, *g = nullptr, *residual = nullptr;
  std::vector<void*> all;
  void* alloc(std::size_t bytes, unsigned seed) {
    void* p = nullptr;
    BENCH_CHECK(cudaMalloc(&p, bytes));
    upload_random_bf16(p, bytes / 2, seed, 0.05f);
    all.push_back(p);
    return p;
  }
  ~buffers() {
    for (void* p : all) cudaFree(p);
  }
};

//! µs per launch of `layers` launches of `kernel` as `cfg` says, replayed from a captured graph.
float time_launches(const product& pr, buffers& b, const ctg::gemv_config& cfg, cudaStream_t st) {
  cudaGraph_t graph = nullptr;
  BENCH_CHECK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
  for (int l = 0; l < pr.layers; ++l) {
    ctg::skinny_matmul_args args;
    const std::size_t parts = pr.parts.size();
    args.a = b.a, args.w = b.w[l * parts], args.out = b.out[l * parts];
    args.m = 1, args.n = pr.parts[0], args.k = pr.k, args.w_fixed = true;
    args.residual = pr.residual ? b.residual : nullptr;
    if (pr.prologue == ctg::gemv_prologue::norm) args.norm_weight = b.g, args.norm_eps = 1e-5f;
    if (pr.prologue == ctg::gemv_prologue::gated) args.gated = b.u;
    for (std::size_t j = 1; j < parts; ++j) args.siblings[j - 1] = {b.w[l * parts + j], b.out[l * parts + j], pr.parts[j]};
    args.sibling_count = int(parts) - 1;
    BENCH_CHECK(ctg::launch_gemv(args, cfg, st, l > 0));
  }
  BENCH_CHECK(cudaStreamEndCapture(st, &graph));
  cudaGraphExec_t exec = nullptr;
  BENCH_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  cudaEvent_t e0, e1;
  BENCH_CHECK(cudaEventCreate(&e0));
  BENCH_CHECK(cudaEventCreate(&e1));
  for (int i = 0; i < 5; ++i) BENCH_CHECK(cudaGraphLaunch(exec, st));
  std::vector<float> trial;
  for (int t = 0; t < 5; ++t) {
    BENCH_CHECK(cudaEventRecord(e0, st));
    for (int i = 0; i < 20; ++i) BENCH_CHECK(cudaGraphLaunch(exec, st));
    BENCH_CHECK(cudaEventRecord(e1, st));
    BENCH_CHECK(cudaEventSynchronize(e1));
    float ms = 0;
    BENCH_CHECK(cudaEventElapsedTime(&ms, e0, e1));
    trial.push_back(ms * 1000.f / (20.f * float(pr.layers)));
  }
  cudaEventDestroy(e0), cudaEventDestroy(e1);
  cudaGraphExecDestroy(exec), cudaGraphDestroy(graph);
  std::sort(trial.begin(), trial.end());
  return trial[trial.size() / 2];
}

//! Layer 0's outputs, all products, as floats.
std::vector<float> outputs(const product& pr, const buffers& b) {
  std::vector<float> all;
  for (std::size_t j = 0; j < pr.parts.size(); ++j) {
    std::vector<T> h(std::size_t(pr.parts[j]));
    BENCH_CHECK(cudaMemcpy(h.data(), b.out[j], h.size() * sizeof(T), cudaMemcpyDeviceToHost));
    for (T x : h) all.push_back(__bfloat162float(x));
  }
  return all;
}

std::string run_product(const product& pr, cudaStream_t st) {
  buffers b;
  unsigned seed = 1;
  for (int l = 0; l < pr.layers; ++l)
    for (int n : pr.parts) {
      b.w.push_back(b.alloc(std::size_t(n) * std::size_t(pr.k) * 2, seed++));
      b.out.push_back(b.alloc(std::size_t(n) * 2, seed++));
    }
  b.a = b.alloc(std::size_t(pr.k) * 2, 901), b.u = b.alloc(std::size_t(pr.k) * 2, 902), b.g = b.alloc(std::size_t(pr.k) * 2, 903);
  b.residual = b.alloc(std::size_t(pr.n) * 2, 904);
  const double w_bytes = double(pr.n) * double(pr.k) * 2;
  int sms = 0;
  BENCH_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));

  ctg::gemv_config chosen;
  BENCH_CHECK(ctg::configure_gemv(chosen, ctg::dtype_id::bf16, 1, pr.n, pr.k, pr.prologue));
  const float chosen_us = time_launches(pr, b, chosen, st);
  const std::vector<float> expect = outputs(pr, b);
  std::ostringstream o;
  o << "  \"" << pr.name << "\": {\"n\": " << pr.n << ", \"k\": " << pr.k << ", \"w_mb\": " << number(w_bytes / 1e6) << ", \"chosen\": {\"warps\": "
    << chosen.warps << ", \"warps_k\": " << chosen.warps_k << ", \"rows_per_warp\": " << chosen.rows_per_warp << ", \"blocks\": " << chosen.blocks
    << ", \"us\": " << number(chosen_us) << ", \"tb_s\": " << number(w_bytes / chosen_us / 1e6) << "},\n   \"sweep\": [";
  float best_us = chosen_us;
  std::string best = "chosen";
  bool first = true;
  for (const variant& v : variants_for(pr.prologue)) {
    int per_sm_max = 0;
    for (int warps : {4, 8, 16})
      for (int warps_k = 1; warps_k <= warps; warps_k *= 2) {
        ctg::gemv_config cfg;
        cfg.kernel = v.kernel, cfg.rows = 1, cfg.rows_per_warp = v.rows_per_warp, cfg.warps = warps, cfg.warps_k = warps_k;
        if (pr.k / 8 < 32 * warps_k / 2) continue;  // fewer than 16 lanes' pieces per warp
        bool fits = true;
        for (int n : pr.parts) fits = fits && n % cfg.rows_per_warp == 0;
        if (!fits) continue;
        int per_sm = 0;
        BENCH_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, cfg.kernel, warps * 32, 0));
        per_sm_max = std::max(per_sm_max, per_sm * warps);
        if (per_sm < 1) continue;
        const int groups = pr.n / cfg.rows_per_warp, per_block = warps / warps_k;
        cfg.blocks = (groups + per_block - 1) / per_block;
        BENCH_CHECK(cudaMemset(b.out[0], 0, std::size_t(pr.parts[0]) * 2));
        const float us = time_launches(pr, b, cfg, st);
        const std::vector<float> got = outputs(pr, b);
        double max_err = 0;
        for (std::size_t i = 0; i < got.size(); ++i) max_err = std::max(max_err, double(std::fabs(got[i] - expect[i])));
        if (us < best_us && max_err < 0.05) best_us = us, best = v.name + "_w" + std::to_string(warps) + "_k" + std::to_string(warps_k);
        o << (first ? "\n" : ",\n") << "    {\"kernel\": \"" << v.name << "\", \"warps\": " << warps << ", \"warps_k\": " << warps_k
          << ", \"blocks\": " << cfg.blocks << ", \"waves\": " << number(double(cfg.blocks) / (double(per_sm) * sms)) << ", \"us\": " << number(us)
          << ", \"tb_s\": " << number(w_bytes / us / 1e6) << ", \"max_abs_diff\": " << number(max_err) << "}";
        first = false;
      }
  }
  o << "],\n   \"best\": \"" << best << "\", \"best_us\": " << number(best_us) << "}";
  summary[std::string("gemv.") + pr.name + ".tb_s"] = number(w_bytes / chosen_us / 1e6);
  summary[std::string("gemv.") + pr.name + ".best_tb_s"] = number(w_bytes / best_us / 1e6);
  std::fprintf(stderr, "%-10s chosen %6.2f us (%.2f TB/s, %d warps, split %d, %d rows/warp)  best %6.2f us %s\n", pr.name, chosen_us,
               w_bytes / chosen_us / 1e6, chosen.warps, chosen.warps_k, chosen.rows_per_warp, best_us, best.c_str());
  return o.str();
}

std::string run_bench(cudaStream_t st) {
  using ctg::gemv_prologue;
  const product products[] = {
      {"qkv_proj", 2560, {2048, 256, 256}, 2048, gemv_prologue::norm, false, 22},
      {"o_proj", 2048, {2048}, 2048, gemv_prologue::none, true, 22},
      {"gate_up_proj", 11264, {5632, 5632}, 2048, gemv_prologue::norm, false, 22},
      {"down_proj", 2048, {2048}, 5632, gemv_prologue::gated, true, 22},
      {"logits", 32000, {32000}, 2048, gemv_prologue::norm, false, 4},
  };
  std::ostringstream o;
  o << " \"model\": \"the gemv on a Llama-style decode step's products (TinyLlama-1.1B shape, bf16, batch 1), one launch per layer, PDL\",\n";
  bool first = true;
  for (const product& pr : products) o << (first ? "" : ",\n") << run_product(pr, st), first = false;
  return o.str();
}

}  // namespace bench

int main(int argc, char** argv) { return bench_harness::bench_main("gemv_bench", argc, argv, bench::summary, bench::run_bench); }
