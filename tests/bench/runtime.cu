// runtime_bench: ctgraph's executor on one GPU. Prints one JSON object on stdout (progress on
// stderr); exits 77 where no GPU is present. `--summary PATH` also merges
// "<workload>.ctgraph.<metric>" into PATH (tests/bench/results/summary.json).
// The hand-written baselines of the same workloads are tests/bench/runtime_baseline.cu (plain
// CUDA and cuBLASLt, no ctgraph); both print the same workload names, and an output hash of the
// same pseudo-random inputs, so they can be compared.
//
// Workloads:  mlp16 / mlp4096  8 x (bf16 matmul [T,4096]x[4096,4096] -> relu), T = 16 / 4096
//             ew64             64 f32 elementwise kernels on 1M floats (relu, scale 1/2,
//                              add of the previous-but-one tensor, gelu)
//             roundtrip        f32 matmul [16,1024]x[1024,1024] -> to_host -> host op (square)
//                              -> to_device -> matmul
//             branches4        4 independent bf16 matmuls [16,4096]x[4096,1024] feeding one sum
//                              (one fused kernel); branches4_k1024: [16,1024]x[1024,1024]
// Variant:    ctgraph     executor::run(). Every matmul sits in a captured partition, so its
//                         cuBLASLt heuristic is queried once, at capture, not per run. ew64's
//                         64 nodes are one fused group (one kernel).
//             ctgraph_no_pdl  mlp16 with CTGRAPH_PDL=0: the skinny matmul (where chosen) never
//                         launched as a programmatic dependent of the kernel before it.
//             ctgraph_unfused  ew64 planned with plan_options{.fuse = false}: one kernel per node.
//             ctgraph_fast_math  ew64 fused with plan_options{.fast_math = true} (gelu's tanh.approx).
//             ctgraph_serial  branches4 planned with plan_options{.branches = 1}: the products one
//                         after another, as the schedule orders them (`<name>.speedup` = serial / parallel).
// Timing, inputs, JSON and the summary: tests/bench/harness.hpp, shared with runtime_baseline.
// Also: instantiate time of run-time-built chains of 64 ... 4096 nodes.
#include <ctgraph/runtime.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../models.hpp"
#include "../runtime/gpu_util.hpp"
#include "harness.hpp"

namespace bench {
using namespace ctg;
using namespace bench_harness;

// ---------------------------------------------------------------------------------------------
// Workloads as types
// ---------------------------------------------------------------------------------------------
constexpr std::int64_t hidden = 4096;
constexpr std::size_t mlp_layers = 8;

template <std::int64_t Tokens>
struct mlp {
  using x = input<"x", bf16, shape<Tokens, hidden>>;
  using model = graph<repeat<mlp_layers, test_models::mlp<bf16, hidden>::layer, x>>;
};

constexpr std::int64_t ew_elements = std::int64_t{1} << 20;
constexpr std::size_t ew_steps = 64;
using ew_x = input<"x", f32, shape<ew_elements>>;

using ew_model = graph<repeat<ew_steps, test_models::ew_step, ew_x>>;

constexpr std::int64_t rt_m = 16, rt_k = 1024;
struct square_on_host {
  void operator()(const host_args& a) const {
    const float* in = a.input<float>(0);
    float* out = a.out<float>();
    const std::int64_t n = a.output_desc.elements();  // once: as the baseline's constant bound
    for (std::int64_t i = 0; i < n; ++i) out[i] = in[i] * in[i];
  }
};
using rt_x = input<"x", f32, shape<rt_m, rt_k>>;
using rt_w = parameter<"w", f32, shape<rt_k, rt_k>>;
using rt_model = graph<test_models::round_trip<rt_x, rt_w, square_on_host>::m1>;

// ---------------------------------------------------------------------------------------------
// One workload: run once and describe the output, then time
// ---------------------------------------------------------------------------------------------
using test::device_buffer;  // cudaMalloc: 256-byte aligned

entries summary;

template <std::size_t N>
std::string bench_workload(const char* name, executor<N>& ex, cudaStream_t st, std::string_view output, int k,
                           const char* variant = "ctgraph") {
  const plan<N>& p = ex.plan_of();
  const int out_index = p.index_of(output);
  if (out_index < 0) throw runtime_error(output, "bench", "no output of this name");
  const tensor_desc out_desc = p.node(out_index).out;
  CTG_CHECK("bench", cudaMemsetAsync(ex.data(output), 0, out_desc.bytes(), st));
  ex.run();
  CTG_CHECK("bench", cudaStreamSynchronize(st));
  const std::string out = describe_output(ex.data(output), out_desc.bytes(), out_desc.dtype == dtype_id::bf16);
  std::fprintf(stderr, "[%s] %s\n", name, variant);
  const timing t = measure(st, k, [&] { ex.run(); });
  std::fprintf(stderr, "[%s] gpu_us %s %.2f\n", name, variant, t.gpu_us);
  summarise(summary, name, variant, t);
  std::ostringstream o;
  o << "{\"runs_per_trial\": " << k << ", \"steps\": " << p.step_count() << ", \"partitions\": " << p.partition_count()
    << ", \"fused_groups\": " << p.fused_group_count() << ", \"kernels\": " << p.step_count() - p.fused_node_count()
    << ",\n     \"" << variant << "\": " << to_json(t) << ",\n     " << out << "}";
  return o.str();
}

//! `variant` "ctgraph_no_pdl": instantiated with CTGRAPH_PDL=0.
template <std::int64_t Tokens>
std::string bench_mlp(const char* name, cudaStream_t st, int k, const char* variant = "ctgraph") {
  const std::size_t nx = std::size_t(Tokens) * hidden, nw = std::size_t(hidden) * hidden;
  device_buffer x(nx * 2), w(nw * mlp_layers * 2);
  upload_random_bf16(x.p, nx, 7, 1.f);
  upload_random_bf16(w.p, nw * mlp_layers, 11, 0.03f);
  auto* dw = w.at<__nv_bfloat16>(0);
  const bool no_pdl = std::string_view(variant) == "ctgraph_no_pdl";
  if (no_pdl) setenv("CTGRAPH_PDL", "0", 1);  // read when the executor prepares its matmuls
  auto ex = instantiate<typename mlp<Tokens>::model>(
      st, {bind("x", x.at<__nv_bfloat16>(0), nx), bind("w0", dw, nw), bind("w1", dw + nw, nw), bind("w2", dw + 2 * nw, nw),
           bind("w3", dw + 3 * nw, nw), bind("w4", dw + 4 * nw, nw), bind("w5", dw + 5 * nw, nw),
           bind("w6", dw + 6 * nw, nw), bind("w7", dw + 7 * nw, nw)});
  if (no_pdl) unsetenv("CTGRAPH_PDL");
  const matmul_state* m0 = nullptr;  // y0 where h0 runs with its relu as the epilogue, else h0
  for (const char* node : {"y0", "h0"}) {
    try {
      if (!m0) m0 = &ex.template prepared_state<matmul_state>(node);
    } catch (const runtime_error&) {
    }
  }
  if (!m0) throw runtime_error("h0", "bench", "no matmul state");
  const matmul_state& m = *m0;
  std::fprintf(stderr, "[%s] %s: y0 runs %s (%s; gemv %.2f us, skinny %.2f us, cuBLASLt %.2f us, PDL %d)\n", name, variant,
               std::string(name_of(m.kernel)).c_str(), m.reason, m.gemv_us, m.skinny_us, m.cublaslt_us, int(m.programmatic));
  return bench_workload(name, ex, st, "y7", k, variant);
}

std::string bench_ew(cudaStream_t st, int k) {
  device_buffer x(std::size_t(ew_elements) * 4);
  upload_random_f32(x.p, std::size_t(ew_elements), 5, 1.f);
  // The plan fuses the 64 nodes into one kernel; without fusion, one kernel per node.
  auto fused = instantiate<ew_model>(st, {bind("x", x.at<float>(0), std::size_t(ew_elements))});
  const std::string on = bench_workload("ew64", fused, st, "e63", k);
  auto unfused = instantiate<ew_model, plan_options{.fuse = false}>(st, {bind("x", x.at<float>(0), std::size_t(ew_elements))});
  const std::string off = bench_workload("ew64", unfused, st, "e63", k, "ctgraph_unfused");
  // Opt-in approximate math (gelu's one-instruction tanh), fused.
  auto fast = instantiate<ew_model, plan_options{.fast_math = true}>(st, {bind("x", x.at<float>(0), std::size_t(ew_elements))});
  const std::string approx = bench_workload("ew64", fast, st, "e63", k, "ctgraph_fast_math");
  return "{\"fused\": " + on + ",\n   \"unfused\": " + off + ",\n   \"fast_math\": " + approx + "}";
}

//! Four independent products: parallel branches of one captured graph against the same plan in
//! schedule order.
template <std::int64_t K, std::int64_t N>
std::string bench_branches(const char* name, cudaStream_t st, int k) {
  using m = graph<typename test_models::branches<K, N>::sum>;
  const std::size_t nx = std::size_t(16 * K), nw = std::size_t(K * N);
  device_buffer x(nx * 2), w(nw * 4 * 2);
  upload_random_bf16(x.p, nx, 13, 1.f);
  upload_random_bf16(w.p, nw * 4, 17, 0.03f);
  auto* dw = w.at<__nv_bfloat16>(0);
  const std::vector<binding> bound{bind("x", x.at<__nv_bfloat16>(0), nx), bind("w1", dw, nw), bind("w2", dw + nw, nw),
                                   bind("w3", dw + 2 * nw, nw), bind("w4", dw + 3 * nw, nw)};
  auto parallel = instantiate<m>(st, bound);
  auto serial = instantiate<m, plan_options{.branches = 1}>(st, bound);
  const std::string par = bench_workload(name, parallel, st, "sum", k);
  const std::string ser = bench_workload(name, serial, st, "sum", k, "ctgraph_serial");
  const double speedup = std::stod(summary[std::string(name) + ".ctgraph_serial.gpu_us"]) / std::stod(summary[std::string(name) + ".ctgraph.gpu_us"]);
  summary[std::string(name) + ".speedup"] = number(speedup);
  std::fprintf(stderr, "[%s] parallel branches %.2fx the serial chain\n", name, speedup);
  return "{\"branches\": " + std::to_string(parallel.plan_of().branch_count()) + ", \"speedup\": " + number(speedup) +
         ",\n   \"parallel\": " + par + ",\n   \"serial\": " + ser + "}";
}

std::string bench_round_trip(cudaStream_t st, int k) {
  device_buffer x(std::size_t(rt_m * rt_k) * 4), w(std::size_t(rt_k * rt_k) * 4);
  upload_random_f32(x.p, std::size_t(rt_m * rt_k), 3, 1.f);
  upload_random_f32(w.p, std::size_t(rt_k * rt_k), 13, 0.05f);
  auto ex = instantiate<rt_model>(st, {bind("x", x.at<float>(0), std::size_t(rt_m * rt_k)),
                                       bind("w", w.at<float>(0), std::size_t(rt_k * rt_k))});
  return bench_workload("roundtrip", ex, st, "m1", k);
}

// ---------------------------------------------------------------------------------------------
// Instantiation of run-time-built graphs
// ---------------------------------------------------------------------------------------------
constexpr std::size_t builder_capacity = 4200;
constexpr std::int64_t chain_elements = 64 * 1024;

std::string bench_instantiate(cudaStream_t st) {
  device_buffer x(std::size_t(chain_elements) * 4);
  upload_random_f32(x.p, std::size_t(chain_elements), 9, 1.f);
  std::ostringstream o;
  o << "[";
  bool first = true;
  for (int n : {64, 256, 1024, 4096}) {
    std::fprintf(stderr, "[instantiate] %d nodes\n", n);
    auto b = std::make_unique<graph_builder<builder_capacity>>();  // large: on the heap
    int prev = b->input("x", tensor_desc{dtype_id::f32, 1, {chain_elements}});
    std::vector<int> relus, scales;  // a run-time graph has no types: its hooks are given by node
    for (int i = 0; i < n; ++i) {
      std::string node_name = "n" + std::to_string(i);
      prev = i % 2 == 0 ? b->add<ops::relu>(node_name, {prev}) : b->add<ops::scale<1, 2>>(node_name, {prev});
      (i % 2 == 0 ? relus : scales).push_back(prev);
    }
    b->output(prev);
    const auto t0 = clock_type::now();
    auto p = std::make_unique<owned_plan<builder_capacity>>(b->build());
    const auto t1 = clock_type::now();
    if (!p->ok()) throw runtime_error("instantiate", "graph_builder", "the chain was rejected");
    std::vector<double> ms;
    for (int rep = 0; rep < 3; ++rep) {
      CTG_CHECK("bench", cudaDeviceSynchronize());
      const auto a = clock_type::now();
      {
        std::vector<node_hook> hooks(std::size_t(p->tensor_count()));
        for (int v : relus) hooks[std::size_t(v)] = hook_of<ops::relu>();
        for (int v : scales) hooks[std::size_t(v)] = hook_of<ops::scale<1, 2>>();
        executor<builder_capacity> ex(*p, std::move(hooks), st, {bind("x", x.at<float>(0), std::size_t(chain_elements))});
        const auto z = clock_type::now();
        ms.push_back(us_since(a, z) / 1000.0);
        if (rep == 0) {  // it runs
          ex.run();
          CTG_CHECK("bench", cudaStreamSynchronize(st));
        }
      }
    }
    summary["instantiate_" + std::to_string(n) + ".ctgraph.ms"] = number(median(ms));
    o << (first ? "" : ", ") << "{\"nodes\": " << n << ", \"ms\": " << number(median(ms))
      << ", \"plan_ms\": " << number(us_since(t0, t1) / 1000.0) << "}";
    first = false;
  }
  o << "]";
  return o.str();
}

//! The memory roofline of mlp16: the bytes it must move (8 weights, x, each layer's output written
//! and read) at the device-to-device copy bandwidth measured here (read + write bytes per second).
std::string bench_roofline(cudaStream_t st) {
  const std::size_t bytes = std::size_t{512} << 20;
  device_buffer a(bytes), b(bytes);
  cudaEvent_t e0, e1;
  CTG_CHECK("bench", cudaEventCreate(&e0));
  CTG_CHECK("bench", cudaEventCreate(&e1));
  float best = 1e30f;
  for (int trial = 0; trial < 6; ++trial) {
    CTG_CHECK("bench", cudaEventRecord(e0, st));
    for (int r = 0; r < 10; ++r) CTG_CHECK("bench", cudaMemcpyAsync(b.p, a.p, bytes, cudaMemcpyDeviceToDevice, st));
    CTG_CHECK("bench", cudaEventRecord(e1, st));
    CTG_CHECK("bench", cudaEventSynchronize(e1));
    float ms = 0;
    CTG_CHECK("bench", cudaEventElapsedTime(&ms, e0, e1));
    if (trial > 0) best = std::min(best, ms / 10);  // the first warms up
  }
  cudaEventDestroy(e0), cudaEventDestroy(e1);
  const double tb_s = 2.0 * double(bytes) / (double(best) * 1e-3) / 1e12;
  const double mlp16_bytes = double(mlp_layers) * double(hidden) * double(hidden) * 2 + double(16 * hidden * 2) * (1 + 2 * mlp_layers);
  const double roofline_us = mlp16_bytes / (tb_s * 1e12) * 1e6;
  std::fprintf(stderr, "[roofline] device-to-device copy %.3f TB/s; mlp16 moves %.1f MB: %.2f us\n", tb_s, mlp16_bytes / 1e6, roofline_us);
  summary["copy.d2d.tb_s"] = number(tb_s);
  summary["mlp16.roofline.gpu_us"] = number(roofline_us);
  std::ostringstream o;
  o << "{\"copy_tb_s\": " << tb_s << ", \"mlp16_bytes\": " << mlp16_bytes << ", \"mlp16_roofline_us\": " << roofline_us << "}";
  return o.str();
}

}  // namespace bench

int main(int argc, char** argv) {
  using namespace bench;
  // `--only NAME`: that workload alone (mlp16, mlp16_no_pdl, mlp4096, ew64, roundtrip, branches4,
  // branches4_k1024, instantiate, roofline), e.g. to sweep an environment variable over it.
  const std::string only = flag_value(argc, argv, "--only");
  return bench_main("runtime_bench", argc, argv, summary, [&](cudaStream_t st) {
    std::string workloads, rest;
    const auto add = [&](std::string& to, const char* name, auto&& bench) {
      if (!only.empty() && only != name) return;
      const std::string j = bench();
      to += (to.empty() ? "" : ",\n  ") + std::string("\"") + name + "\": " + j;
    };
    add(workloads, "mlp16", [&] { return bench_mlp<16>("mlp16", st, 200); });
    add(workloads, "mlp16_no_pdl", [&] { return bench_mlp<16>("mlp16", st, 200, "ctgraph_no_pdl"); });
    add(workloads, "mlp4096", [&] { return bench_mlp<4096>("mlp4096", st, 20); });
    add(workloads, "ew64", [&] { return bench_ew(st, 200); });
    add(workloads, "roundtrip", [&] { return bench_round_trip(st, 200); });
    add(workloads, "branches4", [&] { return bench_branches<4096, 1024>("branches4", st, 200); });
    add(workloads, "branches4_k1024", [&] { return bench_branches<1024, 1024>("branches4_k1024", st, 200); });
    add(rest, "instantiate", [&] { return bench_instantiate(st); });
    add(rest, "roofline", [&] { return bench_roofline(st); });
    return " \"workloads\": {\n  " + workloads + "}" + (rest.empty() ? "" : ",\n " + rest);
  });
}
